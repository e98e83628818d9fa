"""Fixtures of the conformance suite: every test runs once per transport.

``transport_url`` is parametrized over ``redis`` (the suite's real redis-server),
``sentinel`` (the same transport through three sentinels to a primary with a replica:
tests/sentinel_helpers.py, ``master_name`` on the URL), ``sqlite`` (a file in the test's
tmp dir) and ``memory`` (a fresh in-process store per test). A test that only makes sense for some transports says so with
``@pytest.mark.parametrize("transport_url", [...], indirect=True)``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

TRANSPORTS = ("redis", "sentinel", "sqlite", "memory")  #: every transport the suite covers


def url_for(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "redis":
        return str(request.getfixturevalue("redis_url"))
    if kind == "sentinel":
        cluster = request.getfixturevalue("sentinel_cluster_shared")
        cluster.flush()
        return f"{cluster.url}?master_name={cluster.options['master_name']}"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'celeriac.db'}"
    return f"memory://conformance-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=TRANSPORTS)
def transport_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return url_for(request.param, request, tmp_path)


@pytest.fixture
def make_backend(transport_url: str) -> Iterator[Callable[..., Any]]:
    """``make_backend(**settings)``: a Backend for this transport (closed afterwards)."""
    from celeriac.backends import create
    from celeriac.config import Settings

    made: list[Any] = []

    def make(**settings: Any) -> Any:
        conf = Settings()
        for k, v in settings.items():
            setattr(conf, k, v)
        b = create(transport_url, conf)
        made.append(b)
        return b

    yield make
    for b in reversed(made):
        b.close()


@pytest.fixture
def backend(make_backend: Callable[..., Any]) -> Any:
    return make_backend()


@pytest.fixture
def make_conf_app(transport_url: str) -> Iterator[Callable[..., Any]]:
    """``make_conf_app(name, **settings)``: a Celeriac on this transport (closed afterwards)."""
    from celeriac import Celeriac

    apps: list[Any] = []

    def make(name: str = "conf", **settings: Any) -> Any:
        settings.setdefault("broker", transport_url)
        app = Celeriac(name, **settings)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()


@pytest.fixture
def read_events() -> Callable[[Any], list[dict[str, Any]]]:
    """``read_events(backend)``: the events a backend stored, oldest first."""
    return _read_events


def _read_events(backend: Any) -> list[dict[str, Any]]:
    """The events a backend stored, oldest first (each transport keeps them its own way)."""
    import json

    from celeriac.backends.redis import EVENTS_KEY, RedisBackend

    if isinstance(backend, RedisBackend):
        out = []
        from celeriac.backends.redis_observe import expand_entry

        for _id, fields in backend.client.xrange(EVENTS_KEY):
            for raw in expand_entry(fields):
                event: dict[str, Any] = {}
                for k, text in raw.items():
                    try:
                        event[k] = json.loads(text)
                    except ValueError:
                        event[k] = text
                out.append(event)
        return out
    return [e for _i, e in backend.read_events(0, 100_000)]
