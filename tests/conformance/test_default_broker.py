"""No ``broker_url``: the embedded SQLite file, its directory created, one log line saying where;
one file per app name, so two projects on one machine do not share queues."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import celeriac.app as app_module
from celeriac import Celeriac


def test_default_is_embedded_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "not" / "yet" / "there" / "celeriac.db"
    monkeypatch.setattr(app_module, "DEFAULT_SQLITE_PATH", str(path))
    monkeypatch.setattr(app_module, "_announced", set())
    for name in ("CELERIAC_BROKER_URL", "CELERIAC_RESULT_BACKEND", "CELERIAC_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    app = Celeriac("default-broker", set_as_current=False)
    path = path.parent / "default-broker.db"
    other = Celeriac("other-project", set_as_current=False)
    unnamed = Celeriac(set_as_current=False)
    try:
        assert app.broker_url == f"sqlite:///{path}"
        assert other.broker_url == f"sqlite:///{path.parent / 'other-project.db'}"
        assert unnamed.broker_url == f"sqlite:///{path.parent / 'celeriac.db'}"
        with caplog.at_level(logging.INFO, logger="celeriac.app"):
            broker = app.broker
        assert type(broker).__name__ == "SQLiteBackend"
        assert str(path) in caplog.text and "embedded SQLite" in caplog.text
        assert path.parent.is_dir(), "the directory is created"
        assert broker.known_queues() == [] and path.exists()
        assert app.backend is broker
    finally:
        app.close()
        other.close()
        unnamed.close()
