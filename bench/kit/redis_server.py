"""A private, throw-away ``redis-server`` for one benchmark run.

Why it exists: figures are only comparable when every system talks to the same Redis,
and we must never touch a Redis someone else runs (6379 may be in use). So the harness
starts its own server on a free loopback port, with persistence off, and kills it on
every exit path. It must not be used for anything but the benchmark.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

from kit import procs

#: How long redis-server may take to answer PING after starting.
START_TIMEOUT_S = 15.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """``with RedisServer() as srv: srv.url`` — starts and always stops redis-server."""

    def __init__(self, *, binary: str = "redis-server", log_path: Path | None = None) -> None:
        self.binary = shutil.which(binary) or binary
        self.log_path = log_path
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    def start(self) -> None:
        """Start on a free port; retries a few ports in case of a bind race."""
        self._dir = tempfile.TemporaryDirectory(prefix="bench-redis-")
        last_error = "not started"
        for _attempt in range(5):
            self.port = free_port()
            cmd = [
                self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", self._dir.name,
                "--daemonize", "no", "--protected-mode", "yes",
            ]
            self._proc = procs.spawn(cmd, log_path=self.log_path, new_session=True)
            if self._wait_ready():
                return
            last_error = f"redis-server did not answer PING on port {self.port}"
            procs.kill_group(self._proc)
            self._proc = None
        self.stop()
        raise RuntimeError(last_error)

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_S
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
        try:
            while time.monotonic() < deadline:
                if self._proc is not None and self._proc.poll() is not None:
                    return False
                try:
                    if client.ping():
                        return True
                except redis.RedisError:
                    time.sleep(0.05)
            return False
        finally:
            client.close()

    def flush(self) -> None:
        client = self.client()
        try:
            client.flushall()
        finally:
            client.close()

    def version(self) -> str:
        client = self.client()
        try:
            return str(client.info("server").get("redis_version", "?"))
        finally:
            client.close()

    def stop(self) -> None:
        if self._proc is not None:
            procs.kill_group(self._proc)
            self._proc = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
