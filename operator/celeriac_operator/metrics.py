"""Every Prometheus metric of the operator (``celeriac operator --metrics-port``).

Why it exists: dashboards and alerts use these names (fixed in the team contract), so
they are defined once, here, on a registry of the operator's own (the runtime's metrics
are another process's business). Labels stay bounded: a kind, never an object name. The
WorkerPool handlers add their per-pool metrics below.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: The registry ``--metrics-port`` serves.
REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

RECONCILES = Counter(
    "celeriac_operator_reconciles_total", "Handler runs, by kind (Task, Schedule, WorkerPool).",
    ["kind"], registry=REGISTRY,
)
RECONCILE_ERRORS = Counter(
    "celeriac_operator_reconcile_errors_total", "Handler runs that raised, by kind.",
    ["kind"], registry=REGISTRY,
)
#: The kinds the handlers count. Their series start at 0 when the process starts: a counter
#: first exported at 1 hides that first error from rate() and increase() (the dashboards' and
#: the CeleriacOperatorReconcileErrors alert's view).
KINDS = ("Task", "Schedule", "WorkerPool")
for _kind in KINDS:
    RECONCILES.labels(_kind)
    RECONCILE_ERRORS.labels(_kind)
STATUS_LAG = Histogram(
    "celeriac_operator_status_lag_seconds",
    "From the moment a task state was true (its event's time) to its status patch.",
    buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)
ENQUEUE_LATENCY = Histogram(
    "celeriac_operator_enqueue_latency_seconds",
    "From a Task object's creationTimestamp to its enqueue_once call returning.",
    buckets=_LATENCY_BUCKETS, registry=REGISTRY,
)
LEADER = Gauge(
    "celeriac_operator_leader", "1 on the active operator replica, 0 on a standby.",
    registry=REGISTRY,
)


# -- WorkerPool: per pool and queue (labels namespace, pool, queue; never a pod) ------------

_POOL_QUEUE = ["namespace", "pool", "queue"]
_POOL = ["namespace", "pool"]
POOL_QUEUE_BACKLOG = Gauge(
    "celeriac_pool_queue_backlog",
    "Waiting + due delayed + in flight, per pool and queue.",
    _POOL_QUEUE,
    registry=REGISTRY,
)
POOL_QUEUE_WAITING = Gauge(
    "celeriac_pool_queue_waiting",
    "Messages ready to be fetched.",
    _POOL_QUEUE,
    registry=REGISTRY,
)
POOL_QUEUE_IN_FLIGHT = Gauge(
    "celeriac_pool_queue_in_flight",
    "Messages held by workers (prefetched or running).",
    _POOL_QUEUE,
    registry=REGISTRY,
)
POOL_QUEUE_DELAYED = Gauge(
    "celeriac_pool_queue_delayed",
    "Messages waiting for their ETA.",
    _POOL_QUEUE,
    registry=REGISTRY,
)
POOL_QUEUE_OLDEST_WAIT = Gauge(
    "celeriac_pool_queue_oldest_wait_seconds",
    "Age of the oldest waiting message (0: none).",
    _POOL_QUEUE,
    registry=REGISTRY,
)
POOL_QUEUE_DEAD = Gauge(
    "celeriac_pool_queue_dead_letters",
    "Messages in the dead-letter stream.",
    _POOL_QUEUE,
    registry=REGISTRY,
)
POOL_REPLICAS = Gauge(
    "celeriac_pool_replicas",
    "Pods of the pool's Deployment.",
    _POOL,
    registry=REGISTRY,
)
POOL_READY_REPLICAS = Gauge(
    "celeriac_pool_ready_replicas",
    "Ready pods of the pool's Deployment.",
    _POOL,
    registry=REGISTRY,
)
POOL_DESIRED_REPLICAS = Gauge(
    "celeriac_pool_desired_replicas",
    "Replicas the operator asked for.",
    _POOL,
    registry=REGISTRY,
)
POOL_SCALE_EVENTS = Counter(
    "celeriac_pool_scale_events_total",
    "Replica changes the operator made, by direction (up|down).",
    ["namespace", "pool", "direction"],
    registry=REGISTRY,
)
_POOL_QUEUE_GAUGES = (
    POOL_QUEUE_BACKLOG,
    POOL_QUEUE_WAITING,
    POOL_QUEUE_IN_FLIGHT,
    POOL_QUEUE_DELAYED,
    POOL_QUEUE_OLDEST_WAIT,
    POOL_QUEUE_DEAD,
)
_pool_queues: dict[tuple[str, str], set[str]] = {}


def set_pool(
    namespace: str, pool: str, stats: Mapping[str, Any], *, replicas: int, ready: int, desired: int
) -> None:
    """Export one poll of a pool: ``stats`` maps queue -> ``QueueStats`` (empty if unknown)."""
    POOL_REPLICAS.labels(namespace, pool).set(replicas)
    POOL_READY_REPLICAS.labels(namespace, pool).set(ready)
    POOL_DESIRED_REPLICAS.labels(namespace, pool).set(desired)
    if (namespace, pool) not in _pool_queues:  # first poll: scale events start at 0 (see KINDS)
        for direction in ("up", "down"):
            POOL_SCALE_EVENTS.labels(namespace, pool, direction)
    seen = _pool_queues.setdefault((namespace, pool), set())
    for queue, s in stats.items():
        seen.add(queue)
        labels = (namespace, pool, queue)
        POOL_QUEUE_BACKLOG.labels(*labels).set(s.backlog)
        POOL_QUEUE_WAITING.labels(*labels).set(s.waiting)
        POOL_QUEUE_IN_FLIGHT.labels(*labels).set(s.in_flight)
        POOL_QUEUE_DELAYED.labels(*labels).set(s.delayed)
        POOL_QUEUE_OLDEST_WAIT.labels(*labels).set(s.oldest_wait_s or 0.0)
        POOL_QUEUE_DEAD.labels(*labels).set(s.dead)


def forget_pool(namespace: str, pool: str) -> None:
    """A deleted pool's series go away (bounded labels: only live pools are exported)."""
    for queue in _pool_queues.pop((namespace, pool), set()):
        for gauge in _POOL_QUEUE_GAUGES:
            with contextlib.suppress(KeyError):
                gauge.remove(namespace, pool, queue)
    for gauge in (POOL_REPLICAS, POOL_READY_REPLICAS, POOL_DESIRED_REPLICAS):
        with contextlib.suppress(KeyError):
            gauge.remove(namespace, pool)
    for direction in ("up", "down"):
        with contextlib.suppress(KeyError):
            POOL_SCALE_EVENTS.remove(namespace, pool, direction)
