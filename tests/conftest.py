"""Shared fixtures: a real ``redis-server`` on a free port, and workers to run tasks.

The Redis server is started by the suite itself (never the one that may run on 6379),
with append-only persistence so fault tests can kill and restart it without losing
acknowledged writes. If ``redis-server`` is missing, tests that need it are skipped
locally and fail in CI (``CI=true``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = Path(__file__).resolve().parent / "apps"
# Tests import small shared helpers (``from helpers import wait_for``) and the task
# modules under tests/apps by plain name.
sys.path[:0] = [str(Path(__file__).resolve().parent), str(APPS)]


from helpers import free_port, wait_for  # noqa: E402

# The Kubernetes API emulator's fixture ``kube_api`` (tests/kubeapi/).
pytest_plugins = ["kubeapi.fixture"]


class RedisServer:
    """A redis-server process owned by the test suite."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="celeriac-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for(self.ping, 10, what="redis-server to accept connections")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL the server (what a crash looks like)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def flush(self) -> None:
        import redis

        client = redis.Redis(port=self.port)
        client.flushall()
        client.script_flush()
        client.close()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed (CI must install it)")
        pytest.skip("redis-server is not installed")
    server = RedisServer(binary)
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of a flushed, running Redis."""
    if redis_server.proc is None or redis_server.proc.poll() is not None:
        redis_server.start()
    redis_server.flush()
    return redis_server.url


def _sentinel_cluster(replicas: int) -> Any:
    from sentinel_helpers import binaries, started_cluster

    if binaries() is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server and redis-sentinel must be installed (scripts/bootstrap.sh)")
        pytest.skip("redis-sentinel is not installed")
    return started_cluster(replicas=replicas)


@pytest.fixture(scope="session")
def sentinel_cluster_shared() -> Iterator[Any]:
    """A primary, a replica and three sentinels (tests/sentinel_helpers.py) for tests that
    never fail it over (flush it with ``.flush()``)."""
    cluster = _sentinel_cluster(1)
    yield cluster
    cluster.cleanup()


@pytest.fixture
def sentinel_cluster() -> Iterator[Any]:
    """A fresh primary, two replicas and three sentinels of the test's own (it may kill nodes)."""
    cluster = _sentinel_cluster(2)
    yield cluster
    cluster.cleanup()


@pytest.fixture
def make_app(redis_url: str) -> Iterator[Callable[..., Any]]:
    """Factory of apps bound to the test Redis; closes them afterwards."""
    from celeriac import Celeriac

    apps: list[Any] = []

    def make(name: str = "t", **settings: Any) -> Any:
        settings.setdefault("broker", redis_url)
        app = Celeriac(name, **settings)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()


class ThreadWorker:
    """A consumer running in a thread of the test process (no signals, no fork)."""

    def __init__(self, app: Any, queues: Sequence[str] | None, pool: str, concurrency: int) -> None:
        from celeriac.worker.consumer import Consumer
        from celeriac.worker.worker import Worker

        w = Worker(app, queues=queues, pool=pool, concurrency=concurrency, hostname="test@worker")
        self.consumer = Consumer(app, w.queues, w._make_pool(), hostname=w.hostname)
        app.broker.ensure_queues(w.queues)
        self.thread = threading.Thread(target=self.consumer.run, name="test-worker", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        self.consumer.stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "worker did not stop"


@pytest.fixture
def worker() -> Iterator[Callable[..., ThreadWorker]]:
    """``worker(app, pool='threads', queues=None, concurrency=2)`` starts an in-process worker."""
    started: list[ThreadWorker] = []

    def start(app: Any, *, pool: str = "threads", queues: Sequence[str] | None = None,
              concurrency: int = 2) -> ThreadWorker:
        w = ThreadWorker(app, queues, pool, concurrency)
        started.append(w)
        return w

    yield start
    for w in started:
        if w.thread.is_alive():
            w.stop()


class CliWorker:
    """``celeriac worker`` as a real subprocess (what fault tests kill)."""

    def __init__(self, args: Sequence[str], env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celeriac.cli", *args], env=env, cwd=cwd,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.output = b""

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def kill_tree(self) -> None:
        """SIGKILL the worker and all its children (a node dying)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def wait(self, timeout: float) -> int:
        out, _ = self.proc.communicate(timeout=timeout)
        self.output += out or b""
        return self.proc.returncode

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.wait(40)
            except subprocess.TimeoutExpired:
                self.kill_tree()


@pytest.fixture
def cli_worker(redis_url: str) -> Iterator[Callable[..., CliWorker]]:
    """``cli_worker('-A', 'basic', 'worker', ...)`` runs the CLI with tests/apps on the path."""
    started: list[CliWorker] = []

    def start(*args: str, env: dict[str, str] | None = None) -> CliWorker:
        full_env = dict(os.environ)
        full_env["CELERIAC_BROKER_URL"] = redis_url
        full_env["PYTHONPATH"] = os.pathsep.join([str(APPS), str(ROOT / "runtime"), full_env.get("PYTHONPATH", "")])
        full_env.update(env or {})
        w = CliWorker(args, full_env, APPS)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()
        if w.proc.poll() is None:
            w.kill_tree()


def pytest_configure(config: pytest.Config) -> None:
    sys.path.insert(0, str(APPS))
