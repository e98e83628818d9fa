"""The status writer against the API emulator: moves made while a write waits are folded
into one patch, a removed field is sent as null, writes keep to the token bucket, and an
object that is gone is forgotten (no retry loop)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from celeriac_operator.kube import Kube, ObjectRef
from celeriac_operator.writer import Writer
from operator_helpers import API, task


def _ref(obj: dict[str, Any]) -> ObjectRef:
    return ObjectRef.from_body(obj, plural="tasks")


def _status_patches(cluster: Any, name: str) -> list[Any]:
    return [r for r in cluster.requests if r.name == name and r.subresource == "status"]


def test_moves_made_before_a_write_are_one_patch(cluster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    obj = cluster.create(task("t1", "k8s.add", 1, 1))

    async def run() -> None:
        kube = Kube.from_environment(threads=2)
        writer = Writer(kube, qps=100, burst=10)
        ref = _ref(obj)
        writer.track(ref, {})
        for state in ("PENDING", "STARTED", "SUCCESS"):
            writer.set_status(ref, {"state": state, "taskId": "x", "error": {"type": "E"}})
        writer.set_status(ref, {"state": "SUCCESS", "taskId": "x", "result": 2}, release=True)
        loop = asyncio.create_task(writer.run())
        assert await writer.drained(10)
        loop.cancel()
        kube.close()
        assert writer.known(ref) is None  # released once written

    asyncio.run(run())
    assert len(_status_patches(cluster, "t1")) == 1
    assert cluster.get(API, "Task", "t1", "default")["status"] == {"state": "SUCCESS", "taskId": "x",
                                                                  "result": 2}


def test_writes_keep_to_the_token_bucket_and_gone_objects_are_forgotten(
        cluster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    objs = [cluster.create(task(f"b{i}", "k8s.add", i, i)) for i in range(10)]
    cluster.delete(API, "Task", "b9", "default")

    async def run() -> float:
        kube = Kube.from_environment(threads=4)
        writer = Writer(kube, qps=20, burst=1, concurrency=4)
        for obj in objs:
            writer.set_status(_ref(obj), {"state": "PENDING"})
        t0 = time.monotonic()
        loop = asyncio.create_task(writer.run())
        assert await writer.drained(10)
        took = time.monotonic() - t0
        assert writer.known(_ref(objs[9])) is None and writer.patches == 9
        loop.cancel()
        kube.close()
        return took

    took = asyncio.run(run())
    assert took >= 9 / 20 - 0.05  # 10 writes at 20/s after a burst of one
    for obj in objs[:9]:
        assert cluster.get(API, "Task", obj["metadata"]["name"], "default")["status"] == {"state": "PENDING"}
