"""Operator benchmark (issue #13 figures): Task latency, a burst of Tasks, a restart.

Not a timed test: run it by hand and quote the figures.

    /work/main/.venv/bin/python bench/operator_bench.py [--latency 200] [--burst 1000]

It starts its own ``redis-server`` (free port), the Kubernetes API emulator of
``tests/kubeapi`` in this process, one ``celeriac worker`` (threads pool) and
``celeriac operator`` as processes, and measures:

1. latency: Tasks created one after another on a warm worker (each after the previous
   one finished): creation -> ``status.state`` STARTED (or any later state: a short task
   may be written SUCCESS at once), and -> SUCCESS; p50 / p99. Times are taken when the
   emulator stores the write (an in-process watch on its store, no polling).
2. burst: N Tasks created at once (in a tight loop): time until all show SUCCESS, API
   requests the operator made per Task (counted by the emulator, by kind of request),
   operator CPU seconds and peak RSS (``/proc``).
3. restart: Tasks created while the operator is SIGKILLed and started again: runs per
   task id (each run of ``k8s.mark`` leaves a file named after its id); twice must be 0.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "runtime"), str(ROOT / "operator")]

from kubeapi import KubeAPI  # noqa: E402

API = "celeriac.dev/v1alpha1"
APPS = ROOT / "tests" / "apps"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(pred: Any, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(interval)


class Recorder:
    """First time (monotonic) each Task was stored with each state, from a watch on the
    emulator's store (runs on the emulator's loop)."""

    def __init__(self, api: KubeAPI) -> None:
        self.api = api
        self.created: dict[str, float] = {}
        self.created_wall: dict[str, float] = {}
        self.first: dict[str, dict[str, float]] = collections.defaultdict(dict)

    def start(self) -> None:
        rt = self.api._type(API, "Task")
        watcher, _ = self.api.call(lambda: self.api.store.subscribe(rt, None, None, None, None, False))
        loop = self.api._loop
        assert loop is not None

        async def drain() -> None:
            while True:
                ev = await watcher.queue.get()
                if ev is None:
                    return
                now = time.monotonic()
                name = ev.obj["metadata"]["name"]
                if ev.type == "ADDED":
                    self.created.setdefault(name, now)
                    self.created_wall.setdefault(name, time.time())
                state = (ev.obj.get("status") or {}).get("state")
                if state:
                    self.first[name].setdefault(state, now)

        asyncio.run_coroutine_threadsafe(drain(), loop)

    def reached(self, name: str, states: tuple[str, ...]) -> float | None:
        times = [t for s, t in self.first.get(name, {}).items() if s in states]
        return min(times) if times else None


def task_body(name: str, task: str, *args: Any, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "Task", "metadata": {"name": name, "namespace": "default"},
            "spec": {"task": task, "args": list(args), **spec}}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Stack:
    def __init__(self, workdir: Path, concurrency: int) -> None:
        self.workdir = workdir
        self.redis_port = free_port()
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(workdir)], stdout=subprocess.DEVNULL)
        self.broker = f"redis://127.0.0.1:{self.redis_port}/0"
        self.api = KubeAPI(workdir=workdir / "kube").start()
        self.api.install_crds([ROOT / "crds" / "tasks.celeriac.dev.yaml"])
        self.markers = workdir / "runs"
        self.markers.mkdir()
        self.env = self.api.env()
        self.env.update({
            "CELERIAC_BROKER_URL": self.broker, "CELERIAC_TEST_MARKER_DIR": str(self.markers),
            "CELERIAC_WORKER_HEARTBEAT_INTERVAL": "0.5",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "operator"), str(ROOT / "runtime"), str(APPS)]),
        })
        time.sleep(0.3)
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "celeriac.cli", "-A", "k8sapp", "worker", "-P", "threads", "-c",
             str(concurrency)], env=self.env, cwd=APPS, stdout=(workdir / "worker.log").open("wb"),
            stderr=subprocess.STDOUT)
        self.operator: subprocess.Popen[bytes] | None = None
        self.metrics_port = 0

    def start_operator(self) -> None:
        self.metrics_port, health = free_port(), free_port()
        log = (self.workdir / "operator.log").open("ab")
        self.operator = subprocess.Popen(
            [sys.executable, "-m", "celeriac_operator", "--namespace", "default", "--lease-duration", "3",
             "--health-port", str(health), "--health-bind", "127.0.0.1", "--metrics-port",
             str(self.metrics_port), "--metrics-bind", "127.0.0.1"],
            env=self.env, cwd=APPS, stdout=log, stderr=subprocess.STDOUT)

        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{health}/readyz", timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False
        wait(ready, 30, "operator ready")

    def kill_operator(self) -> None:
        assert self.operator is not None
        self.operator.send_signal(signal.SIGKILL)
        self.operator.wait(10)

    def states(self) -> dict[str, str | None]:
        return {o["metadata"]["name"]: (o.get("status") or {}).get("state") for o in self.api.list(API, "Task", "default")}

    def clear(self) -> None:
        for name in list(self.states()):
            self.api.delete(API, "Task", name, "default")
        wait(lambda: not self.states(), 60, "Tasks deleted")

    def close(self) -> None:
        for proc in (self.operator, self.worker):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.api.stop()
        self.redis.terminate()
        self.redis.wait(10)


def latency(stack: Stack, rec: Recorder, n: int, delay: float) -> dict[str, Any]:
    to_started, to_success, to_pending, real_start = [], [], [], []
    for i in range(n):
        name = f"lat-{i}"
        stack.api.create(task_body(name, "k8s.sleep_add", i, 1, kwargs={"delay": delay}))
        wait(lambda name=name: rec.reached(name, ("SUCCESS",)) is not None, 30, name, interval=0.002)
        created = rec.created[name]
        started = rec.reached(name, ("STARTED", "SUCCESS", "FAILURE"))
        assert started is not None
        to_started.append(started - created)
        pending = rec.reached(name, ("PENDING", "STARTED", "SUCCESS", "FAILURE"))
        assert pending is not None
        to_pending.append(pending - created)
        obj = stack.api.get(API, "Task", name, "default") or {}
        began = (obj.get("status") or {}).get("startedAt")
        if began:
            from datetime import datetime
            real_start.append(datetime.fromisoformat(began.replace("Z", "+00:00")).timestamp()
                              - rec.created_wall[name])
        to_success.append(rec.first[name]["SUCCESS"] - created)
    shown_started = sum(1 for i in range(n) if "STARTED" in rec.first[f"lat-{i}"])
    ms = lambda v: round(v * 1000, 1)  # noqa: E731
    return {"tasks": n, "task_runtime_s": delay,
            "created_to_first_status_ms": {"p50": ms(pct(to_pending, 0.5)), "p99": ms(pct(to_pending, 0.99))},
            "created_to_task_start_ms": {"p50": ms(pct(real_start, 0.5)), "p99": ms(pct(real_start, 0.99))},
            "created_to_started_ms": {"p50": ms(pct(to_started, 0.5)), "p99": ms(pct(to_started, 0.99)),
                                      "mean": ms(statistics.mean(to_started))},
            "created_to_success_ms": {"p50": ms(pct(to_success, 0.5)), "p99": ms(pct(to_success, 0.99)),
                                      "mean": ms(statistics.mean(to_success))},
            "tasks_shown_started": shown_started}


def burst(stack: Stack, rec: Recorder, n: int) -> dict[str, Any]:
    assert stack.operator is not None
    pid = stack.operator.pid
    cpu0 = proc_cpu_s(pid)
    bench_cpu0 = time.process_time()
    req0 = len(stack.api.requests)
    t0 = time.monotonic()
    for i in range(n):
        stack.api.create(task_body(f"burst-{i}", "k8s.add", i, i))
    created_s = time.monotonic() - t0
    names = [f"burst-{i}" for i in range(n)]
    wait(lambda: all(rec.reached(x, ("SUCCESS",)) is not None for x in names), 600, "burst SUCCESS", 0.1)
    done = max(rec.first[x]["SUCCESS"] for x in names)
    pending = [rec.reached(x, ("PENDING", "STARTED", "SUCCESS")) for x in names]
    success = [rec.first[x]["SUCCESS"] for x in names]
    created = [rec.created[x] for x in names]
    requests = stack.api.requests[req0:]
    kinds: collections.Counter[str] = collections.Counter()
    for r in requests:
        what = f"{r.method.value if hasattr(r.method, 'value') else r.method} {r.resource.plural if r.resource else r.url.path}"
        if r.subresource:
            what += f"/{r.subresource}"
        kinds[what] += 1
    time.sleep(1.0)  # let the trailing Events and finalizer removals land before counting
    requests_all = len(stack.api.requests) - req0
    return {"tasks": n, "create_loop_s": round(created_s, 2),
            "first_create_to_all_success_s": round(done - t0, 2),
            "to_first_status_s": {"p50": round(pct([p - t0 for p in pending if p], 0.5), 2),
                                  "max": round(max(p - t0 for p in pending if p), 2)},
            "to_success_s": {"p50": round(pct([x - t0 for x in success], 0.5), 2)},
            "last_created_s": round(max(created) - t0, 2),
            "emulator_and_bench_cpu_s": round(time.process_time() - bench_cpu0, 2),
            "operator_requests": requests_all, "requests_per_task": round(requests_all / n, 2),
            "requests_by_kind": dict(kinds.most_common()),
            "operator_cpu_s": round(proc_cpu_s(pid) - cpu0, 2),
            "operator_peak_rss_mib": round(proc_peak_rss_mib(pid), 1)}


def restart(stack: Stack, rec: Recorder, n: int) -> dict[str, Any]:
    for f in stack.markers.iterdir():
        f.unlink()
    for i in range(n):
        stack.api.create(task_body(f"rs-{i}", "k8s.mark", i))
        if i == n // 3:
            stack.kill_operator()
            killed_at = i
        if i == 2 * n // 3:
            stack.start_operator()
    names = [f"rs-{i}" for i in range(n)]
    wait(lambda: all(rec.reached(x, ("SUCCESS",)) is not None for x in names), 300, "restart SUCCESS", 0.1)
    counts: collections.Counter[str] = collections.Counter(f.name.split(".")[0] for f in stack.markers.iterdir())
    uids = {o["metadata"]["uid"] for o in stack.api.list(API, "Task", "default") if o["metadata"]["name"] in names}
    return {"tasks": n, "operator_killed_after_creating": killed_at + 1,
            "ran": sum(1 for u in uids if counts.get(u)), "ran_twice": sum(1 for u in uids if counts.get(u, 0) > 1),
            "never_ran": sum(1 for u in uids if not counts.get(u))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=int, default=200)
    parser.add_argument("--latency-delay", type=float, default=0.2, help="task runtime in the latency run (s)")
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--restart", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed")
    workdir = Path(tempfile.mkdtemp(prefix="operator-bench-"))
    stack = Stack(workdir, args.concurrency)
    out: dict[str, Any] = {"workdir": str(workdir)}
    try:
        stack.start_operator()
        rec = Recorder(stack.api)
        rec.start()
        stack.api.create(task_body("warmup", "k8s.add", 1, 1))
        wait(lambda: rec.reached("warmup", ("SUCCESS",)) is not None, 60, "warm-up")
        if args.latency:
            out["latency"] = latency(stack, rec, args.latency, args.latency_delay)
            print(json.dumps(out["latency"]), flush=True)
            stack.clear()
        if args.burst:
            out["burst"] = burst(stack, rec, args.burst)
            print(json.dumps(out["burst"]), flush=True)
            stack.clear()
        if args.restart:
            out["restart"] = restart(stack, rec, args.restart)
            print(json.dumps(out["restart"]), flush=True)
    finally:
        stack.close()
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
