"""Chord of N no-op tasks (default 10,000): celeriac against Celery on the same Redis, one run.

Why it exists: the canvas issue's benchmark. A chord is where Celery's design shows (its
Redis backend counts header results with INCR per task and fetches them all at the end);
celeriac joins each result in the same Lua step as the ack and fires the callback from
there. Both run 2 worker processes (``prefork -c 2``) against one private redis-server on
a free port, each task module written to a temp dir; the producer of each runs in its own
venv (celeriac: the repo's ``.venv``; Celery: ``bench/.venv-peers`` from
``bench/setup_peers.sh``). The figure is wall time from the first header publish to the
callback's result in the producer (publish + run + join + callback), median of the runs.
It does not touch the shared benchmark harness in ``bench/``; it only reads the venvs.

    .venv/bin/python bench/canvas_bench.py [--n 10000] [--runs 1]
"""

from __future__ import annotations

import argparse
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CELERIAC_PY = ROOT / ".venv" / "bin" / "python"
PEERS = HERE / ".venv-peers" / "bin"

CELERIAC_TASKS = """
from celeriac import Celeriac
app = Celeriac("cbench")
app.conf.result_expires = 3600

@app.task(name="cbench.noop")
def noop(i):
    return i

@app.task(name="cbench.count")
def count(values):
    return len(values)
"""

CELERY_TASKS = """
import os
from celery import Celery
URL = os.environ["BENCH_REDIS_URL"]
app = Celery("cbench", broker=URL, backend=URL)
app.conf.update(broker_connection_retry_on_startup=True, result_expires=3600,
                worker_redirect_stdouts=False)

@app.task(name="cbench.noop")
def noop(i):
    return i

@app.task(name="cbench.count")
def count(values):
    return len(values)
"""

PRODUCER = """
import json, sys, time
n, runs, kind = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if kind == "celeriac":
    from celeriac.canvas import chord
else:
    from celery import chord
from {module} import app, count, noop

import datetime as dt

def one(size):
    wall0, t0 = time.time(), time.perf_counter()
    res = chord([noop.s(i) for i in range(size)], count.s()).apply_async()
    published = time.perf_counter() - t0
    value = res.get(timeout=1800)
    got = time.perf_counter() - t0
    assert value == size, value
    done = res.date_done
    if isinstance(done, str):
        done = dt.datetime.fromisoformat(done)
    if done.tzinfo is None:
        done = done.replace(tzinfo=dt.timezone.utc)
    return {"get": got, "callback_done": done.timestamp() - wall0, "published": published}

one(100)  # warm-up: worker pools up, connections open
out = [one(n) for _ in range(runs)]
print(json.dumps(out))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def flush(url: str) -> None:
    port = url.rsplit(":", 1)[1].split("/")[0]
    subprocess.run(["redis-cli", "-p", port, "FLUSHALL"], check=True, stdout=subprocess.DEVNULL)


def run_peer(kind: str, workdir: Path, url: str, n: int, runs: int) -> list[dict[str, float]]:
    module = f"{kind}_cbench_tasks"
    (workdir / f"{module}.py").write_text(CELERIAC_TASKS if kind == "celeriac" else CELERY_TASKS)
    (workdir / f"{kind}_producer.py").write_text(PRODUCER.replace("{module}", module))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(workdir), str(ROOT / "runtime")]),
               CELERIAC_BROKER_URL=url, BENCH_REDIS_URL=url)
    if kind == "celeriac":
        worker_cmd = [str(CELERIAC_PY), "-m", "celeriac.cli", "-A", module, "worker", "-P", "prefork", "-c", "2",
                      "--loglevel", "warning"]
        python = str(CELERIAC_PY)
    else:
        worker_cmd = [str(PEERS / "celery"), "-A", module, "worker", "-P", "prefork", "-c", "2",
                      "--loglevel", "warning", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        python = str(PEERS / "python")
    flush(url)
    worker = subprocess.Popen(worker_cmd, cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        done = subprocess.run([python, str(workdir / f"{kind}_producer.py"), str(n), str(runs), kind],
                              cwd=workdir, env=env, capture_output=True, text=True, timeout=3600)
        if done.returncode != 0:
            raise SystemExit(f"{kind} producer failed:\n{done.stderr[-3000:]}")
        return [{k: float(v) for k, v in run.items()} for run in json.loads(done.stdout.strip().splitlines()[-1])]
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="header tasks per chord")
    parser.add_argument("--runs", type=int, default=1,
                        help="timed chords per system (Celery's producer needs minutes per 10,000 chord)")
    parser.add_argument("--only", choices=["celeriac", "celery"], help="run one system")
    args = parser.parse_args()
    # SIGTERM (e.g. from `timeout`) unwinds through the finally blocks: workers and the
    # private redis-server are stopped instead of left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if not (PEERS / "celery").exists() and args.only != "celeriac":
        raise SystemExit("bench/.venv-peers has no celery: run bench/setup_peers.sh first")
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        raise SystemExit("redis-server not found")
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="canvas-bench-"))
    server = subprocess.Popen([redis_server, "--port", str(port), "--save", "", "--appendonly", "no",
                               "--dir", str(workdir)], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        time.sleep(0.3)
        figures: dict[str, list[dict[str, float]]] = {}
        medians: dict[str, dict[str, float]] = {}
        for kind in ("celeriac", "celery"):
            if args.only and kind != args.only:
                continue
            figures[kind] = runs = run_peer(kind, workdir, url, args.n, args.runs)
            medians[kind] = med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            print(f"{kind:9s} chord of {args.n:,}: get() returned after {med['get']:.3f} s "
                  f"({args.n / med['get']:,.0f} tasks/s); callback done at {med['callback_done']:.3f} s; "
                  f"header published in {med['published']:.3f} s (medians of {len(runs)})", flush=True)
        if len(medians) == 2:
            for key in ("get", "callback_done"):
                ratio = medians["celery"][key] / medians["celeriac"][key]
                print(f"Celery / celeriac ({key}): {ratio:.1f}x")
        print(json.dumps({"n": args.n, "seconds": figures}))
        return 0
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
