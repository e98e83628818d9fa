"""What a worker needs to run as a daemon the Celery way: ``--detach``, ``--pidfile`` and
``--autoscale=MAX,MIN`` parsing (also used by ``celeriac multi``).

Why it exists: keeps process-management details (double fork, pid files that refuse a live
process and replace a stale one) out of the command functions. What it must not do: know
about tasks or the broker.
"""

from __future__ import annotations

import contextlib
import os
import sys

from celeriac.errors import ConfigurationError


def parse_autoscale(value: str) -> tuple[int, int]:
    """Celery's ``MAX[,MIN]``: ``"10,3"`` -> ``(3, 10)`` as (min, max); ``"10"`` -> ``(1, 10)``."""
    parts = [p.strip() for p in value.split(",") if p.strip()]
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise ConfigurationError(f"--autoscale must be MAX,MIN (integers), got {value!r}") from None
    if not 1 <= len(numbers) <= 2:
        raise ConfigurationError(f"--autoscale must be MAX,MIN, got {value!r}")
    high = numbers[0]
    low = numbers[1] if len(numbers) == 2 else 1
    low, high = min(low, high), max(low, high)
    if low < 1:
        raise ConfigurationError(f"--autoscale: at least one child is needed, got {value!r}")
    return low, high


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PidFile:
    """A pid file: refuses to start when it names a live process, replaces a stale one,
    removed on exit (only if it still holds this process's pid)."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)

    def read(self) -> int | None:
        try:
            with open(self.path, encoding="ascii") as fh:
                return int(fh.read().strip() or 0) or None
        except (OSError, ValueError):
            return None

    def acquire(self) -> None:
        other = self.read()
        if other is not None and other != os.getpid() and _alive(other):
            raise ConfigurationError(f"pid file {self.path} names a running process ({other}): "
                                     "is this worker already running?")
        directory = os.path.dirname(self.path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        tmp = f"{self.path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write(f"{os.getpid()}\n")
        os.replace(tmp, self.path)

    def release(self) -> None:
        if self.read() == os.getpid():
            with contextlib.suppress(OSError):
                os.unlink(self.path)


def detach(logfile: str | None, pidfile: str | None) -> None:
    """Become a daemon (double fork, new session, stdio to ``logfile`` or /dev/null); the
    parent returns to the shell at once with exit code 0."""
    if pidfile:
        other = PidFile(pidfile).read()
        if other is not None and _alive(other):
            raise ConfigurationError(f"pid file {os.path.abspath(pidfile)} names a running process ({other})")
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    sys.stdout.flush()
    sys.stderr.flush()
    null = os.open(os.devnull, os.O_RDWR)
    out = os.open(logfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) if logfile else null
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
