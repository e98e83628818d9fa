"""``/livez`` and ``/readyz`` of ``celeriac operator`` (``--health-port``).

Why it exists: Kubernetes probes must cost nothing and must not restart a healthy standby.
``/livez`` answers 200 while the event loop turns (a heartbeat at most 30 s old; a wedged
loop does not answer at all); ``/readyz`` answers 200 on the leader once kopf is running
and the broker answered, and on a standby while it can read the Lease (it is ready to take
over), else 503. Neither makes a broker or API round trip.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

#: A heartbeat older than this makes ``/livez`` fail.
LIVENESS_WINDOW_S = 30.0


class Health:
    """What the probes report; the CLI updates it."""

    def __init__(self) -> None:
        self.role = "starting"
        self.heartbeat = time.monotonic()
        self.ready: Callable[[], bool] = lambda: False

    def beat(self) -> None:
        self.heartbeat = time.monotonic()

    async def livez(self, _: web.Request) -> web.Response:
        age = time.monotonic() - self.heartbeat
        if age > LIVENESS_WINDOW_S:
            return web.Response(status=503, text=f"event loop heartbeat {age:.0f}s old\n")
        return web.Response(text=f"ok ({self.role})\n")

    async def readyz(self, _: web.Request) -> web.Response:
        if self.ready():
            return web.Response(text=f"ready ({self.role})\n")
        return web.Response(status=503, text=f"not ready ({self.role})\n")


async def serve(health: Health, *, port: int, host: str = "0.0.0.0") -> web.AppRunner:
    """Start the probe server; the caller cleans the returned runner up."""
    app = web.Application()
    app.router.add_get("/livez", health.livez)
    app.router.add_get("/readyz", health.readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
