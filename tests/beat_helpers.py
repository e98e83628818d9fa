"""Helpers for the beat tests: run a beat in a thread, count what beats published.

Counting reads the queue streams directly (the published messages themselves), so a tick
fired twice shows up as two messages with the same ``beat_scheduled_for`` header.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import redis

from celeriac.beat import Beat

STREAM_SUFFIXES = ("", ":p3", ":p6", ":p9")


def published(redis_url: str, queue: str = "default") -> list[dict[str, Any]]:
    """Bodies of every message in ``queue``'s streams (JSON), oldest first per stream."""
    client = redis.Redis.from_url(redis_url)
    try:
        out = []
        for suffix in STREAM_SUFFIXES:
            for _eid, fields in client.xrange(f"celeriac:queue:{queue}{suffix}"):
                out.append(json.loads(fields[b"body"]))
        return out
    finally:
        client.close()


def ticks(redis_url: str, name: str, queue: str = "default") -> Counter[str]:
    """How many messages entry ``name`` published per scheduled tick."""
    counts: Counter[str] = Counter()
    for body in published(redis_url, queue):
        headers = body.get("headers") or {}
        if headers.get("beat_schedule") == name:
            counts[headers.get("beat_scheduled_for") or "run-now"] += 1
    return counts


class BeatThread:
    """A ``Beat`` running in a daemon thread of this process."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        kwargs.setdefault("lease_ttl_s", 3.0)
        kwargs.setdefault("renew_s", 0.5)
        self.beat = Beat(app, **kwargs)
        self.thread = threading.Thread(target=self.beat.run, name="beat", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.beat.stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "beat thread did not stop"
