"""What ``broker_wait_replicas = 1`` costs: throughput with and without WAIT, one run.

Why it exists: the Sentinel issue's figure. With the option, every publish and every
settle (acks, results, follow-up messages) is followed by ``WAIT 1 <timeout>`` in the same
pipeline, so it returns only once a replica has the write. The cost is one replication
round trip per write, paid by each ``delay()`` and by each settle batch of a worker.

It starts a private primary and one replica (``redis-server`` on free localhost ports, no
persistence, as in the failover tests) and measures, for ``broker_wait_replicas`` 0 and 1:

- ``delay()`` one by one from one thread (messages/s);
- ``apply_many`` (bulk publish, batches of messages per round trip; messages/s);
- a ``celeriac worker -P prefork -c 2`` draining N no-op tasks with results (tasks/s,
  from the bulk publish to an empty queue).

Prints one table with the ratios (wait / no wait) and writes ``--json`` if asked.

    .venv/bin/python bench/replica_wait_bench.py [--n 5000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

TASKS = '''
from celeriac import Celeriac
app = Celeriac("rwbench")

@app.task(name="rwbench.noop")
def noop(i):
    return i
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(binary: str, port: int, d: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(d),
                             "--dbfilename", f"{port}.rdb", "--save", "", "--appendonly", "no", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_until(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)


def replica_online(primary: int) -> bool:
    import redis

    try:
        info = redis.Redis(port=primary).info("replication")
    except redis.RedisError:
        return False
    return "online" in str(info.get("slave0", ""))


def measure(url: str, wait: int, n: int, tasks_dir: Path) -> dict[str, float]:
    sys.path.insert(0, str(tasks_dir))
    from celeriac import Celeriac

    app = Celeriac("rwbench", broker=url, set_as_current=False, broker_wait_replicas=wait)
    noop = app.task(name="rwbench.noop")(lambda i: i)
    import redis

    redis.Redis.from_url(url).flushall()
    out: dict[str, float] = {}
    t = time.perf_counter()
    for i in range(n):
        noop.delay(i)
    out["delay() msgs/s"] = n / (time.perf_counter() - t)
    redis.Redis.from_url(url).flushall()
    app.broker._known_queues.clear()  # (the flush dropped the queue registry)
    t = time.perf_counter()
    noop.apply_many([(i,) for i in range(n * 4)])
    out["apply_many msgs/s"] = n * 4 / (time.perf_counter() - t)
    redis.Redis.from_url(url).flushall()
    app.broker._known_queues.clear()

    env = dict(os.environ, CELERIAC_BROKER_URL=url, CELERIAC_BROKER_WAIT_REPLICAS=str(wait),
               PYTHONPATH=os.pathsep.join([str(tasks_dir), str(ROOT / "runtime")]))
    worker = subprocess.Popen([sys.executable, "-m", "celeriac.cli", "-A", "rwtasks", "worker", "-P", "prefork",
                               "-c", "2", "-l", "warning"], env=env, cwd=tasks_dir,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(lambda: bool(app.live_workers()), 60, "the worker to start")
        t = time.perf_counter()
        noop.apply_many([(i,) for i in range(n)])

        def drained() -> bool:
            s = app.queue_stats(["default"])["default"]
            return s.backlog == 0

        wait_until(drained, 300, "the worker to drain the queue")
        out["worker tasks/s"] = n / (time.perf_counter() - t)
    finally:
        worker.terminate()
        worker.wait(60)
        app.close()
        sys.path.remove(str(tasks_dir))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    d = Path(tempfile.mkdtemp(prefix="rwbench-"))
    (d / "rwtasks.py").write_text(TASKS)
    primary, replica = free_port(), free_port()
    procs = [start_redis(binary, primary, d), start_redis(binary, replica, d, "--replicaof", "127.0.0.1", str(primary))]
    try:
        wait_until(lambda: replica_online(primary), 30, "the replica to sync")
        url = f"redis://127.0.0.1:{primary}/0"
        results = {wait: measure(url, wait, args.n, d) for wait in (0, 1)}
    finally:
        for p in procs:
            p.kill()
            p.wait(10)
        shutil.rmtree(d, ignore_errors=True)
    print(f"| n={args.n} | broker_wait_replicas=0 | =1 | ratio |")
    print("|---|---|---|---|")
    for key in results[0]:
        a, b = results[0][key], results[1][key]
        print(f"| {key} | {a:,.0f} | {b:,.0f} | {b / a:.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"n": args.n, "results": results}, indent=2))


if __name__ == "__main__":
    main()
