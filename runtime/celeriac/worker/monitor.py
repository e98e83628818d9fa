"""What a worker process tells the world about itself: worker events, the worker registry,
task-received/started events for long tasks, metrics, and the queue-gauge collector.

It rides on the consumer's hooks (``on_heartbeat``, ``on_settled``), so it costs nothing
per task beyond one tuple per settlement batch: worker events and the registry are written
once per heartbeat; task metrics are counted once per settlement batch. What it must not
do: write to the broker per task, or block the fetch loop.

Choice (documented in docs/protocol.md, "Events"): ``task-received`` and ``task-started``
are not written for every task. A task that finishes before the next heartbeat is
described by its terminal event alone (its ``timestamp`` minus ``runtime`` is when it
started); a task still held at a heartbeat gets ``task-received`` (prefetched, not started)
or ``task-started`` (running) then, once.
"""

from __future__ import annotations

import bisect
import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from celeriac import events as ev
from celeriac import states
from celeriac.backends.base import Settlement
from celeriac.errors import BrokerError

if TYPE_CHECKING:
    from celeriac.metrics import Metrics, Server
    from celeriac.worker.consumer import Consumer

logger = logging.getLogger(__name__)

REGISTRY_TTL_HEARTBEATS = 3  #: a registry entry outlives this many missed heartbeats
METRICS_FLUSH_S = 1.0  #: pending task metrics are written at least this often while busy


def observe_many(child: Any, values: list[float]) -> None:
    """Observe ``values`` into one labelled histogram with one write per touched bucket.

    Reaches into prometheus-client's histogram child (``_upper_bounds``, ``_buckets``
    holding per-bucket, not cumulative, counts, ``_sum``), as its own ``observe`` does;
    falls back to ``observe`` if those ever change.
    """
    bounds = getattr(child, "_upper_bounds", None)
    buckets = getattr(child, "_buckets", None)
    total = getattr(child, "_sum", None)
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        for v in values:
            child.observe(v)
        return
    counts = [0] * len(bounds)
    for v in values:
        counts[bisect.bisect_left(bounds, v)] += 1
    total.inc(sum(values))
    for i, n in enumerate(counts):
        if n:
            buckets[i].inc(n)


class Monitor:
    """Observability of one consumer (one worker process)."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        conf = consumer.app.conf
        self.events = conf.worker_send_task_events
        self.port = conf.worker_metrics_port
        self.metrics: Metrics | None = None
        self.server: Server | None = None
        self.announced: set[str] = set()
        self.online = False
        self.collector = False
        self.backend = consumer.backend
        self._runtime: dict[tuple[str, str], Any] = {}
        self._latency: dict[str, Any] = {}
        self._pending_lock = threading.Lock()
        self._counts: dict[tuple[str, str, str], int] = {}
        self._runtimes: dict[tuple[str, str], list[float]] = {}
        self._latencies: dict[str, list[float]] = {}
        self._retries: dict[tuple[str, str], int] = {}
        self._redelivered: dict[str, int] = {}
        self._flushed = time.monotonic()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        c = self.consumer
        conf = c.app.conf
        if self.port is not None or c.metrics_dir is not None:
            from celeriac import metrics

            self.metrics = metrics.get()
            m = self.metrics
            m.worker_concurrency.labels(c.hostname, c.pool_name).set(c.concurrency)
            if self.port is not None and c.metrics_dir is None:  # a prefork child: the supervisor serves
                try:
                    self.server = metrics.serve(self.port, bind=conf.worker_metrics_bind)
                except OSError as exc:
                    logger.error("cannot serve metrics on port %s: %s", self.port, exc)
            c.on_settled.append(self.on_settled)
        c.on_heartbeat.append(self.on_heartbeat)

    def stopped(self) -> None:
        """The consumer finished: worker-offline, leave the registry, stop serving."""
        c = self.consumer
        self.flush_metrics()
        try:
            if self.events and self.online:
                self.backend.emit([ev.wire(self._worker_event("worker-offline"))])
            self.backend.worker_unregister(c.name)
        except BrokerError as exc:
            logger.warning("could not announce this worker's exit: %s", exc)
        if self.server is not None:
            self.server.close()
            self.server = None

    # -- hooks -----------------------------------------------------------------------------

    def on_heartbeat(self, consumer: Consumer) -> None:
        out: list[dict[str, Any]] = []
        if self.events:
            out.append(self._worker_event("worker-heartbeat" if self.online else "worker-online"))
            out.extend(self._task_progress())
        if out:
            self.backend.emit([ev.wire(e) for e in out])
        self.online = True
        self.backend.worker_register(consumer.name, self.describe(), consumer.heartbeat_s * REGISTRY_TTL_HEARTBEATS)
        if self.metrics is not None:
            self.flush_metrics()
            self.metrics.worker_in_flight.labels(consumer.hostname).set(len(consumer.inflight))
            self.metrics.worker_processed.labels(consumer.hostname).set(consumer.executor.processed)
            self._collect()

    def on_settled(self, batch: Sequence[Settlement]) -> None:
        """Count one settlement batch into pending sums (plain dicts); they are written to
        the metrics at most every ``METRICS_FLUSH_S`` and at each heartbeat, so each counter
        and histogram bucket is written once per flush, not per task (in multiprocess mode
        every write is a locked mmap update of a few microseconds)."""
        if self.metrics is None:
            return
        with self._pending_lock:
            counts, runtimes, latencies = self._counts, self._runtimes, self._latencies
            for s in batch:
                d = s.delivery
                queue = d.queue if d is not None else ""
                st = s.stats
                if st is None:
                    r = s.result
                    if r is not None and r.status in (states.REVOKED, states.REJECTED):
                        key3 = (r.task or "", queue, r.status)
                        counts[key3] = counts.get(key3, 0) + 1
                    elif s.dead_letter_reason is not None:
                        key3 = ("", queue, states.REJECTED)
                        counts[key3] = counts.get(key3, 0) + 1
                    if d is not None and d.deliveries > 1:
                        self._redelivered[queue] = self._redelivered.get(queue, 0) + 1
                    continue
                name, state, run_s, started = st
                key3 = (name, queue, state)
                counts[key3] = counts.get(key3, 0) + 1
                key2 = (name, queue)
                values = runtimes.get(key2)
                if values is None:
                    runtimes[key2] = [run_s]
                else:
                    values.append(run_s)
                if d is None:
                    continue
                if d.deliveries > 1:
                    self._redelivered[queue] = self._redelivered.get(queue, 0) + 1
                else:
                    head, sep, _ = d.message_id.partition("-")
                    if sep:  # a Redis stream id: its first part is the publish time in ms
                        lat = latencies.get(queue)
                        if lat is None:
                            lat = latencies[queue] = []
                        lat.append(max(0.0, started - int(head) / 1000))
                if state == states.RETRY:
                    self._retries[key2] = self._retries.get(key2, 0) + 1
        now = time.monotonic()
        if now - self._flushed >= METRICS_FLUSH_S:
            self.flush_metrics()

    def flush_metrics(self) -> None:
        """Write the pending sums to the metric objects."""
        m = self.metrics
        if m is None:
            return
        with self._pending_lock:
            counts, self._counts = self._counts, {}
            runtimes, self._runtimes = self._runtimes, {}
            latencies, self._latencies = self._latencies, {}
            retries, self._retries = self._retries, {}
            redelivered, self._redelivered = self._redelivered, {}
            self._flushed = time.monotonic()
        for (name, queue, state), n in counts.items():
            m.tasks.labels(name, queue, state).inc(n)
        for key, values in runtimes.items():
            child = self._runtime.get(key)
            if child is None:
                child = self._runtime[key] = m.runtime.labels(*key)
            observe_many(child, values)
        for queue, values in latencies.items():
            child = self._latency.get(queue)
            if child is None:
                child = self._latency[queue] = m.latency.labels(queue)
            observe_many(child, values)
        for (name, queue), n in retries.items():
            m.retries.labels(name, queue).inc(n)
        for queue, n in redelivered.items():
            m.redeliveries.labels(queue).inc(n)

    # -- helpers ---------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """This process as the registry and ``inspect stats`` show it."""
        c = self.consumer
        return {
            "name": c.name, "hostname": c.hostname, "pid": os.getpid(), "pool": c.pool_name,
            "concurrency": c.concurrency, "queues": list(c.queues), "processed": c.executor.processed,
            "active": len(c.running), "in_flight": len(c.inflight), "started": c.started_at,
            "heartbeat": time.time(), "freq": c.heartbeat_s,
        }

    def _worker_event(self, kind: str) -> dict[str, Any]:
        c = self.consumer
        return {
            "type": kind, "hostname": c.hostname, "consumer": c.name, "pid": os.getpid(),
            "timestamp": time.time(), "freq": c.heartbeat_s, "pool": c.pool_name,
            "concurrency": c.concurrency, "queues": list(c.queues), "processed": c.executor.processed,
            "active": len(c.running), "in_flight": len(c.inflight),
        }

    def _task_progress(self) -> list[dict[str, Any]]:
        """task-started / task-received, once, for what this process holds right now."""
        c = self.consumer
        out: list[dict[str, Any]] = []
        now = time.time()
        running = dict(c.running)
        held = dict(c.inflight)
        for mid, job in running.items():
            key = f"s{mid}"
            if key not in self.announced:
                self.announced.add(key)
                m = job.message
                out.append({"type": "task-started", "uuid": m.id, "name": m.task, "hostname": c.hostname,
                            "queue": job.delivery.queue, "timestamp": now, "started": job.started,
                            "received": job.received})
        for mid, d in held.items():
            key = f"r{mid}"
            if mid not in running and key not in self.announced and f"s{mid}" not in self.announced:
                self.announced.add(key)
                out.append({"type": "task-received", "uuid": d.task_id, "hostname": c.hostname,
                            "queue": d.queue, "timestamp": now, "deliveries": d.deliveries})
        self.announced = {k for k in self.announced if k[1:] in held}
        return out

    def _collect(self) -> None:
        """Refresh queue gauges when this process holds the collector lease (one per cluster)."""
        m = self.metrics
        assert m is not None
        c = self.consumer
        if not self.backend.collector_lease(c.name, c.heartbeat_s * REGISTRY_TTL_HEARTBEATS):
            if self.collector:
                self.collector = False
                for g in (m.queue_ready, m.queue_in_flight, m.queue_depth, m.queue_delayed, m.queue_dead,
                          m.queue_oldest):
                    g.clear()
            return
        self.collector = True
        for q, s in self.backend.queue_stats_many(self.backend.known_queues()).items():
            m.queue_ready.labels(q).set(s.ready)
            m.queue_in_flight.labels(q).set(s.in_flight)
            m.queue_depth.labels(q).set(s.depth)
            m.queue_delayed.labels(q).set(s.delayed + s.due)
            m.queue_dead.labels(q).set(s.dead)
            m.queue_oldest.labels(q).set(s.oldest_age_s or 0.0)
        m.workers_online.set(len({w.get("hostname") for w in self.backend.workers()}))
        m.queue_timestamp.set(time.time())
