"""Fuzzing what strangers may write into Redis (issue 16), with hypothesis.

Generated message bodies (a valid message with random fields replaced, or random bytes),
stream entries with random transport fields (``deliveries``, ``history``, content types,
unknown fields), delayed-set members of any shape, and chord / result hashes of garbage are
written straight into the suite's real redis-server, with good tasks in between, while a
threads, an asyncio and a prefork worker consume the queue. After every example: every
good task completed exactly once, every input is accounted for (a dead letter with a
reason, or, when the mutation left it valid, a result, an event or a delayed member),
nothing is held, and each worker still consumes (a task on its own queue completes).

The bounded form runs by default (300 examples or 35 s, whichever ends first); ``-m slow`` runs the long one. Both print
how many inputs they tried and what happened to them.
"""

from __future__ import annotations

import collections
import json
import time
import uuid
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from celeriac import states
from celeriac.message import FIELDS
from helpers import wait_for

Q = "default"
STREAMS = [f"celeriac:queue:{Q}{s}" for s in ("", ":p3", ":p6", ":p9")]
DEAD = f"celeriac:dead:{Q}"
OWN = {"threads": "own-threads", "asyncio": "own-asyncio", "prefork": "own-prefork"}

# -- strategies ------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", "2026-01-01T00:00:00", "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-12:00",
                     "1e20", "NaN", "tomorrow", "hostileapp.sink", "celeriac.map", "\n"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(["task", "id", "args", "kwargs", "options", "subtask_type",
                                               "size", "index", "callback", "link", "tasks", "header",
                                               "body", "immutable", "chord", "celeriac_chord",
                                               "celeriac_errback", "prepend"]),
                              st.text(max_size=8)), inner, max_size=5),
), max_leaves=12)
field_names = st.sampled_from([*FIELDS, "junk", "", "celeriac_chord"])


@st.composite
def bodies(draw: Any, tag: str) -> tuple[bytes, str, Any]:
    """(raw body, content type, the decoded object or None)."""
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "json", "bytes", "other-type"]))
    if kind == "bytes":
        return draw(st.binary(max_size=60)), "application/json", None
    if kind == "json":
        value = draw(values)
        return json.dumps(value).encode(), "application/json", value
    message: dict[str, Any] = {"task": "hostileapp.sink", "id": tag, "args": [tag], "kwargs": {}}
    for _ in range(draw(st.integers(1, 3))):
        name = draw(field_names)
        if draw(st.integers(0, 5)) == 0:
            message.pop(name, None)
        else:
            message[name] = draw(values)
    raw = json.dumps(message).encode()
    if kind == "other-type":
        return raw, draw(st.sampled_from(["application/x-python-serialize", "text/plain", "application/x-msgpack"])), None
    return raw, "application/json", message


@st.composite
def inputs(draw: Any) -> dict[str, Any]:
    tag = f"fz-{draw(st.uuids())}"
    kind = draw(st.sampled_from(["stream", "stream", "stream", "delayed", "chord", "result"]))
    if kind == "stream":
        raw, content_type, decoded = draw(bodies(tag))
        fields: dict[str, Any] = {"id": tag, "content-type": content_type, "body": raw}
        extra = draw(st.dictionaries(st.sampled_from(["deliveries", "history", "invalid", "reason", "x", "body"]),
                                     st.one_of(st.text(max_size=12), st.sampled_from(["0", "3", "-1", "1e5", "nan",
                                                                                     "999999999999"])),
                                     max_size=2))
        fields.update(extra)
        if "body" in extra:
            decoded = None
        return {"kind": kind, "tag": tag, "fields": fields, "decoded": decoded, "content_type": content_type}
    if kind == "delayed":
        shape = draw(st.sampled_from(["text", "fields", "fields"]))
        if shape == "text":
            member = draw(st.text(max_size=40))
        else:
            raw, content_type, decoded = draw(bodies(tag))
            step = draw(st.sampled_from(["0", "3", "6", "9", "x", "", "10"]))
            parts = [step, tag, content_type, raw.decode(errors="replace")]
            member = "\n".join(parts[: draw(st.integers(1, 4))])
        return {"kind": kind, "tag": tag, "member": member or "x", "score": draw(st.integers(0, 1000))}
    if kind == "chord":
        group_id = f"g-{draw(st.uuids())}"
        garbage = draw(st.dictionaries(st.one_of(st.sampled_from(["0", "1", "failed", "-1"]), st.text(max_size=5)),
                                       st.one_of(st.binary(max_size=20),
                                                 st.sampled_from([b"application/json\n1", b"application/json\n{",
                                                                  b'{"exc": 5}', b"[]", b"text/plain\nx"])),
                                       min_size=1, max_size=3))
        garbage = {k: v for k, v in garbage.items() if k}
        size = draw(st.one_of(st.integers(-1, 3), st.sampled_from(["2", None])))
        message = {"task": "hostileapp.sink", "id": tag, "args": [tag], "kwargs": {},
                   "headers": {"celeriac_chord": {"id": group_id, "size": size, "prepend": True}}}
        return {"kind": kind, "tag": tag, "group": group_id, "hash": garbage or {"0": b"x"}, "message": message}
    garbage = draw(st.dictionaries(st.sampled_from(["status", "date_done", "retries", "children", "x", "result",
                                                    "content-type", "progress"]),
                                   st.one_of(st.text(max_size=10), st.sampled_from(["nan", "[1", "-3", "1e400"])),
                                   min_size=1, max_size=4))
    message = {"task": "hostileapp.sink", "id": tag, "args": [tag], "kwargs": {}}
    return {"kind": "result", "tag": tag, "hash": garbage, "message": message}


# -- the run ---------------------------------------------------------------------------------

def _valid_id(decoded: Any) -> str | None:
    if isinstance(decoded, dict) and isinstance(decoded.get("id"), str) and decoded["id"]:
        return str(decoded["id"])
    return None


class Fuzz:
    def __init__(self, happ: Any, client: redis.Redis) -> None:
        self.happ = happ
        self.client = client
        self.tried = 0
        self.outcomes: collections.Counter[str] = collections.Counter()
        self.reasons: collections.Counter[str] = collections.Counter()
        self.good = 0
        self.last_dead = "0-0"

    def write(self, item: dict[str, Any]) -> None:
        c, kind = self.client, item["kind"]
        if kind == "stream":
            c.xadd(STREAMS[0], item["fields"])
        elif kind == "delayed":
            c.zadd(f"celeriac:delayed:{Q}", {item["member"]: item["score"]})
        elif kind == "chord":
            c.hset(f"celeriac:chord:{item['group']}", mapping=item["hash"])
            c.xadd(STREAMS[0], {"id": item["tag"], "body": json.dumps(item["message"])})
        else:
            c.hset(f"celeriac:result:{item['tag']}", mapping=item["hash"])
            c.xadd(STREAMS[0], {"id": item["tag"], "body": json.dumps(item["message"])})

    def run(self, batch: list[dict[str, Any]]) -> None:
        happ, c = self.happ, self.client
        goods = []
        for item in batch:
            tag = f"good-{uuid.uuid4()}"
            goods.append((happ.sink.delay(tag), tag))
            self.write(item)
        tag = f"good-{uuid.uuid4()}"
        goods.append((happ.sink.delay(tag), tag))
        for r, tag in goods:  # every good task completes, once
            assert r.get(timeout=30) == tag
        try:
            wait_for(self.drained, 30, interval=0.05, what="every stream drained and nothing held")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {self.held()}") from None
        for _r, tag in goods:
            assert happ.runs(c, tag) == 1, tag
        self.good += len(goods)
        self.account(batch)

    def held(self) -> list[Any]:
        c = self.client
        out = []
        for key in STREAMS:
            if c.exists(key):
                out.append((key, c.xlen(key), c.xpending_range(key, "celeriac", "-", "+", 20),
                            c.xrange(key, count=5)))
        return out

    def drained(self) -> bool:
        c = self.client
        for key in STREAMS:
            if c.exists(key) and (c.xlen(key) or c.xpending(key, "celeriac")["pending"]):
                return False
        due = c.zcount(f"celeriac:delayed:{Q}", "-inf", int(time.time() * 1000))
        return due == 0

    def account(self, batch: list[dict[str, Any]]) -> None:
        c, app = self.client, self.happ.app
        dead: dict[str, str] = {}
        untagged = 0
        for eid, f in c.xrange(DEAD, min=f"({self.last_dead}"):
            self.last_dead = eid.decode()
            key = f.get(b"id", b"").decode(errors="replace")
            dead[key] = f.get(b"reason", b"").decode(errors="replace")
            assert dead[key], f  # every dead letter says why
            untagged += not key.startswith("fz-")
        traced = {e.get("uuid") for _, e in app.broker.read_events("0", 1_000_000)}
        delayed = [m.decode(errors="replace") for m in c.zrange(f"celeriac:delayed:{Q}", 0, -1)]
        tagless = set()
        for item in batch:
            self.tried += 1
            tag = item["tag"]
            if tag in dead:
                self.outcomes["dead letter"] += 1
                self.reasons[":".join(dead[tag].split(":")[:2])[:90]] += 1
                continue
            if item["kind"] == "delayed" and (item["member"].count("\n") < 2
                                              or item["member"].split("\n")[1] != tag):
                tagless.add(item["member"])  # no usable id: its dead letter carries the member
                self.outcomes["dead letter (no task id)"] += 1
                continue
            if item["kind"] == "delayed":
                expected: str | None = tag
            elif item["kind"] in ("chord", "result"):
                expected = tag
            else:
                expected = _valid_id(item.get("decoded"))
            assert expected is not None, f"neither dead-lettered nor a valid message: {item}"
            state = _state(app, expected)
            if state in states.READY_STATES or expected in traced or any(expected in m for m in delayed):
                self.outcomes[f"valid, then {state}"] += 1
                continue
            raise AssertionError(f"input lost without a trace: {item} (state {state})")
        # the tagless delayed members (distinct ones: equal members are one zset entry)
        assert untagged >= len(tagless), (untagged, tagless)

    def report(self) -> str:
        lines = [f"fuzz: {self.tried} hostile inputs, {self.good} good tasks (all completed once)"]
        lines += [f"  {n:5d}  {what}" for what, n in self.outcomes.most_common()]
        lines += ["  dead-letter reasons:"] + [f"  {n:5d}  {why}" for why, n in self.reasons.most_common(25)]
        return "\n".join(lines)


def _state(app: Any, task_id: str) -> str:
    try:
        return str(app.AsyncResult(task_id).state)
    except Exception as exc:  # a result hash of garbage: reading it fails with a DecodeError
        return f"unreadable ({type(exc).__name__})"


def _fuzz(happ: Any, client: redis.Redis, workers: dict[str, Any], examples: int, budget_s: float) -> Fuzz:
    fuzz = Fuzz(happ, client)
    started = time.monotonic()

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(inputs(), min_size=1, max_size=5))
    def one(batch: list[dict[str, Any]]) -> None:
        if time.monotonic() - started > budget_s:
            return  # the bounded form stops on time
        fuzz.run(batch)

    one()
    # every worker still consumes: a task on each worker's own queue completes
    for pool, queue in OWN.items():
        tag = f"own-{pool}-{uuid.uuid4()}"
        assert happ.sink.apply_async((tag,), queue=queue).get(timeout=30) == tag, pool
    for pool, w in workers.items():
        if pool == "prefork":
            assert w.proc.poll() is None
        else:
            assert w.thread.is_alive()
    print(fuzz.report())
    return fuzz


@pytest.fixture
def fuzz_workers(happ: Any, worker: Any, cli_worker: Any) -> dict[str, Any]:
    happ.app.conf.worker_lease_timeout = 2.0
    happ.app.conf.events_maxlen = 1_000_000  # every event kept: the accounting reads them
    return {
        "threads": worker(happ.app, pool="threads", concurrency=2, queues=[Q, OWN["threads"]]),
        "asyncio": worker(happ.app, pool="asyncio", concurrency=4, queues=[Q, OWN["asyncio"]]),
        # -l critical: every dead letter logs an ERROR line, and nothing reads the worker's
        # stdout pipe until it stops (a full pipe would block the child's logging)
        "prefork": cli_worker("-A", "hostileapp", "worker", "-P", "prefork", "-c", "2", "-l", "critical", "-Q",
                              f"{Q},{OWN['prefork']}", "-n", "fuzz@test",
                              env={"CELERIAC_WORKER_LEASE_TIMEOUT": "2.0", "CELERIAC_EVENTS_MAXLEN": "1000000",
                                   "PYTHONFAULTHANDLER": "1"}),
    }


@pytest.fixture
def happ(redis_url: str) -> Any:
    import hostileapp

    hostileapp.app.conf.broker_url = redis_url
    hostileapp.app.close()
    yield hostileapp
    hostileapp.app.close()


@pytest.fixture
def client(redis_url: str) -> Any:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


# The in-process workers' threads use the random module while hypothesis generates data,
# which it reports as a strategy using random: not so here.
QUIET = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")


@QUIET
def test_fuzz_hostile_entries_bounded(happ: Any, client: redis.Redis, fuzz_workers: dict[str, Any]) -> None:
    fuzz = _fuzz(happ, client, fuzz_workers, examples=300, budget_s=35.0)
    assert fuzz.tried >= 50


@QUIET
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_fuzz_hostile_entries_long(happ: Any, client: redis.Redis, fuzz_workers: dict[str, Any]) -> None:
    fuzz = _fuzz(happ, client, fuzz_workers, examples=5000, budget_s=480.0)
    assert fuzz.tried >= 500
