"""Wiring of a worker: choose the pool, install signal handlers, run until told to stop.

SIGTERM or SIGINT: stop fetching, give prefetched messages back at once, let running tasks
finish within ``worker_shutdown_timeout``, hand back what still runs, exit 0. A second
signal makes it immediate (running tasks are handed back for redelivery).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from celeriac import signals
from celeriac.health import HealthServer, SharedProgress
from celeriac.worker.consumer import Consumer, Pool
from celeriac.worker.pools.prefork import PreforkSupervisor

if TYPE_CHECKING:
    from celeriac.app import Celeriac

logger = logging.getLogger(__name__)

POOLS = ("prefork", "threads", "asyncio", "solo", "gevent", "eventlet")  #: the pools a worker can run
ASYNCIO_DEFAULT_CONCURRENCY = 100  #: coroutines at once when ``--concurrency`` is not given
GEVENT_DEFAULT_CONCURRENCY = 1000  #: greenlets at once (celeriac.worker.pools.gevent)
EVENTLET_DEFAULT_CONCURRENCY = 1000  #: green threads at once (celeriac.worker.pools.eventlet)
DEFAULT_PREFETCH_MULTIPLIER = 4  #: ``worker_prefetch_multiplier``'s default (config.Settings)


def _mask(url: str) -> str:
    """The URL with its passwords hidden (each part of a ``;``-joined Sentinel URL)."""
    return ";".join(_mask_one(part) for part in url.split(";"))


def _mask_one(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{'***' if ':' in creds else creds}@{host}"
    return url


class Worker:
    """A worker process (and, for prefork, its children)."""

    def __init__(self, app: Celeriac, *, queues: Sequence[str] | None = None, pool: str | None = None,
                 concurrency: int | None = None, hostname: str | None = None,
                 prefetch_multiplier: int | None = None, shutdown_timeout: float | None = None,
                 optimization: str | None = None, autoscale: tuple[int, int] | None = None,
                 embed_beat: bool = False) -> None:
        app.check()
        conf = app.conf
        self.app = app
        self.pool_name = pool or conf.worker_pool
        if self.pool_name not in POOLS:
            raise ValueError(f"unknown pool {self.pool_name!r}; use one of {', '.join(POOLS)}")
        default_concurrency = {"asyncio": ASYNCIO_DEFAULT_CONCURRENCY, "gevent": GEVENT_DEFAULT_CONCURRENCY,
                               "eventlet": EVENTLET_DEFAULT_CONCURRENCY}.get(
            self.pool_name, os.cpu_count() or 1)
        self.concurrency = concurrency or conf.worker_concurrency or default_concurrency
        if self.pool_name == "solo":
            self.concurrency = 1
        self.prefetch = prefetch_multiplier or conf.worker_prefetch_multiplier
        self.queues = list(queues) if queues else app.router.consumed_queues()
        self.hostname = expand_hostname(hostname or "celeriac@%h")
        # Fair (Celery's -O fair, the prefork default): a child fetches only when idle, so
        # long tasks are never held by a busy child while another sits idle (short tasks
        # still come in batches: the prefetch window). "default": the multiplier per child.
        # A prefetch multiplier asked for explicitly (option or setting) is honoured as is.
        asked = prefetch_multiplier is not None or conf.worker_prefetch_multiplier != DEFAULT_PREFETCH_MULTIPLIER
        self.optimization = optimization or ("fair" if self.pool_name == "prefork" and not asked else "default")
        self.autoscale = autoscale
        if autoscale is not None and self.pool_name != "prefork":
            raise ValueError("--autoscale works with the prefork pool (-P prefork)")
        self.embed_beat = embed_beat
        if shutdown_timeout is not None:
            conf.worker_shutdown_timeout = shutdown_timeout
        self.consumer: Consumer | None = None
        self._signals = 0
        self.options: dict[str, Any] = {"queues": self.queues, "pool": self.pool_name,
                                        "concurrency": self.concurrency, "hostname": self.hostname}
        """What the worker was started with (``celeryd_init``'s ``options``)."""

    def banner(self) -> str:
        app = self.app
        tasks = sorted(n for n in app.tasks if not n.startswith("celeriac."))
        lines = [
            f"celeriac worker {self.hostname} v{_version()}",
            f"  app:         {app.main or '__main__'}",
            f"  broker:      {_mask(app.broker_url)}",
            f"  results:     {_mask(app.result_url)}",
            f"  pool:        {self.pool_name} x {self.concurrency} (prefetch x{self.prefetch})",
            f"  queues:      {', '.join(self.queues)}",
            f"  tasks:       {', '.join(tasks) or '(none)'}",
        ]
        return "\n".join(lines)

    def _make_pool(self) -> Pool:
        if self.pool_name == "threads":
            from celeriac.worker.pools.threads import ThreadPool

            return ThreadPool(self.concurrency, self.prefetch)
        if self.pool_name == "asyncio":
            from celeriac.worker.pools.asyncio import AsyncioPool

            return AsyncioPool(self.concurrency, self.prefetch)
        if self.pool_name == "gevent":
            from celeriac.worker.pools.gevent import GeventPool

            return GeventPool(self.concurrency, self.prefetch)
        if self.pool_name == "eventlet":
            from celeriac.worker.pools.eventlet import EventletPool

            return EventletPool(self.concurrency, self.prefetch)
        from celeriac.worker.pools.solo import SoloPool

        fair = self.pool_name == "prefork" and self.optimization == "fair"
        return SoloPool(1 if fair else self.prefetch)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._signals += 1
        consumer = self.consumer
        if consumer is None:
            raise SystemExit(0)
        if not consumer.prefork_child and signals.worker_shutting_down.receivers:
            signals.worker_shutting_down.send(self.hostname, sig=signal.Signals(signum).name,
                                              how="Warm" if self._signals == 1 else "Cold", exitcode=0)
        if self._signals == 1:
            logger.info("signal %s: stopping (grace %.0fs)", signal.Signals(signum).name,
                        consumer.shutdown_timeout_s)
        elif consumer.prefork_child:
            # The supervisor forwards the stop signal, so after a process-group SIGTERM a
            # child gets it twice. Hurrying is the supervisor's call (it SIGKILLs children
            # and hands their messages back on a second signal): nothing to do here.
            logger.debug("signal %s again: already stopping", signal.Signals(signum).name)
            return
        else:
            logger.warning("second signal: stopping now, handing running tasks back")
            consumer.shutdown_timeout_s = 0.0
            consumer.hurry.set()
        consumer.stop()
        if self._signals == 1 and self.pool_name == "solo" and not consumer.prefork_child:
            # A solo worker runs its task in this (main) thread, so nothing else would
            # bound the drain (a prefork child is bounded by its supervisor).
            threading.Thread(target=consumer.bound_drain, name="celeriac-drain", daemon=True).start()

    def run_consumer(self, name: str | None = None, *, child: bool = False,
                     health_slot: tuple[SharedProgress, int] | None = None) -> None:
        """Run one consumer in this process until a signal stops it (``child``: a prefork child,
        reporting its progress in ``health_slot`` for the supervisor's probes)."""
        self.consumer = Consumer(self.app, self.queues, self._make_pool(), hostname=self.hostname, name=name)
        self.consumer.health_slot = health_slot
        self.consumer.pool_name, self.consumer.concurrency = self.pool_name, self.concurrency
        if child:
            self.consumer.prefork_child = True
            self.consumer.metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
            conf = self.app.conf
            self.consumer.max_tasks = conf.worker_max_tasks_per_child
            self.consumer.max_memory_kib = conf.worker_max_memory_per_child
            self.consumer.exit_on_hard_limit = True
            self.consumer.executor.limiter.share = 1.0 / self.concurrency
        for sig in (signal.SIGTERM, signal.SIGINT):
            if self.pool_name == "gevent":
                # gevent runs the handler in a greenlet of its own: stopping blocks on locks,
                # which a plain handler (run inside the event loop) may not do
                import gevent

                gevent.signal_handler(sig, self._on_signal, sig, None)
            elif self.pool_name == "eventlet":
                # the handler may interrupt the hub itself: stop from a green thread of its own
                import eventlet

                signal.signal(sig, lambda signum, frame: eventlet.spawn(self._on_signal, signum, None))
            else:
                signal.signal(sig, self._on_signal)
        self.app.broker.ensure_queues(self.queues)
        server = None
        port = self.app.conf.worker_health_port
        if port is not None and not child:
            progress = self.consumer.progress
            server = HealthServer(port, progress.live, progress.ready, bind=self.app.conf.worker_health_bind)
        if signals.worker_process_init.receivers:
            signals.worker_process_init.send(None)
        if not child and signals.worker_ready.receivers:
            signals.worker_ready.send(self.consumer)
        exitcode = 1
        try:
            self.consumer.run()
            exitcode = 0
        finally:
            if server is not None:
                server.close()
            if signals.worker_process_shutdown.receivers:
                signals.worker_process_shutdown.send(None, pid=os.getpid(), exitcode=exitcode)

    def _child_main(self, name: str, health_slot: tuple[SharedProgress, int] | None = None) -> None:
        self._signals = 0
        # Forked with stop signals blocked (see PreforkSupervisor._spawn): take them over.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        signal.signal(signal.SIGQUIT, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT})
        try:
            self.run_consumer(name, child=True, health_slot=health_slot)
        except Exception:
            logger.critical("worker child crashed", exc_info=True)
            sys.exit(1)
        sys.exit(0)

    def start(self) -> int:
        """Run until stopped; returns the exit code."""
        self.app.import_modules()  # first: the banner lists the tasks of ``include``/``imports``
        if signals.celeryd_init.receivers:
            signals.celeryd_init.send(self.hostname, instance=self, conf=self.app.conf, options=self.options)
        if signals.worker_init.receivers:
            signals.worker_init.send(self)
        logger.info("%s", self.banner())
        self.app.broker.ensure_queues(self.queues)
        if signals.celeryd_after_setup.receivers:
            signals.celeryd_after_setup.send(self.hostname, instance=self, conf=self.app.conf)
        beat = self._start_beat() if self.embed_beat else None
        try:
            if self.pool_name == "prefork":
                supervisor = PreforkSupervisor(
                    self.app, self.queues, self.concurrency, hostname=self.hostname,
                    child_main=self._child_main, shutdown_timeout_s=self.app.conf.worker_shutdown_timeout,
                    on_ready=lambda: signals.worker_ready.send(self) if signals.worker_ready.receivers else None,
                    autoscale=self.autoscale,
                )
                self.app.close()  # children open their own connections
                return supervisor.run()
            self.run_consumer()
            logger.info("worker stopped")
            return 0
        finally:
            if beat is not None:
                _stop_process(beat, "embedded beat")
            if signals.worker_shutdown.receivers:
                signals.worker_shutdown.send(self)

    def _start_beat(self) -> BaseProcess:
        """``-B``: a beat in a child process of its own (its loop and lease never compete
        with tasks for this process; several ``-B`` workers are safe: one leads)."""
        import multiprocessing

        app = self.app
        app.close()  # the beat process opens its own connections

        def run_beat() -> None:
            from celeriac.beat.scheduler import Beat

            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
            beat = Beat(app)
            signal.signal(signal.SIGTERM, lambda *_: beat.stop())
            signal.signal(signal.SIGINT, lambda *_: beat.stop())
            try:
                beat.run()
            finally:
                app.close()

        proc = multiprocessing.get_context("fork").Process(target=run_beat, name="celeriac-beat", daemon=False)
        proc.start()
        logger.info("embedded beat started (pid %s)", proc.pid)
        return proc


def expand_hostname(name: str) -> str:
    """Celery's node name templates: ``%h`` the host name, ``%n`` its first label, ``%d``
    the domain, ``%%`` a percent sign."""
    host = socket.getfqdn() if "%d" in name else socket.gethostname()
    short, _, domain = host.partition(".")
    out = []
    i = 0
    while i < len(name):
        if name[i] == "%" and i + 1 < len(name):
            out.append({"h": host, "n": short, "d": domain, "%": "%"}.get(name[i + 1], name[i:i + 2]))
            i += 2
            continue
        out.append(name[i])
        i += 1
    return "".join(out)


def _stop_process(proc: BaseProcess, what: str, timeout: float = 15.0) -> None:
    if proc.is_alive() and proc.pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
    proc.join(timeout)
    if proc.is_alive():
        logger.warning("%s did not stop within %.0fs: killing it", what, timeout)
        proc.kill()
        proc.join(5)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("celeriac")
    except Exception:
        return "dev"
