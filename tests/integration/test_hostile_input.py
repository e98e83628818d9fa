"""Hostile input (issue 16): whatever a stranger writes into Redis as docs/protocol.md
describes, that one message becomes a dead letter with a precise reason and a REJECTED
result, no task body runs twice, and the workers go on consuming.

Bad entries are written straight into the suite's real redis-server; each case runs on the
threads, asyncio and prefork pools (prefork as a real ``celeriac worker`` subprocess), and
the body-level cases on SQLite too.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from celeriac import states
from celeriac.errors import AuthenticationFailed, ConnectionLost, DecodeError, TaskError
from helpers import free_port, wait_for

POOLS = ("threads", "asyncio", "prefork")
Q = "default"
STREAM = f"celeriac:queue:{Q}"
DEAD = f"celeriac:dead:{Q}"


@pytest.fixture
def happ(redis_url: str) -> Iterator[Any]:
    """``tests/apps/hostileapp.py``, its app bound to the test Redis."""
    import hostileapp

    hostileapp.app.conf.broker_url = redis_url
    hostileapp.app.conf.worker_lease_timeout = 1.5
    hostileapp.app.close()
    yield hostileapp
    hostileapp.app.close()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture
def start(worker: Any, cli_worker: Any, happ: Any) -> Callable[..., Any]:
    """``start(pool, concurrency=2)``: a worker consuming ``default``, up and running."""

    def run(pool: str, concurrency: int = 2) -> Any:
        if pool == "prefork":
            w = cli_worker("-A", "hostileapp", "worker", "-P", "prefork", "-c", str(concurrency),
                           "-n", "hostile@test", env={"CELERIAC_WORKER_LEASE_TIMEOUT": "1.5"})
        else:
            w = worker(happ.app, pool=pool, concurrency=concurrency)
        return w

    return run


def body(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


def xadd(client: redis.Redis, task_id: str, raw: bytes, **extra: str) -> None:
    client.xadd(STREAM, {"id": task_id, "content-type": "application/json", "body": raw, **extra})


def dead(client: redis.Redis) -> dict[str, str]:
    """Dead letters by their entry's ``id`` field -> reason."""
    return {f.get(b"id", b"").decode(): f[b"reason"].decode() for _, f in client.xrange(DEAD)}


def good_task_completes(happ: Any, tag: str = "good", timeout: float = 30) -> None:
    """The workers still consume: a good task published after the bad ones completes."""
    assert happ.sink.delay(tag).get(timeout=timeout) == tag


def rejected(happ: Any, task_id: str, reason_part: str) -> None:
    """``.get()`` on a dead-lettered task raises at once (never waits for ever)."""
    r = happ.app.AsyncResult(task_id)
    wait_for(lambda: r.state == states.REJECTED, 10, what=f"REJECTED result of {task_id}")
    with pytest.raises(DecodeError) as info:
        r.get(timeout=5)
    assert reason_part in str(info.value)


def nothing_held(client: redis.Redis) -> None:
    for step in ("", ":p3", ":p6", ":p9"):
        key = f"{STREAM}{step}"
        if client.exists(key):
            assert client.xpending(key, "celeriac")["pending"] == 0, key
            assert client.xlen(key) == 0, key


# -- case 1: values out of range -------------------------------------------------------------

@pytest.mark.parametrize("pool", POOLS)
def test_out_of_range_fields_are_dead_letters_with_reasons(pool: str, happ: Any, client: redis.Redis,
                                                           start: Any) -> None:
    cases = {
        "eta-huge": (dict(eta=1e20), "'eta' is out of range"),
        "eta-nan": (dict(eta=math.nan), "'eta' is out of range"),
        "expires-huge": (dict(expires=1e300), "'expires' is out of range"),
        "eta-year": (dict(eta="99999-01-01T00:00:00"), "'eta' is not an ISO-8601 time"),
        "headers-str": (dict(headers="x", surprise=1), "'headers' must be an object"),
        "priority": (dict(priority=42), "'priority' is out of range"),
        "retries": (dict(retries=-1), "'retries' is out of range"),
        "timelimit": (dict(timelimit=[1e300, None]), "'timelimit[0]' is out of range"),
        "kwargs-list": (dict(kwargs=[1]), "'kwargs' must be an object"),
    }
    ids = {}
    for name, (fields, _reason) in cases.items():
        ids[name] = task_id = f"{name}-{uuid.uuid4()}"
        xadd(client, task_id, body(task="hostileapp.sink", id=task_id, args=[name], **fields))
    start(pool, concurrency=2)
    good_task_completes(happ)
    reasons = dead(client)
    for name, (_fields, reason) in cases.items():
        assert reason in reasons[ids[name]], (name, reasons[ids[name]])
        assert happ.runs(client, name) == 0  # no task code ran
        rejected(happ, ids[name], reason)
    nothing_held(client)


# -- case 2: callbacks / chord of the wrong type ---------------------------------------------

@pytest.mark.parametrize("pool", POOLS)
def test_callbacks_and_chord_of_the_wrong_type_never_run_the_body(pool: str, happ: Any, client: redis.Redis,
                                                                  start: Any) -> None:
    cases = {
        "callbacks-str": (dict(callbacks="nope"), "'callbacks' must be an array of signatures"),
        "callbacks-int": (dict(callbacks=[5]), "callbacks[0] must be a signature object"),
        "errbacks-bad": (dict(errbacks=[{"task": 7}]), "errbacks[0].task must be a non-empty string"),
        "chain-bad": (dict(chain=[{"subtask_type": "nope"}]), "unknown subtask_type 'nope'"),
        "chord-int": (dict(chord=5), "'chord' must be an object"),
        "chord-size": (dict(chord={"id": "g", "size": "3", "index": 0, "callback": {"task": "x"}}),
                       "'chord.size' must be an integer"),
        "chord-index": (dict(chord={"id": "g", "size": 2, "index": 9, "callback": {"task": "x"}}),
                        "'chord.index' is out of range"),
    }
    ids = {}
    for name, (fields, _reason) in cases.items():
        ids[name] = task_id = f"{name}-{uuid.uuid4()}"
        xadd(client, task_id, body(task="hostileapp.sink", id=task_id, args=[name], **fields))
    start(pool)
    good_task_completes(happ)
    reasons = dead(client)
    for name, (_fields, reason) in cases.items():
        assert reason in reasons[ids[name]], (name, reasons[ids[name]])
        assert happ.runs(client, name) == 0
        rejected(happ, ids[name], reason)
    nothing_held(client)


# -- case 3: malformed delayed members -------------------------------------------------------

@pytest.mark.parametrize("pool", POOLS)
def test_malformed_delayed_members_do_not_stop_the_queue(pool: str, happ: Any, client: redis.Redis,
                                                         start: Any) -> None:
    short_id = f"short-{uuid.uuid4()}"
    step_id = f"step-{uuid.uuid4()}"
    client.zadd(f"celeriac:delayed:{Q}", {
        "no newlines at all": 0,
        f"0\n{short_id}\napplication/json": 1,  # no body
        f"7\n{step_id}\napplication/json\n{{}}": 2,  # no such priority step
    })
    start(pool)
    good_task_completes(happ)
    wait_for(lambda: client.xlen(DEAD) == 3, 10, what="three dead letters")
    reasons = dead(client)
    assert "fewer than 4 newline-separated fields" in reasons[""]
    assert "fewer than 4 newline-separated fields" in reasons[short_id]
    assert "unknown priority step" in reasons[step_id]
    rejected(happ, short_id, "delayed member")
    rejected(happ, step_id, "unknown priority step")
    # the member that had no fields at all is kept whole in the dead letter
    bodies = [f[b"body"] for _, f in client.xrange(DEAD)]
    assert b"no newlines at all" in bodies
    assert client.zcard(f"celeriac:delayed:{Q}") == 0
    good_task_completes(happ, "good-again")  # still consuming after the promotion
    nothing_held(client)


# -- case 4: a `deliveries` field that is not a number -----------------------------------------

@pytest.mark.parametrize("pool", POOLS)
def test_deliveries_not_a_number_is_a_dead_letter_and_nothing_is_lost(pool: str, happ: Any,
                                                                      client: redis.Redis, start: Any) -> None:
    happ.app.broker.ensure_queues([Q])
    bad_id = f"deliv-{uuid.uuid4()}"
    xadd(client, bad_id, body(task="hostileapp.sink", id=bad_id, args=["deliv"]), deliveries="many")
    # A ghost consumer (a SIGKILLed worker) holds a good task and a bad entry: reclaim must
    # hand the good one back (never lost) and dead-letter the bad one.
    held_id = f"held-{uuid.uuid4()}"
    ghost_bad = f"ghost-{uuid.uuid4()}"
    xadd(client, held_id, body(task="hostileapp.sink", id=held_id, args=["held"]))
    xadd(client, ghost_bad, body(task="hostileapp.sink", id=ghost_bad, args=["ghost"]), deliveries="1e5")
    client.xreadgroup("celeriac", "ghost", {STREAM: ">"}, count=10)
    assert client.xpending(STREAM, "celeriac")["pending"] == 3
    start(pool)
    assert happ.app.AsyncResult(held_id).get(timeout=30) == "held"  # the held good task: redelivered
    good_task_completes(happ)
    wait_for(lambda: client.xlen(DEAD) == 2, 15, what="two dead letters")
    reasons = dead(client)
    for task_id in (bad_id, ghost_bad):
        assert "field 'deliveries' is not a non-negative integer" in reasons[task_id]
        rejected(happ, task_id, "'deliveries'")
    assert happ.runs(client, "deliv") == 0 and happ.runs(client, "ghost") == 0
    assert happ.runs(client, "held") == 1
    nothing_held(client)


def test_requeue_checks_deliveries_before_any_write(happ: Any, client: redis.Redis) -> None:
    """The prefork hand-back path (requeue.lua): a bad count is carried on, never a vanishing act."""
    broker = happ.app.broker
    broker.ensure_queues([Q])
    task_id = f"rq-{uuid.uuid4()}"
    xadd(client, task_id, body(task="hostileapp.sink", id=task_id), deliveries="NaN")
    client.xreadgroup("celeriac", "child-1", {STREAM: ">"}, count=1)
    assert broker.release_consumer([Q], "child-1", count_delivery=True) == 1
    [(_eid, fields)] = client.xrange(STREAM)
    assert fields[b"invalid"] == b"field 'deliveries' is not a non-negative integer"
    [d] = broker.fetch([Q], "w", 10, 0)
    assert d.invalid is not None and d.task_id == task_id


# -- case 5: a publish whose reply was lost ------------------------------------------------------

class ReplyEater:
    """A TCP proxy in front of redis-server that forwards every command but, for the first
    ``lose`` connections that carry a publish, closes the connection instead of relaying
    the reply: the write applied, the answer never came back."""

    def __init__(self, port: int, lose: int) -> None:
        self.target = port
        self.lose = lose
        self.port = free_port()
        self.server = socket.create_server(("127.0.0.1", self.port))
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target))
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                upstream.sendall(data)
                publish = b"EVALSHA" in data.upper() or b"XADD" in data.upper()
                time.sleep(0.05)  # let the server answer everything sent
                reply = upstream.recv(65536)
                if publish and self.lose > 0:
                    self.lose -= 1
                    return  # the command ran; its reply is lost with the connection
                conn.sendall(reply)
        except OSError:
            return
        finally:
            conn.close()
            upstream.close()

    def close(self) -> None:
        self.stopped = True
        self.server.close()


@pytest.mark.parametrize("lost", [1, 3])
def test_a_publish_whose_reply_was_lost_is_enqueued_once(lost: int, redis_server: Any, redis_url: str,
                                                         client: redis.Redis) -> None:
    from celeriac import Celeriac

    proxy = ReplyEater(redis_server.port, lose=lost)
    app = Celeriac("lost", broker=f"redis://127.0.0.1:{proxy.port}/0")
    try:
        @app.task
        def noop() -> None: ...

        app.broker.ensure_queues([Q])
        r = noop.delay()  # lost replies, retried by task_publish_retry_policy (and redis-py)
        entries = client.xrange(STREAM)
        assert [f[b"id"].decode() for _, f in entries] == [r.id]  # exactly once
        before = client.xlen(STREAM)
        noop.apply_async(countdown=0)  # the next call is a new message
        assert client.xlen(STREAM) == before + 1
    finally:
        app.close()
        proxy.close()


def test_every_reply_lost_raises_and_enqueues_once(redis_server: Any, client: redis.Redis,
                                                   redis_url: str) -> None:
    from celeriac import Celeriac

    proxy = ReplyEater(redis_server.port, lose=1000)
    app = Celeriac("lost", broker=f"redis://127.0.0.1:{proxy.port}/0")
    try:
        @app.task
        def noop() -> None: ...

        app.broker.ensure_queues([Q])
        from celeriac.backends.redis_scripts import script

        client.script_load(script("publish"))  # as on a Redis that served publishes before
        with pytest.raises(ConnectionLost):
            noop.delay()
        assert client.xlen(STREAM) == 1  # written once, though no attempt was confirmed
    finally:
        app.close()
        proxy.close()


# -- case 6: a result that cannot be serialized ----------------------------------------------

@pytest.mark.parametrize("pool", POOLS)
def test_unencodable_result_is_a_failure_and_the_body_ran_once(pool: str, happ: Any, client: redis.Redis,
                                                               start: Any) -> None:
    start(pool)
    calls = [(happ.unencodable, "canvas"), (happ.unencodable_object, "object"),
             (happ.retry_unencodable, "retry")]
    results = [(task.delay(tag), tag) for task, tag in calls]
    for r, tag in results:
        with pytest.raises(Exception) as info:
            r.get(timeout=30)
        assert type(info.value).__name__ == "EncodeError", info.value
        assert r.state == states.FAILURE
        assert happ.runs(client, tag) == 1  # never run again
    good_task_completes(happ)
    time.sleep(2.0)  # a redelivery (lease 1.5 s) would run a body again now
    assert [happ.runs(client, tag) for _, tag in calls] == [1, 1, 1]
    assert client.xlen(DEAD) == 0
    nothing_held(client)


# -- SQLite: the body-level cases ----------------------------------------------------------------

def test_sqlite_bad_bodies_and_unencodable_results(tmp_path: Path, worker: Any, redis_url: str) -> None:
    from celeriac import Celeriac
    from celeriac.backends.base import Outgoing

    app = Celeriac("sq", broker=f"sqlite:///{tmp_path / 'q.db'}")
    app.conf.worker_lease_timeout = 1.5
    ran: list[str] = []

    @app.task
    def sink(tag: str) -> str:
        ran.append(tag)
        return tag

    @app.task
    def unencodable(tag: str) -> object:
        ran.append(tag)
        return object()

    bad = {"eta-nan": dict(eta=math.nan), "headers-str": dict(headers="x", extra=1),
           "callbacks": dict(callbacks="no"), "chord": dict(chord={"id": "g", "size": 0})}
    app.broker.publish([Outgoing(queue=Q, task_id=name, content_type="application/json",
                                 body=body(task=sink.name, id=name, args=[name], **fields))
                        for name, fields in bad.items()])
    worker(app, pool="threads")
    assert sink.delay("good").get(timeout=20) == "good"
    r = unencodable.delay("u")
    with pytest.raises(Exception) as info:
        r.get(timeout=20)
    assert type(info.value).__name__ == "EncodeError"
    letters = {d.task_id: d.reason for d in app.broker.dead_letters(Q, 10)}
    assert sorted(letters) == sorted(bad)
    for name in bad:
        assert app.AsyncResult(name).state == states.REJECTED
    assert sorted(ran) == ["good", "u"]
    app.close()


def test_sqlite_deliveries_not_a_number_is_a_dead_letter(tmp_path: Path, worker: Any) -> None:
    """SQLite keeps any type in any column: a row written by a stranger with a text count."""
    import sqlite3

    from celeriac import Celeriac

    db = tmp_path / "q.db"
    app = Celeriac("sq4", broker=f"sqlite:///{db}")
    app.conf.worker_lease_timeout = 1.5

    @app.task
    def sink(tag: str) -> str:
        return tag

    app.broker.ensure_queues([Q])
    assert sink.delay("warm").id  # the schema exists
    conn = sqlite3.connect(db)
    for task_id, count, owner in (("text-count", "many", None), ("held-text", "x", "ghost")):
        conn.execute("INSERT INTO messages (queue, priority, task_id, content_type, body, deliveries, created, "
                     "lease_owner, lease_until) VALUES (?, 0, ?, 'application/json', ?, ?, ?, ?, ?)",
                     (Q, task_id, body(task=sink.name, id=task_id, args=[task_id]), count, time.time(), owner,
                      time.time() - 60 if owner else None))
    conn.commit()
    conn.close()
    worker(app, pool="threads")
    assert sink.delay("good").get(timeout=20) == "good"
    def settled() -> bool:
        letters = {d.task_id for d in app.broker.dead_letters(Q, 10)}
        return "text-count" in letters and ("held-text" in letters
                                            or app.AsyncResult("held-text").state == states.SUCCESS)

    wait_for(settled, 15, what="the text count dead-lettered and the held row reclaimed")
    letters = {d.task_id: d.reason for d in app.broker.dead_letters(Q, 10)}
    assert "'deliveries' is not a non-negative integer" in letters["text-count"]
    assert app.AsyncResult("text-count").state == states.REJECTED
    # the held one (its worker lost, its count text) was reclaimed, not stuck: it ran or was dead-lettered
    assert "held-text" in letters or app.AsyncResult("held-text").state == states.SUCCESS
    app.close()


# -- also seen ---------------------------------------------------------------------------------

def test_planted_exc_module_is_never_imported(happ: Any, client: redis.Redis, tmp_path: Path) -> None:
    planted = tmp_path / "planted_module_hostile.py"
    flag = tmp_path / "imported.flag"
    planted.write_text(f"open({str(flag)!r}, 'w').close()\nclass Boom(Exception): pass\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import msgpack

        task_id = str(uuid.uuid4())
        meta = {"exc_type": "Boom", "exc_module": "planted_module_hostile", "exc_message": ["x"]}
        client.rpush(f"celeriac:done:{task_id}", msgpack.packb(
            {"status": "FAILURE", "result": json.dumps(meta), "date_done": "1"}, use_bin_type=False))
        with pytest.raises(TaskError) as info:
            happ.app.AsyncResult(task_id).get(timeout=5)
        assert "planted_module_hostile.Boom" in str(info.value)
        assert not flag.exists() and "planted_module_hostile" not in sys.modules
        # a SystemExit from the store is not raised as one either
        meta = {"exc_type": "SystemExit", "exc_module": "builtins", "exc_message": [0]}
        other = str(uuid.uuid4())
        client.rpush(f"celeriac:done:{other}", msgpack.packb(
            {"status": "FAILURE", "result": json.dumps(meta)}, use_bin_type=False))
        with pytest.raises(TaskError):
            happ.app.AsyncResult(other).get(timeout=5)
    finally:
        sys.path.remove(str(tmp_path))


def test_malformed_result_records_raise_on_get(happ: Any, client: redis.Redis) -> None:
    import msgpack

    task_id = str(uuid.uuid4())
    client.rpush(f"celeriac:done:{task_id}", b"\xc1 not msgpack")
    with pytest.raises(DecodeError):
        happ.app.AsyncResult(task_id).get(timeout=5)
    other = str(uuid.uuid4())
    client.rpush(f"celeriac:done:{other}", msgpack.packb({"status": "SUCCESS", "date_done": "soon"}))
    with pytest.raises(DecodeError, match="date_done"):
        happ.app.AsyncResult(other).get(timeout=5)


def test_wrong_password_is_an_authentication_error_at_once(tmp_path: Path) -> None:
    from celeriac import Celeriac

    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--requirepass", "right",
                             "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _listening(port), 10, what="redis-server with a password")
        for url in (f"redis://:wrong@127.0.0.1:{port}/0", f"redis://127.0.0.1:{port}/0"):
            app = Celeriac("auth", broker=url)

            @app.task
            def noop() -> None: ...

            began = time.monotonic()
            with pytest.raises(AuthenticationFailed, match="refused the credentials"):
                noop.delay()
            assert time.monotonic() - began < 1.0  # not retried as an outage
            assert not isinstance(AuthenticationFailed("x"), ConnectionLost)
            app.close()
    finally:
        proc.terminate()
        proc.wait(10)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def test_process_group_sigterm_logs_no_second_signal(happ: Any, cli_worker: Any, client: redis.Redis) -> None:
    w = cli_worker("-A", "hostileapp", "worker", "-P", "prefork", "-c", "2", "-n", "pg@test")
    good_task_completes(happ, "up")
    os.killpg(w.proc.pid, signal.SIGTERM)  # what a terminal's Ctrl-C or a container stop does
    assert w.wait(30) == 0
    assert b"second signal" not in w.output, w.output.decode(errors="replace")[-2000:]
