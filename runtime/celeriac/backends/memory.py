"""The in-process transport (``memory://``): for unit tests and examples, NOT for production.

It is the SQLite transport's own code on an in-memory database, so it behaves exactly
like ``sqlite://`` (leases, redelivery, delays, priorities, dead letters, revocation,
result expiry) instead of being a second implementation that drifts. Every backend of
this process that names the same URL (``memory://`` or ``memory://name``) shares one
database, used under one lock; it vanishes when the last of them is closed. It cannot
cross ``fork()`` or processes: a prefork worker or a ``celeriac worker`` subprocess
cannot use it, and says so with a :class:`~celeriac.errors.BrokerError`.

Celery's eager mode is separate from this transport: with ``task_always_eager`` a
``delay()`` runs the task inline and returns an ``EagerResult`` without any broker.
"""

from __future__ import annotations

from celeriac.backends.sqlconn import FileConnections, MemoryConnections
from celeriac.backends.sqlite import SQLiteBackend
from celeriac.config import Settings


class MemoryBackend(SQLiteBackend):
    """Broker and result store in this process's memory (``memory://`` or ``memory://name``)."""

    def _connect(self, url: str, settings: Settings) -> FileConnections | MemoryConnections:
        name = url.split("://", 1)[1] if "://" in url else ""
        return MemoryConnections(name.strip("/") or "default")
