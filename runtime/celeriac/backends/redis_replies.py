"""What redis-py's replies are for celeriac's client: bytes, never str.

Why it exists: redis-py types every reply as ``bytes | str`` (``str`` when a client
decodes responses), plus ``None`` where a key or entry may be missing. celeriac's client
never decodes responses (``RedisBackend`` builds it), so replies are bytes; these
functions say so once, at no cost (``typing.cast``), instead of an ``Any`` client that
checks nothing. What it must not do: import ``redis`` at run time or talk to Redis.
"""

from __future__ import annotations

from typing import TypeAlias, cast

#: A stream entry: (entry id, fields).
Entry: TypeAlias = tuple[bytes, dict[bytes, bytes]]
#: An XREAD / XREADGROUP reply: (stream name, entries) per stream.
StreamRead: TypeAlias = list[tuple[bytes, list[Entry]]]


def entries(reply: object) -> list[Entry]:
    """An XRANGE / XREVRANGE reply."""
    return cast(list[Entry], reply) or []


def stream_read(reply: object) -> StreamRead:
    """An XREAD / XREADGROUP reply (empty when the wait timed out)."""
    return cast(StreamRead, reply) or []


def value(reply: object) -> bytes | None:
    """A GET-like reply: bytes, or None when the key is missing."""
    return cast("bytes | None", reply)


def members(reply: object) -> set[bytes]:
    """A SMEMBERS reply."""
    return cast(set[bytes], reply)


def mapping(reply: object) -> dict[bytes, bytes]:
    """A HGETALL reply."""
    return cast(dict[bytes, bytes], reply)


def values(reply: object) -> list[bytes | None]:
    """A MGET / HMGET reply."""
    return cast("list[bytes | None]", reply)
