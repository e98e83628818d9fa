"""The main job: start a worker, send it the classic ``add`` task and a few more, show results.

Run it with ``bash scripts/quickstart.sh`` (which installs what it needs first). It uses
the broker named by ``CELERIAC_BROKER_URL`` when set, else the embedded default; the
worker is a real ``celeriac worker`` process, stopped with SIGTERM at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLASSIC = HERE / "classic"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _broker() -> tuple[str, subprocess.Popen[bytes] | None]:
    """The broker URL to use, and a throwaway redis-server if one had to be started."""
    url = os.environ.get("CELERIAC_BROKER_URL")
    if url:
        return url, None
    try:
        import celeriac.backends.sqlite  # noqa: F401
    except ImportError:
        pass
    else:
        path = Path(tempfile.mkdtemp(prefix="celeriac-quickstart-")) / "celeriac.db"
        return f"sqlite:///{path}", None
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("no broker: set CELERIAC_BROKER_URL or install redis-server")
    port = _free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL)
    time.sleep(0.3)
    return f"redis://127.0.0.1:{port}/0", proc


def main() -> int:
    url, redis_proc = _broker()
    os.environ["CELERIAC_BROKER_URL"] = url
    sys.path.insert(0, str(CLASSIC))
    print(f"broker: {url}")
    # The worker logs one INFO line per task received and per task done: into a file, so
    # that they do not bury the results printed here.
    log = Path(tempfile.mkdtemp(prefix="celeriac-quickstart-log-")) / "worker.log"
    print(f"worker log: {log}  (tail -f it to watch every task)")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celeriac.cli", "-A", "tasks", "worker", "--concurrency=2",
         "--loglevel=info", "-Q", "add,default", "--logfile", str(log)],
        cwd=CLASSIC, env=dict(os.environ, PYTHONPATH=str(CLASSIC)),
    )
    try:
        from tasks import add, mul

        t0 = time.perf_counter()
        result = add.delay(2, 3)
        value = result.get(timeout=30)
        print(f"add.delay(2, 3) -> {value}  state={result.state}  "
              f"in {1000 * (time.perf_counter() - t0):.1f} ms (worker start-up included)")
        t0 = time.perf_counter()
        results = [add.delay(i, i) for i in range(100)]
        values = [r.get(timeout=30) for r in results]
        print(f"100 x add: {values[:5]}... all SUCCESS={all(r.state == 'SUCCESS' for r in results)}  "
              f"in {1000 * (time.perf_counter() - t0):.1f} ms")
        t0 = time.perf_counter()
        r = mul.delay(6, 7)
        print(f"mul.delay(6, 7) -> {r.get(timeout=30)}  state={r.state}  "
              f"round trip {1000 * (time.perf_counter() - t0):.2f} ms")
        try:
            from celeriac.canvas import chain, group  # type: ignore[attr-defined]
        except ImportError:
            pass
        else:
            t0 = time.perf_counter()
            c = chain(add.s(2, 2), mul.s(10)).apply_async()
            print(f"chain(add(2, 2), mul(10)) -> {c.get(timeout=30)}  "
                  f"in {1000 * (time.perf_counter() - t0):.1f} ms")
            t0 = time.perf_counter()
            g = group(add.s(i, i) for i in range(10)).apply_async()
            print(f"group(add(i, i) for i in range(10)) -> {g.get(timeout=30)}  "
                  f"in {1000 * (time.perf_counter() - t0):.1f} ms")
        return 0
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(60)
        lines = log.read_text().splitlines() if log.exists() else []
        print(f"worker stopped (exit code {code}); {len(lines)} log lines in {log}")
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(10)


if __name__ == "__main__":
    sys.exit(main())
