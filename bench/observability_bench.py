"""Cost of events + metrics: worker throughput with both on vs both off.

Method: one private redis-server; for each mode (alternating, ``--reps`` times), flush,
publish N no-op tasks (results stored), start ``celeriac worker -P prefork -c 2`` (with
``--metrics-port`` and events on, or events off and no metrics), wait until every result
is stored, and compute throughput from the results' own timestamps (N / (last date_done -
first date_done)), so worker start-up is not counted. Prints the median per mode and the
median of the on/off ratios within each rep (paired: this machine's speed drifts by more
than the effect between reps, so use ``--reps 10`` or more). Run: ``.venv/bin/python bench/observability_bench.py [--tasks 20000]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "runtime"))
sys.path.insert(0, str(ROOT / "tests" / "apps"))

from celeriac import Celeriac  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A private redis-server on a free port, persistence off (never 6379)."""

    def __enter__(self) -> RedisServer:
        import redis

        port = _free_port()
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL)
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        client.close()
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _redis_cpu(app: Celeriac) -> float:
    info = app.broker.client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def run_once(url: str, n: int, mode: str) -> tuple[float, float, float]:
    """(tasks/s, worker CPU µs per task, redis CPU µs per task) of one drain; ``mode`` is
    "off", "on" (events + metrics), "events" or "metrics"."""
    events = mode in ("on", "events")
    app = Celeriac("observeapp", broker=url, worker_send_task_events=events, task_send_sent_event=events)
    try:
        app.broker.client.flushall()
        ids = []
        batch = []
        for _ in range(n):
            _msg, out = app.prepare("obs.noop", (), {}, {})
            batch.append(out)
            ids.append(out.task_id)
            if len(batch) == 1000:
                app.publish_now(batch)
                batch = []
        if batch:
            app.publish_now(batch)
        env = dict(os.environ, CELERIAC_BROKER_URL=url,
                   PYTHONPATH=os.pathsep.join([str(ROOT / "tests" / "apps"), str(ROOT / "runtime")]),
                   CELERIAC_WORKER_SEND_TASK_EVENTS="true" if events else "false")
        args = [sys.executable, "-m", "celeriac.cli", "-A", "observeapp", "worker", "-P", "prefork", "-c", "2",
                "-l", "warning"]
        if mode in ("on", "metrics"):
            args += ["--metrics-port", str(_free_port())]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        redis_before = _redis_cpu(app)
        proc = subprocess.Popen(args, env=env, cwd=ROOT / "tests" / "apps", start_new_session=True)
        try:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                s = app.broker.queue_stats("default")
                if s.ready + s.in_flight == 0:
                    break
                time.sleep(0.2)
            records = []
            for i in range(0, n, 2000):
                records.extend(app.backend.get_results(ids[i:i + 2000]))
            redis_cpu = _redis_cpu(app) - redis_before
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(60)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        done = [r.date_done for r in records if r is not None and r.date_done is not None]
        if len(done) != n:
            raise SystemExit(f"only {len(done)} of {n} results stored")
        return n / (max(done) - min(done)), cpu / n * 1e6, redis_cpu / n * 1e6
    finally:
        app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--split", action="store_true", help="Also measure events only and metrics only.")
    a = parser.parse_args()
    modes = ["off", "on", "events", "metrics"] if a.split else ["off", "on"]
    figures: dict[str, list[tuple[float, float, float]]] = {m: [] for m in modes}
    with RedisServer() as server:
        for rep in range(a.reps):
            for mode in modes if rep % 2 == 0 else list(reversed(modes)):
                tps, cpu_us, redis_us = run_once(server.url, a.tasks, mode)
                figures[mode].append((tps, cpu_us, redis_us))
                print(f"rep {rep + 1} {mode:<8}: {tps:8.0f} tasks/s  worker CPU {cpu_us:6.1f} µs/task  "
                      f"redis CPU {redis_us:5.1f} µs/task", flush=True)
    load = os.getloadavg()
    print(f"\n{a.tasks} no-op tasks, prefork x2, results stored; load average {load[0]:.1f}")
    for i, what, unit in ((0, "throughput", "tasks/s"), (1, "worker CPU", "µs/task"), (2, "redis CPU", "µs/task")):
        off = statistics.median(f[i] for f in figures["off"])
        for mode in modes[1:]:
            value = statistics.median(f[i] for f in figures[mode])
            # Each rep ran every mode back to back: the ratio within a rep cancels most of
            # the machine's drift between reps (which is larger than the effect measured).
            paired = sorted(f[i] / o[i] for f, o in zip(figures[mode], figures["off"], strict=True))
            print(f"{what:<11} {mode:<8} median {value:8.1f} vs off {off:8.1f} {unit:<8} "
                  f"paired ratio median {statistics.median(paired):.3f} "
                  f"({(statistics.median(paired) - 1) * 100:+.1f} %, range {paired[0]:.3f}-{paired[-1]:.3f})")

if __name__ == "__main__":
    main()
