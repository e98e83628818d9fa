"""Every Prometheus metric of celeriac, and serving them on ``/metrics``.

All names live here (``celeriac_`` prefix, seconds, ``_total`` counters), documented in
docs/metrics.md: dashboards and the operator rely on them, so change them only with the
docs. Metrics are updated in batches by ``celeriac.worker.monitor`` (once per settlement
batch, not per task in the executor) and served by whichever process owns the port: a
threads/asyncio/solo worker itself, the supervisor of a prefork worker (children write
through prometheus-client's multiprocess mode into ``PROMETHEUS_MULTIPROC_DIR``), a beat.

What it must not do: import ``prometheus_client`` before a prefork supervisor has set
``PROMETHEUS_MULTIPROC_DIR`` (the client picks its value class at import), talk to the
broker, or register into the client's global default registry (tests build many workers
in one process).
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client import CollectorRegistry

#: Histogram buckets (seconds) of task runtime and of queue latency.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
           300.0, 900.0, 3600.0)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  #: prometheus-client's multiprocess directory variable


class Metrics:
    """The metric objects of this process (one instance: :func:`get`)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.tasks = Counter("celeriac_tasks", "Tasks finished, by task, queue and final state of "
                             "the run (SUCCESS, FAILURE, RETRY, REVOKED, REJECTED, IGNORED).",
                             ["task", "queue", "state"], registry=r)
        self.runtime = Histogram("celeriac_task_runtime_seconds", "Time a task ran, by task and queue.",
                                 ["task", "queue"], buckets=BUCKETS, registry=r)
        self.latency = Histogram("celeriac_task_queue_latency_seconds",
                                 "Time from publish (enqueue in the stream) to start, by queue.",
                                 ["queue"], buckets=BUCKETS, registry=r)
        self.retries = Counter("celeriac_task_retries", "Retries scheduled, by task and queue.",
                               ["task", "queue"], registry=r)
        self.redeliveries = Counter("celeriac_task_redeliveries",
                                    "Deliveries of a message that was delivered before (its worker "
                                    "died or handed it back), by queue.", ["queue"], registry=r)
        self.worker_concurrency = Gauge("celeriac_worker_concurrency",
                                        "Pool size of a worker (processes, threads or coroutines).",
                                        ["worker", "pool"], multiprocess_mode="livemax", registry=r)
        self.worker_in_flight = Gauge("celeriac_worker_in_flight",
                                      "Messages a worker holds (running or prefetched), at its last "
                                      "heartbeat.", ["worker"], multiprocess_mode="livesum", registry=r)
        self.worker_processed = Gauge("celeriac_worker_processed",
                                      "Tasks a worker's live processes ran since they started.",
                                      ["worker"], multiprocess_mode="livesum", registry=r)
        gauge = {"multiprocess_mode": "livemostrecent", "registry": r}
        self.workers_online = Gauge("celeriac_workers_online",
                                    "Workers (host names) with a live heartbeat, as seen by the "
                                    "collector.", **gauge)  # type: ignore[arg-type]
        self.queue_ready = Gauge("celeriac_queue_ready", "Messages waiting to be fetched.", ["queue"],
                                 **gauge)  # type: ignore[arg-type]
        self.queue_in_flight = Gauge("celeriac_queue_in_flight", "Messages fetched and not yet acked.",
                                     ["queue"], **gauge)  # type: ignore[arg-type]
        self.queue_depth = Gauge("celeriac_queue_depth", "Work that wants a worker: ready + due delayed "
                                 "+ in flight (what autoscaling reads).", ["queue"],
                                 **gauge)  # type: ignore[arg-type]
        self.queue_delayed = Gauge("celeriac_queue_delayed", "Messages waiting for their ETA.", ["queue"],
                                   **gauge)  # type: ignore[arg-type]
        self.queue_dead = Gauge("celeriac_queue_dead_letters", "Messages in the dead-letter stream.",
                                ["queue"], **gauge)  # type: ignore[arg-type]
        self.queue_oldest = Gauge("celeriac_queue_oldest_age_seconds", "Age of the oldest ready message.",
                                  ["queue"], **gauge)  # type: ignore[arg-type]
        self.queue_timestamp = Gauge("celeriac_queue_stats_timestamp_seconds",
                                     "When the collector last read the queue figures (epoch).",
                                     **gauge)  # type: ignore[arg-type]


_metrics: Metrics | None = None
_lock = threading.Lock()


def get() -> Metrics:
    """This process's metrics (created on first use)."""
    global _metrics
    with _lock:
        if _metrics is None:
            _metrics = Metrics()
        return _metrics


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


class Server:
    """A running ``/metrics`` HTTP server (stop it with :meth:`close`)."""

    def __init__(self, port: int, registry: CollectorRegistry, addr: str = "0.0.0.0") -> None:
        from prometheus_client import start_http_server

        self.port = port
        self._server, self._thread = start_http_server(port, addr=addr, registry=registry)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve(port: int, *, extra: list[Any] | None = None, bind: str = "0.0.0.0") -> Server:
    """Serve this process's metrics, or every process's when in multiprocess mode.

    Args:
        port: TCP port.
        extra: serve these collectors instead (a beat's :class:`BeatCollector`).
        bind: the address to listen on (``0.0.0.0``: every interface).
    """
    from prometheus_client import CollectorRegistry

    path = multiprocess_dir()
    if extra:  # a process of its own kind (a beat): only these collectors
        registry = CollectorRegistry()
        for collector in extra:
            registry.register(collector)
    elif path:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    else:
        registry = get().registry
    return Server(port, registry, bind)


def process_dead(pid: int) -> None:
    """Forget a dead prefork child's live gauges (multiprocess mode)."""
    path = multiprocess_dir()
    if path:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


class _LeaderLease(Protocol):
    @property
    def is_leader(self) -> bool: ...


class BeatFigures(Protocol):
    """What the collector reads of a running beat (``celeriac.beat.Beat``)."""

    @property
    def fired(self) -> int: ...

    @property
    def missed(self) -> int: ...

    @property
    def lease(self) -> _LeaderLease: ...


class BeatCollector:
    """``celeriac_beat_runs_fired_total`` / ``_missed_total`` read from a running beat."""

    def __init__(self, scheduler: BeatFigures) -> None:
        self.scheduler = scheduler

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        fired = CounterMetricFamily("celeriac_beat_runs_fired", "Periodic runs this beat published.")
        fired.add_metric([], float(self.scheduler.fired))
        yield fired
        missed = CounterMetricFamily("celeriac_beat_runs_missed",
                                     "Periodic runs this beat recorded as missed (late, downtime, "
                                     "forbid).")
        missed.add_metric([], float(self.scheduler.missed))
        yield missed
        leader = GaugeMetricFamily("celeriac_beat_leader", "1 while this beat holds the leader lease.")
        leader.add_metric([], 1.0 if self.scheduler.lease.is_leader else 0.0)
        yield leader
