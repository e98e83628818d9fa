"""Pure parts of observability: event typing and lines, reply merging, batched histogram
writes (compared with prometheus-client's own observe)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

from celeriac import events as ev
from celeriac.control import merge_stats, per_worker
from celeriac.worker.monitor import observe_many


def test_wire_and_normalize_round_trip() -> None:
    event = {"type": "worker-heartbeat", "timestamp": 1700000000.25, "pid": 12, "queues": ["a", "b"],
             "hostname": "w@h", "active": 3, "uuid": "123"}
    wired = ev.wire(event)
    assert all(isinstance(v, str) for v in wired.values())
    assert ev.normalize(wired) == event


def test_normalize_leaves_unknown_and_bad_values() -> None:
    assert ev.normalize({"runtime": "x", "name": "1.5"}) == {"runtime": "x", "name": "1.5"}
    assert ev.normalize({"expired": "True"}) == {"expired": True}


def test_human_lines() -> None:
    line = ev.human({"type": "task-succeeded", "uuid": "id1", "name": "add", "hostname": "w@h",
                     "timestamp": "1700000000.0", "runtime": "0.5", "result": "3"})
    assert "task-succeeded" in line and "add[id1]" in line and "in 0.5000s" in line and "result=3" in line
    line = ev.human({"type": "worker-heartbeat", "hostname": "w@h", "timestamp": "1700000000.0",
                     "active": "1", "processed": "9", "pool": "prefork", "concurrency": "2"})
    assert "active=1 processed=9 pool=prefork" in line


def test_per_worker_merges_prefork_children() -> None:
    replies = [
        {"hostname": "a@h", "consumer": "a@h.1.c2", "ok": [{"id": "t2"}]},
        {"hostname": "a@h", "consumer": "a@h.1.c1", "ok": [{"id": "t1"}]},
        {"hostname": "b@h", "consumer": "b@h.9", "ok": []},
        {"hostname": "c@h", "consumer": "c@h.1", "error": "boom"},
    ]
    merged = per_worker(replies)
    assert merged["a@h"] == [{"id": "t1"}, {"id": "t2"}]
    assert merged["b@h"] == []
    assert merged["c@h"] == {"error": "boom"}
    differing = per_worker([{"hostname": "a", "consumer": "a.1", "ok": {"n": 1}},
                            {"hostname": "a", "consumer": "a.2", "ok": {"n": 2}}])
    assert differing == {"a": [{"n": 1}, {"n": 2}]}
    # equal answers once (both children of a prefork worker obeyed `pool_grow`): Celery's shape
    assert per_worker([{"hostname": "a", "consumer": "a.1", "ok": {"ok": "pool will grow by 1"}},
                       {"hostname": "a", "consumer": "a.2", "ok": {"ok": "pool will grow by 1"}}]) == {
        "a": {"ok": "pool will grow by 1"}}
    assert per_worker([{"hostname": "a", "consumer": "a.1", "ok": "pong"},
                       {"hostname": "a", "consumer": "a.2", "ok": "pong"}]) == {"a": "pong"}


def test_merge_stats_joins_children_as_one_celery_answer() -> None:
    def child(pid: int, total: dict[str, int]) -> dict[str, object]:
        return {"pid": 1, "clock": "3", "uptime": pid, "total": total, "prefetch_count": 1, "processed": 2,
                "pool": {"implementation": "p", "max-concurrency": 1, "processes": [pid], "capacity": 1},
                "rusage": {"utime": 1.0, "maxrss": pid}, "consumers": [f"c{pid}"]}

    merged = per_worker([{"hostname": "a", "consumer": "c1", "ok": child(11, {"t": 1})},
                         {"hostname": "a", "consumer": "c2", "ok": child(12, {"t": 2, "u": 1})}], merge_stats)
    a = merged["a"]
    assert a["pool"]["processes"] == [11, 12] and a["pool"]["max-concurrency"] == 2
    assert a["total"] == {"t": 3, "u": 1} and a["processed"] == 4 and a["uptime"] == 12
    assert a["rusage"] == {"utime": 2.0, "maxrss": 12} and a["pid"] == 1


def test_observe_many_equals_observe() -> None:
    values = [0.0, 0.001, 0.0011, 0.3, 2.0, 7.0, 1e9, 0.005]
    r1, r2 = CollectorRegistry(), CollectorRegistry()
    h1 = Histogram("h", "x", ["l"], registry=r1, buckets=(0.001, 0.01, 1.0, 5.0))
    h2 = Histogram("h", "x", ["l"], registry=r2, buckets=(0.001, 0.01, 1.0, 5.0))
    for v in values:
        h1.labels("a").observe(v)
    observe_many(h2.labels("a"), values)

    def samples(r: CollectorRegistry) -> list[tuple[str, dict[str, str], float]]:
        return [(s.name, s.labels, s.value) for m in r.collect() for s in m.samples if not s.name.endswith("_created")]

    assert samples(r1) == samples(r2)
