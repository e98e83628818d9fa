"""A broker or an API server that stops answering never stalls the operator's event loop.

Every runtime call (``queue.Runtime``) and every API request (``kube.Kube``) is blocking
underneath; the operator's loop also carries kopf's watch streams and the ``/livez``
probe, so those calls must run in their thread pools. Here the broker and the API server
are TCP listeners that accept connections and never send a byte (a stalled network or a
hung server): more calls than there are threads hang on them, while the loop must keep
turning and ``/livez`` must keep answering. A call made on the loop would hold it until
the silent server lets go (no socket timeout is set: forever), so a one-second bound on
every tick and probe tells the two apart even on a loaded machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import aiohttp
import kubernetes
import pytest

from celeriac_operator import health as health_mod
from celeriac_operator.kube import Kube, ObjectRef
from celeriac_operator.queue import DEFAULT_THREADS, Runtime
from helpers import free_port


class Silent:
    """A TCP server that accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = int(self.sock.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.sock.accept()
                self.accepted.append(conn)

    def close(self) -> None:
        """Stop listening and drop the connections: the hung calls fail and their threads end."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        for conn in self.accepted:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()


@pytest.fixture
def silent() -> Iterator[Silent]:
    server = Silent()
    yield server
    server.close()


def _kube(port: int) -> Kube:
    configuration = kubernetes.client.Configuration()
    configuration.host = f"http://127.0.0.1:{port}"
    return Kube(kubernetes.client.ApiClient(configuration), threads=2)


@pytest.mark.asyncio
async def test_hung_broker_and_api_calls_leave_the_loop_and_livez_free(silent: Silent) -> None:
    runtime = Runtime.connect(f"redis://127.0.0.1:{silent.port}/0")
    kube = _kube(silent.port)
    health = health_mod.Health()
    health.role = "leader"
    port = free_port()
    runner = await health_mod.serve(health, port=port, host="127.0.0.1")
    ref = ObjectRef(plural="tasks", kind="Task", namespace="default", name="t", uid="u")
    calls = [asyncio.create_task(c) for c in (
        *(runtime.lookup_tasks(["a"]) for _ in range(DEFAULT_THREADS + 2)),
        runtime.queue_stats(["default"]), runtime.live_workers(),
        runtime.read_events("0", count=10, block_s=0.0),
        *(kube.patch_status(ref, {"state": "PENDING"}) for _ in range(4)),
    )]
    try:
        gaps: list[float] = []
        probes: list[float] = []
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                before = time.monotonic()
                await asyncio.sleep(0.01)
                gaps.append(time.monotonic() - before)
                if len(gaps) % 10 == 0:
                    health.beat()
                    started = time.monotonic()
                    async with session.get(f"http://127.0.0.1:{port}/livez") as response:
                        assert response.status == 200
                    probes.append(time.monotonic() - started)
        assert max(gaps) < 1.0, f"the event loop stalled {max(gaps):.3f}s"
        assert probes and max(probes) < 1.0, f"/livez took {max(probes):.3f}s"
        hung = sum(1 for c in calls if not c.done())
        assert hung >= DEFAULT_THREADS + 2, "the silent servers should have held the calls"
    finally:
        silent.close()
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        await runner.cleanup()
        await asyncio.to_thread(runtime.close)
        kube.close()
