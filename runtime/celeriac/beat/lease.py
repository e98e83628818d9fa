"""The beat leader lease: which replica may fire, and its fencing token.

Why it exists: several beat replicas run at once (Kubernetes runs two for availability);
exactly one must fire. The lease is a key with a TTL (``SET NX PX``), renewed by
compare-and-extend; each new leadership gets a larger fencing token (``INCR``). The token
is what makes it safe: every fire is a fenced commit that the broker refuses unless the
lease still holds this holder's token, so a leader paused past its TTL (GC, SIGSTOP, a
slow VM) that wakes up cannot fire. What it must not do: decide what to fire, or trust
its own clock over the broker (``is_leader`` is a hint; the fenced commit is the truth).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable

from celeriac.backends.base import Backend

logger = logging.getLogger(__name__)

#: Lease time to live: how long a dead leader blocks a takeover, at most.
DEFAULT_TTL_S = 4.0

#: How often the leader renews, and a follower tries to take the lease.
DEFAULT_RENEW_S = 1.0


def default_holder() -> str:
    """A holder id unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Lease:
    """Take, keep and give back the leader lease of one beat process."""

    def __init__(
        self,
        backend: Backend,
        *,
        holder: str | None = None,
        ttl_s: float = DEFAULT_TTL_S,
        renew_s: float = DEFAULT_RENEW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if renew_s >= ttl_s:
            raise ValueError(f"lease renewal ({renew_s}s) must be shorter than its ttl ({ttl_s}s)")
        self.backend = backend
        self.holder = holder or default_holder()
        self.ttl_s = ttl_s
        self.renew_s = renew_s
        self.clock = clock
        self.token: int | None = None
        self._valid_until = 0.0

    @property
    def fence(self) -> tuple[str, int] | None:
        """``(holder, token)`` to pass to fenced commits (None: not the leader)."""
        return (self.holder, self.token) if self.token is not None else None

    @property
    def is_leader(self) -> bool:
        """This process believes it leads (its last renewal has not expired locally)."""
        return self.token is not None and self.clock() < self._valid_until

    def refresh(self) -> bool:
        """Renew the lease if held, else try to take it. Returns whether this process leads."""
        started = self.clock()
        if self.token is not None:
            if self.backend.beat_renew(self.holder, self.token, self.ttl_s):
                self._valid_until = started + self.ttl_s
                return True
            logger.warning("beat lease lost (token %d): another beat leads now", self.token)
            self.token = None
        token = self.backend.beat_acquire(self.holder, self.ttl_s)
        if token is None:
            return False
        self.token = token
        self._valid_until = started + self.ttl_s
        logger.info("beat %s is the leader now (fencing token %d)", self.holder, token)
        return True

    def lost(self) -> None:
        """Forget the lease (a fenced commit was refused: someone else leads)."""
        if self.token is not None:
            logger.warning("beat %s was fenced off (token %d is stale)", self.holder, self.token)
        self.token = None

    def release(self) -> None:
        """Give the lease back at once (clean shutdown: the next leader takes over at once)."""
        if self.token is not None:
            try:
                self.backend.beat_release(self.holder, self.token)
            finally:
                self.token = None
