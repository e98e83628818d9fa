"""Rate limits per task type (``rate_limit='100/s' | '10/m' | '1000/h'``): token buckets.

One bucket per task name per worker. A prefork worker's children each get their share
(the rate divided by the number of children), so the worker as a whole keeps the rate.
:meth:`RateLimiter.acquire` never blocks: it returns how long the caller must wait, and
the executor sends a task that must wait back to the delayed set with that ETA, so other
task types keep running. Pure: no I/O, no threads (callers hold no lock across it).
"""

from __future__ import annotations

import threading
import time

from celeriac.errors import ConfigurationError

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_rate(rate: str | float | int | None) -> float | None:
    """Tokens per second of ``'100/s'``, ``'10/m'``, ``'1000/h'`` or a plain number (per second).

    None, ``0`` or ``''`` mean no limit.
    """
    if rate is None or rate == "" or rate == 0:
        return None
    if isinstance(rate, int | float):
        return float(rate) if rate > 0 else None
    text = str(rate).strip()
    count, _, unit = text.partition("/")
    try:
        n = float(count)
    except ValueError:
        raise ConfigurationError(f"bad rate limit {rate!r}: use '<number>/s', '/m' or '/h'") from None
    unit = unit.strip() or "s"
    if unit not in UNITS:
        raise ConfigurationError(f"bad rate limit {rate!r}: the unit must be s, m or h")
    return n / UNITS[unit] if n > 0 else None


class TokenBucket:
    """``rate`` tokens per second, holding at most ``capacity`` (at least one)."""

    def __init__(self, rate: float, capacity: float | None = None) -> None:
        self.rate = rate
        self.capacity = max(1.0, capacity if capacity is not None else rate)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def take(self) -> float:
        """Take a token: 0.0 when granted, else seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class RateLimiter:
    """The buckets of one worker process."""

    def __init__(self, share: float = 1.0) -> None:
        self.share = share
        """This process's part of the worker's rate (1 / children for prefork)."""
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def acquire(self, name: str, rate: str | float | None) -> float:
        """0.0 if a ``name`` task may run now, else the seconds to wait."""
        per_s = parse_rate(rate)
        if per_s is None:
            return 0.0
        per_s *= self.share
        with self._lock:
            bucket = self._buckets.get(name)
            if bucket is None or bucket.rate != per_s:
                bucket = self._buckets[name] = TokenBucket(per_s, capacity=1.0)
            return bucket.take()
