"""Throughput of the embedded SQLite transport, next to Redis and to Huey's SQLite storage.

One run, same machine, same workload: 2 worker processes, N no-op tasks whose results
are stored, a producer in this process sending them one call at a time while the
workers already run. Throughput = N / (first send -> last task settled). Printed as a
table with ratios to celeriac on SQLite.

    .venv/bin/pip install -e '.[bench]'        # huey, for the peer column
    .venv/bin/python bench/sqlite_bench.py     # -n 20000 by default; --only sqlite,huey

What it must not do: share anything between the systems (each gets a fresh file or a
fresh redis-server), or assert anything: it measures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
APPS = HERE / "sqlitebench"
ROOT = HERE.parent
POLL_S = 0.02  #: how often completion is checked


@dataclass
class Figures:
    name: str
    n: int
    drain_rate: float
    """Tasks/s of 2 workers draining a pre-loaded queue (first to last task run, from results)."""
    send_rate: float
    """Calls/s of the producer sending one at a time while the workers run."""
    live_rate: float
    """Tasks/s end to end with that producer (first send to last task settled)."""
    ok: int


def _span_rate(times: list[float]) -> float:
    times = sorted(times)
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(pred: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(POLL_S)


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def run_celeriac(name: str, url: str, n: int) -> Figures:
    import json

    from celeriac import Celeriac

    env = dict(os.environ, CELERIAC_BROKER_URL=url,
               PYTHONPATH=os.pathsep.join([str(APPS), str(ROOT / "runtime")]))
    app = Celeriac("sqlitebench", broker=url, set_as_current=False)
    app.broker.ensure_queues(["default"])

    def values(ids: list[str]) -> list[float]:
        out = []
        for i in range(0, len(ids), 1000):
            for r in app.backend.get_results(ids[i:i + 1000]):
                if r is not None and r.status == "SUCCESS" and r.result is not None:
                    out.append(float(json.loads(r.result)))
        return out

    preloaded = [app.send_task("celeriac_app.noop").id for _ in range(n)]
    worker = subprocess.Popen(
        [sys.executable, "-m", "celeriac.cli", "-A", "celeriac_app", "worker", "-P", "prefork", "-c", "2",
         "-l", "warning"], cwd=APPS, env=env)
    try:
        _wait(lambda: app.broker.queue_stats("default").depth == 0, 600, f"{name} to drain")
        drained = values(preloaded)
        t0 = time.perf_counter()
        ids = [app.send_task("celeriac_app.noop").id for _ in range(n)]
        sent = time.perf_counter()
        _wait(lambda: app.broker.queue_stats("default").depth == 0, 600, f"{name} to finish")
        done = time.perf_counter()
        live = values(ids)
        return Figures(name, n, _span_rate(drained), n / (sent - t0), n / (done - t0),
                       min(len(drained), len(live)))
    finally:
        _stop(worker)
        app.close()


def run_huey(path: Path, n: int) -> Figures:
    env = dict(os.environ, HUEY_SQLITE_PATH=str(path), PYTHONPATH=str(APPS))
    os.environ["HUEY_SQLITE_PATH"] = str(path)
    sys.path.insert(0, str(APPS))
    import huey_app

    h: Any = huey_app.huey
    consumer_bin = shutil.which("huey_consumer", path=str(Path(sys.executable).parent)) or "huey_consumer"

    def values(results: list[Any]) -> list[float]:
        return [float(v) for v in (r.get(preserve=True) for r in results) if v is not None]

    preloaded = [huey_app.noop() for _ in range(n)]
    # Polling delays lowered from huey's defaults (0.1 s growing to 10 s) to 1 ms growing to
    # 50 ms, the bound celeriac's SQLite waiters use, so idle polling does not decide the result.
    consumer = subprocess.Popen([consumer_bin, "huey_app.huey", "-w", "2", "-k", "process", "-d", "0.001",
                                 "-m", "0.05", "-q", "-C"], cwd=APPS, env=env)
    try:
        _wait(lambda: h.result_count() >= n, 600, "huey to drain")
        drained = values(preloaded)
        h.storage.flush_results()
        t0 = time.perf_counter()
        results = [huey_app.noop() for _ in range(n)]
        sent = time.perf_counter()
        _wait(lambda: h.result_count() >= n, 600, "huey to store every result")
        done = time.perf_counter()
        live = values(results)
        return Figures("huey SqliteHuey", n, _span_rate(drained), n / (sent - t0), n / (done - t0),
                       min(len(drained), len(live)))
    finally:
        _stop(consumer, signal.SIGINT)


def run_redis(n: int) -> Figures:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (scripts/bootstrap.sh installs it)")
    port = _free_port()
    tmp = tempfile.mkdtemp(prefix="celeriac-bench-redis-")
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                               "no", "--dir", tmp], stdout=subprocess.DEVNULL)
    try:
        _wait(lambda: _pings(port), 10, "redis-server")
        return run_celeriac("celeriac redis://", f"redis://127.0.0.1:{port}/0", n)
    finally:
        _stop(server)
        shutil.rmtree(tmp, ignore_errors=True)


def _pings(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=20_000, help="tasks per system (default 20000)")
    parser.add_argument("--only", default="sqlite,redis,huey", help="comma-separated: sqlite, redis, huey")
    args = parser.parse_args()
    only = {s.strip() for s in args.only.split(",")}
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="celeriac-sqlite-bench-"))
    rows: list[Figures] = []
    try:
        if "sqlite" in only:
            rows.append(run_celeriac("celeriac sqlite://", f"sqlite:///{tmp / 'celeriac.db'}", args.n))
            print(f"  done: {rows[-1].name}", flush=True)
        if "redis" in only:
            rows.append(run_redis(args.n))
            print(f"  done: {rows[-1].name}", flush=True)
        if "huey" in only:
            rows.append(run_huey(tmp / "huey.db", args.n))
            print(f"  done: {rows[-1].name}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n{args.n} no-op tasks per phase, results stored, 2 worker processes ({os.cpu_count()} CPUs; "
          f"1-min load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after)")
    print("drain: a pre-loaded queue, rate from the first to the last task run (from stored results)")
    print("live:  a producer in this process sends one call at a time while the workers run\n")
    if not rows:
        return 0
    first = rows[0]
    print(f"{'system':<20} {'drain/s':>9} {'ratio':>6} {'send/s':>9} {'live/s':>9} {'ratio':>6} {'ok':>7}")
    for r in rows:
        print(f"{r.name:<20} {r.drain_rate:>9.0f} {r.drain_rate / first.drain_rate:>5.2f}x {r.send_rate:>9.0f} "
              f"{r.live_rate:>9.0f} {r.live_rate / first.live_rate:>5.2f}x {r.ok:>7}")
    print(f"(ratios: each system / {first.name})")
    return 0 if all(r.ok == r.n for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
