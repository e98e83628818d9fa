"""Health endpoints that cost nothing: ``/livez`` and ``/readyz`` for Kubernetes probes.

Why it exists: a probe must never need ``inspect ping`` (a broker round trip through every
worker, seconds of CPU, and a restart whenever the broker blips: celery/celery#4079).
Here the loops being probed write a few floats as they go (:class:`Progress`; across
prefork children, a slot of shared memory: :class:`SharedProgress`), and a tiny HTTP
server in a daemon thread answers from them. Neither endpoint touches the broker.

- ``/livez``: 200 while the main loop made progress within ``stale_s`` (or is inside a
  task, which time limits bound). A broker outage does NOT fail it: restarting the
  process would not bring the broker back.
- ``/readyz``: 200 while the process is connected and consuming (worker) or leading or
  standing by with a working broker connection (beat); 503 with the reason otherwise,
  and from the moment a shutdown begins.

What it must not do: any I/O in a request, or block the loops it watches.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger(__name__)

STALE_S = 30.0  #: /livez fails when the main loop made no progress for this long
BROKER_STALE_S = 30.0  #: /readyz fails when no broker call succeeded for this long

Check = Callable[[], tuple[bool, str]]  #: (healthy, reason) of one endpoint


class Progress:
    """What one loop tells its probes: plain attribute stores, no lock (floats are atomic).

    ``tick`` (monotonic) is stored at each loop iteration; ``broker_ok`` (monotonic, 0:
    never) at each successful broker call and ``broker_failed`` at each failed one;
    ``busy`` while the loop's own thread runs a task (a solo or prefork-child consumer);
    ``stopping`` once a shutdown began.
    """

    __slots__ = ("broker_failed", "broker_ok", "busy", "started", "stopping", "tick")

    def __init__(self) -> None:
        now = time.monotonic()
        self.tick = now
        self.started = now
        self.broker_ok = 0.0
        self.broker_failed = 0.0
        self.busy = False
        self.stopping = False

    def live(self, stale_s: float = STALE_S) -> tuple[bool, str]:
        if self.busy:
            return True, "running a task"
        idle = time.monotonic() - self.tick
        if idle > stale_s:
            return False, f"main loop made no progress for {idle:.0f}s"
        return True, "ok"

    def ready(self, stale_s: float = BROKER_STALE_S) -> tuple[bool, str]:
        if self.stopping:
            return False, "shutting down"
        if self.broker_ok == 0.0:
            return False, "not connected to the broker yet"
        if self.broker_failed > self.broker_ok:
            return False, "broker unreachable"
        if time.monotonic() - self.broker_ok > stale_s and not self.busy:
            return False, f"no broker call succeeded for {time.monotonic() - self.broker_ok:.0f}s"
        return True, "ok"


#: Doubles per slot of :class:`SharedProgress`: tick, broker_ok, broker_failed, busy, stopping, used.
_FIELDS = 6


class SharedProgress:
    """:class:`Progress` slots in shared memory, made by a prefork supervisor before it forks:
    each child writes its own slot, the supervisor's probes read them all."""

    def __init__(self, slots: int) -> None:
        ctx = multiprocessing.get_context("fork")
        self.slots = slots
        self._array: Any = ctx.RawArray(ctypes.c_double, slots * _FIELDS)
        self._free = list(range(slots))

    def claim(self) -> int | None:
        """A slot for a new child (None when all are taken), marked used and fresh."""
        if not self._free:
            return None
        slot = self._free.pop(0)
        base = slot * _FIELDS
        now = time.monotonic()
        for i, value in enumerate((now, 0.0, 0.0, 0.0, 0.0, 1.0)):
            self._array[base + i] = value
        return slot

    def release(self, slot: int | None) -> None:
        if slot is not None:
            self._array[slot * _FIELDS + 5] = 0.0
            self._free.append(slot)

    def write(self, slot: int, p: Progress) -> None:
        """Copy a child's progress into its slot (a few stores; called by the child)."""
        a, base = self._array, slot * _FIELDS
        a[base] = p.tick
        a[base + 1] = p.broker_ok
        a[base + 2] = p.broker_failed
        a[base + 3] = 1.0 if p.busy else 0.0
        a[base + 4] = 1.0 if p.stopping else 0.0

    def read(self, slot: int) -> Progress:
        a, base = self._array, slot * _FIELDS
        p = Progress()
        p.tick, p.broker_ok, p.broker_failed = a[base], a[base + 1], a[base + 2]
        p.busy, p.stopping = a[base + 3] > 0, a[base + 4] > 0
        return p

    def used(self) -> list[int]:
        return [s for s in range(self.slots) if self._array[s * _FIELDS + 5] > 0]


class HealthServer:
    """``GET /livez`` and ``GET /readyz`` (200 ``ok`` / 503 reason) on ``bind:port``, served
    by a daemon thread; anything else is 404."""

    def __init__(self, port: int, live: Check, ready: Check, *, bind: str = "0.0.0.0") -> None:
        checks = {"/livez": live, "/readyz": ready}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                check = checks.get(self.path.split("?", 1)[0])
                if check is None:
                    self._answer(404, "not found: /livez or /readyz")
                    return
                try:
                    healthy, reason = check()
                except Exception as exc:  # a probe answers, whatever happens
                    healthy, reason = False, f"check failed: {exc}"
                self._answer(200 if healthy else 503, reason)

            do_HEAD = do_GET

            def _answer(self, code: int, text: str) -> None:
                body = (text + "\n").encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return  # probes every few seconds: no log line each

        self._server = ThreadingHTTPServer((bind, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="celeriac-health", daemon=True)
        self._thread.start()
        logger.info("health endpoints on %s:%d (/livez, /readyz)", bind, self.port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
