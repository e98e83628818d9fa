"""Celery's signals, with Celery's keyword arguments (docs/celery-compat.md, "Signals"):
publish signals in the producer, task signals in the worker, life-cycle signals in a real
``celeriac worker`` process (a receiver in the app writes what it got to a file)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from celeriac import signals, states
from celeriac.request import Context
from helpers import wait_for


def test_publish_signals_see_the_message_and_may_add_headers(make_app: Any, worker: Any) -> None:
    app = make_app()
    got: list[tuple[str, dict[str, Any]]] = []

    @app.task(name="t.echo_headers", bind=True)
    def echo_headers(self: Any) -> Any:
        return (self.request.headers or {}).get("trace")

    def before(sender: Any, body: Any, exchange: Any, routing_key: Any, headers: Any, properties: Any,
               declare: Any, retry_policy: Any, **_: Any) -> None:
        headers["trace"] = "abc"  # what tracing libraries do
        got.append(("before", {"sender": sender, "id": body["id"], "routing_key": routing_key}))

    def after(sender: Any, body: Any, exchange: Any, routing_key: Any, headers: Any, **_: Any) -> None:
        got.append(("after", {"sender": sender, "id": body["id"], "trace": headers.get("trace")}))

    signals.before_task_publish.connect(before)
    signals.after_task_publish.connect(after)
    try:
        r = echo_headers.delay()
    finally:
        signals.before_task_publish.disconnect(before)
        signals.after_task_publish.disconnect(after)
    assert got == [("before", {"sender": "t.echo_headers", "id": r.id, "routing_key": "default"}),
                   ("after", {"sender": "t.echo_headers", "id": r.id, "trace": "abc"})]
    worker(app)
    assert r.get(timeout=10) == "abc"


def test_task_received_unknown_rejected_revoked(make_app: Any, worker: Any) -> None:
    app = make_app()
    got: list[tuple[str, Any]] = []

    @app.task(name="t.plain")
    def plain() -> int:
        return 1

    receivers = {
        signals.task_received: lambda sender, request, **_: got.append(
            ("received", (type(request) is Context, request.id))),
        signals.task_unknown: lambda sender, name, id, message, exc, **_: got.append(
            ("unknown", (name, id, type(exc).__name__))),
        signals.task_rejected: lambda sender, message, exc, **_: got.append(("rejected", message.task_id)),
        signals.task_revoked: lambda sender, request, terminated, signum, expired, **_: got.append(
            ("revoked", (getattr(sender, "name", None), request.id, terminated, expired))),
    }
    for sig, fn in receivers.items():
        sig.connect(fn)
    try:
        ok = plain.delay()
        unknown = app.send_task("t.nobody_has_it")
        revoked = plain.apply_async(countdown=0.5)
        app.control.revoke(revoked.id)
        expired = plain.apply_async(expires=0.01)
        time.sleep(0.05)
        worker(app)
        assert ok.get(timeout=10) == 1
        wait_for(lambda: revoked.state == states.REVOKED and expired.state == states.REVOKED, timeout=15,
                 what="revoked and expired tasks recorded")
        wait_for(lambda: unknown.state == states.REJECTED, timeout=10, what="unknown task rejected")
    finally:
        for sig, fn in receivers.items():
            sig.disconnect(fn)
    assert ("received", (True, ok.id)) in got
    assert ("unknown", ("t.nobody_has_it", unknown.id, "NotRegistered")) in got
    assert ("rejected", unknown.id) in got
    assert ("revoked", ("t.plain", revoked.id, False, False)) in got
    assert ("revoked", ("t.plain", expired.id, False, True)) in got


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize("pool", ["threads", "prefork"])
def test_worker_lifecycle_signals(cli_worker: Any, tmp_path: Path, pool: str) -> None:
    log = tmp_path / "signals.log"
    w = cli_worker("-A", "signalapp", "worker", "-P", pool, "-c", "2", env={"SIGNAL_LOG": str(log)})
    wait_for(lambda: any(x.startswith("worker_ready") for x in _lines(log)), timeout=30, what="worker_ready")
    if pool == "prefork":
        wait_for(lambda: sum(x.startswith("worker_process_init") for x in _lines(log)) == 2, timeout=30,
                 what="worker_process_init in both children")
    w.signal(signal.SIGTERM)
    assert w.wait(30) == 0, w.output.decode()
    lines = _lines(log)
    names = [x.split()[0] for x in lines]
    main_pid = f"pid={w.proc.pid}"
    assert names[0] == "setup_logging", lines
    assert names[1:4] == ["celeryd_init", "worker_init", "celeryd_after_setup"], lines
    assert f"pool={pool}" in lines[1] and "conf=Settings" in lines[1] and "sender=celeriac@" in lines[1]
    assert names.count("worker_process_init") == (2 if pool == "prefork" else 1)
    assert all("sender=None" in x for x in lines if x.startswith("worker_process_init"))
    shutting = [x for x in lines if x.startswith("worker_shutting_down")]
    assert len(shutting) == 1 and "sig=SIGTERM" in shutting[0] and "how=Warm" in shutting[0], lines
    assert main_pid in shutting[0] and "exitcode=0" in shutting[0]
    assert names[-1] == "worker_shutdown" and main_pid in lines[-1], lines
    assert names.count("worker_ready") == 1
    ends = [x for x in lines if x.startswith("worker_process_shutdown")]
    assert len(ends) == (2 if pool == "prefork" else 1) and all("exitcode=0" in x for x in ends), lines


def test_beat_init(make_app: Any) -> None:
    from beat_helpers import BeatThread

    app = make_app()
    got: list[Any] = []
    fn = signals.beat_init.connect(lambda sender, **_: got.append(type(sender).__name__))
    try:
        beat = BeatThread(app)
        try:
            wait_for(lambda: got, timeout=10, what="beat_init")
        finally:
            beat.stop()
    finally:
        signals.beat_init.disconnect(fn)
    assert got == ["Beat"]
