"""Transports: one interface (:mod:`celeriac.backends.base`), one module per URL scheme.

:func:`create` picks the implementation from the URL and imports it lazily, so ``redis``
is only imported where a ``redis://`` URL is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from celeriac.errors import ConfigurationError

if TYPE_CHECKING:
    from celeriac.backends.base import Backend
    from celeriac.config import Settings


def create(url: str, settings: Settings, role: str = "broker") -> Backend:
    """The backend for ``url`` (``redis://``, ``rediss://``, ``unix://``, ``sentinel://``,
    ``sqlite://``, ``memory://``) as the broker or (``role="result"``) the result store:
    each role reads its own transport options."""
    scheme = url.split(":", 1)[0].lower()
    if scheme in ("redis", "rediss", "unix", "sentinel"):
        from celeriac.backends.redis import RedisBackend

        return RedisBackend(url, settings, role)
    if scheme == "sqlite":
        from celeriac.backends.sqlite import SQLiteBackend

        return SQLiteBackend(url, settings)
    if scheme == "memory":
        from celeriac.backends.memory import MemoryBackend

        return MemoryBackend(url, settings)
    raise ConfigurationError(f"setting 'broker_url': unsupported scheme {scheme!r} in {url!r}")
