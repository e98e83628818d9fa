"""The transport contract: the values that cross it, and one Protocol per role.

The worker, the producer API, the beat and the CLI speak only this interface; everything
transport-specific (Redis commands, SQL) lives behind it. The contract is split by role:
:class:`Broker` (messages in and out), :class:`ResultStore` (results and canvas state),
:class:`DeadLetters`, :class:`ControlChannel` (broadcast commands, replies, revocations),
:class:`WorkerRegistry`, :class:`EventLog` and :class:`ScheduleStore` (beat registry and
leader lease). :class:`Backend` is all of them: every transport (``redis``, ``sqlite``,
``memory``) implements every role, in one class (so it can settle a finished task, ack +
result + follow-up messages + events, in one atomic round trip); mypy checks
``backends.create`` against it and the conformance suite checks each role on each
transport. Callers call the methods declared here, and never probe for others (no
``getattr``).
What this module must not do: import a transport or anything above ``celeriac.errors``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

#: Priority steps: a queue has one stream per step, read from the most urgent (9) down.
PRIORITY_STEPS = (9, 6, 3, 0)


def priority_step(priority: int | None) -> int:
    """The step a priority 0-9 falls in (9 most urgent); None is the lowest step."""
    if priority is None or priority <= 0:
        return 0
    for step in PRIORITY_STEPS:
        if priority >= step:
            return step
    return 0


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to publish: the encoded body plus where and when it goes."""

    queue: str
    task_id: str
    content_type: str
    body: bytes
    priority: int | None = None
    eta: float | None = None
    """Epoch seconds before which the message must not be delivered (None: now)."""
    task: str | None = None
    """The task name (for the ``task-sent`` event; not written by transports)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message as handed to a worker; give it back to :meth:`Backend.settle`."""

    queue: str
    priority: int
    message_id: str
    """The transport's own id for this delivery (a stream entry id for Redis)."""
    task_id: str
    content_type: str
    body: bytes
    deliveries: int = 1
    """How many times this message has been delivered, this time included."""
    revoked: bool = False
    """The task id was revoked before this delivery (checked by the transport at fetch)."""
    invalid: str | None = None
    """Why the transport's own fields of this entry are unusable (e.g. a ``deliveries`` that
    is not a number): the worker dead-letters it with this reason, running nothing."""


@dataclass(slots=True)
class ResultRecord:
    """What the result store keeps for one task."""

    task_id: str
    status: str
    result: bytes | None = None
    """The serialized return value, exception dict or state meta."""
    content_type: str = "application/json"
    traceback: str | None = None
    date_done: float | None = None
    """Epoch seconds when a ready state was recorded."""
    task: str | None = None
    worker: str | None = None
    retries: int = 0
    queue: str | None = None
    parent_id: str | None = None
    root_id: str | None = None
    group: str | None = None
    children: list[str] | None = None
    extra: dict[str, str] = field(default_factory=dict)
    """Transport-agnostic extras (timestamps such as ``date_started``)."""


@dataclass(frozen=True, slots=True)
class ChordJoin:
    """A finished chord header task: store its result at ``index``; the last one in (or the
    first failure) publishes ``callback``, exactly once (see docs/protocol.md, "Canvas")."""

    group_id: str
    index: int
    size: int
    result: bytes
    """``<content type>\\n<serialized value>`` for slot ``index``; when ``failed``, a JSON
    description of the failure (task_id, task, index, state, exc, traceback)."""
    callback: tuple[Outgoing, ...] = ()
    """The callback message(s), prebuilt by the worker, published when the chord completes."""
    failed: bool = False


@dataclass(frozen=True, slots=True)
class ChordState:
    """What a chord callback reads before it runs (``Backend.get_chord``)."""

    values: dict[int, bytes]
    """Header results by index, each ``<content type>\\n<serialized value>``."""
    failure: bytes | None = None
    """The first header failure (JSON), if any."""
    extra: int = 0
    """Members added to the header since it was published (``Task.add_to_chord``): the chord
    completes at ``size + extra`` results, the added ones at indexes ``size`` onwards."""


@dataclass(slots=True)
class Settlement:
    """Everything one finished (or given-up) delivery changes, written in one step."""

    delivery: Delivery | None
    result: ResultRecord | None = None
    publish: list[Outgoing] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    chord: ChordJoin | None = None
    dead_letter_reason: str | None = None
    """When set, the message is moved to the dead-letter stream instead of acked."""
    more_results: list[ResultRecord] = field(default_factory=list)
    """Further results to write in the same step (a failed chain's steps that will not run)."""
    requeue: bool = False
    """``Reject(requeue=True)``: the consumer hands the message back as it is (``requeue``,
    counted as a delivery, dead-lettered after ``task_max_deliveries``) instead of acking it;
    transports never see it set."""
    stats: tuple[str, str, float, float] | None = None
    """``(task name, state, runtime s, started epoch)`` of a task that ran, for the metrics
    hook (``Consumer.on_settled``); transports do not write it."""


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Depth figures for one queue, read from the broker alone (what an autoscaler reads:
    no worker needs to run for them; see docs/observability.md, "Queue statistics")."""

    queue: str
    waiting: int
    """Messages ready to be fetched (all priority steps)."""
    delayed: int
    """Messages waiting for their ETA (not yet due)."""
    due: int
    """Delayed messages whose ETA has passed (ready as soon as a worker promotes them)."""
    in_flight: int
    """Messages fetched by a worker and not yet acked (prefetched or running)."""
    dead: int
    """Messages in the dead-letter stream."""
    oldest_wait_s: float | None = None
    """Age of the oldest waiting message (None: nothing waits)."""
    waiting_by_priority: dict[int, int] = field(default_factory=dict)
    """``waiting`` per priority step (:data:`PRIORITY_STEPS`; every step present)."""
    consumers: int = 0
    """Live worker processes consuming this queue (from the worker registry)."""

    @property
    def backlog(self) -> int:
        """Work that wants a worker: waiting + due delayed + in flight."""
        return self.waiting + self.due + self.in_flight

    # The names of the first version (the worker's gauges and the CLI read them).
    @property
    def ready(self) -> int:
        return self.waiting

    @property
    def depth(self) -> int:
        return self.backlog

    @property
    def oldest_age_s(self) -> float | None:
        return self.oldest_wait_s


#: What :attr:`TaskTrace.mark` and :attr:`TaskInfo.presence` say (docs/guarantees.md).
QUEUED, FINISHED = "queued", "finished"


@dataclass(frozen=True, slots=True)
class TaskTrace:
    """What a transport knows of one task id (``Backend.lookup``), undecoded."""

    task_id: str
    record: ResultRecord | None
    """The result record, if one is kept."""
    mark: str | None = None
    """The enqueue-once marker: :data:`QUEUED` (enqueued, not finished), :data:`FINISHED`
    (a ready result was recorded; the marker outlives the record), None (no marker)."""
    enqueued_at: float | None = None
    """Epoch seconds of the enqueue-once publish (from the marker)."""
    queue: str | None = None
    task: str | None = None


@dataclass(frozen=True, slots=True)
class RunningSnapshot:
    """The task ids one worker process runs now, written with its settlements
    (``Backend.settle(..., running=)``) so that readers see them within a fraction of a
    second. A transport keeps only the newest ``seq`` of each consumer; the snapshot
    vanishes ``ttl_s`` after its last write (the worker rewrites it at every heartbeat
    while something runs)."""

    consumer: str
    seq: int
    task_ids: tuple[str, ...]
    in_flight: int
    ttl_s: float


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """One live worker process (``app.live_workers()``). A prefork worker is one entry per
    child process, all with the worker's ``hostname`` and ``concurrency`` (group by
    hostname for a per-pod view)."""

    id: str
    """The consumer name (unique per process and start)."""
    hostname: str
    """The worker's node name (``celeriac@<host>``; the pod name on Kubernetes)."""
    queues: tuple[str, ...]
    pool: str
    concurrency: int
    in_flight: int
    """Messages it holds (prefetched or running)."""
    running: tuple[str, ...]
    """Task ids running now (current to a fraction of a second, not to a heartbeat)."""
    last_heartbeat: float
    """Epoch seconds of its last heartbeat."""
    pid: int | None = None

    @property
    def idle(self) -> bool:
        return not self.running


@dataclass(frozen=True, slots=True)
class DeadLetter:
    message_id: str
    queue: str
    task_id: str
    reason: str
    content_type: str
    body: bytes
    deliveries: int
    time: float
    history: tuple[str, ...] = ()
    """How earlier deliveries ended ("<epoch ms> <holder or 'lease expired'>"), oldest first."""


@runtime_checkable
class Broker(Protocol):
    """Messages in and out: publish, fetch, settle, leases, delays, depth."""

    url: str

    # -- producing -------------------------------------------------------------------------
    def publish(self, messages: Sequence[Outgoing]) -> None:
        """Publish messages (immediate or delayed) in as few round trips as possible."""

    def publish_with_events(self, messages: Sequence[Outgoing], events: Sequence[dict[str, Any]]) -> None:
        """``publish`` with events (``task-sent``) appended in the same round trip."""

    def publish_once(self, messages: Sequence[Outgoing], window_s: float) -> None:
        """Publish each message unless its task id was published this way within
        ``window_s`` seconds and has not reached a ready state since (``task_dedup_window``)."""

    def enqueue_once(self, messages: Sequence[Outgoing], events: Sequence[dict[str, Any]],
                     keep_s: float | None) -> list[bool]:
        """Atomically publish each message whose task id has no enqueue-once marker, result
        record or publish-once guard, marking it; ``events[i]`` (a ``task-sent``) is appended
        with ``messages[i]``. The marker lasts ``keep_s`` (+ the message's delay) from now,
        then ``2 x result_expires`` from the task's ready result (None/0: kept). Returns,
        per message, whether it was enqueued (docs/guarantees.md, "Enqueue once")."""

    # -- consuming -------------------------------------------------------------------------
    def ensure_queues(self, queues: Iterable[str]) -> None:
        """Create whatever a consumer needs to read these queues (idempotent)."""

    def fetch(self, queues: Sequence[str], consumer: str, count: int, timeout_s: float) -> list[Delivery]:
        """Up to ``count`` messages, most urgent priority first, waiting up to ``timeout_s``."""

    def settle(self, settlements: Sequence[Settlement], running: RunningSnapshot | None = None) -> None:
        """Ack, store results, publish follow-ups, count chords and emit events, atomically;
        with ``running``, store that worker's running snapshot in the same step (alone when
        ``settlements`` is empty) unless the stored one has a newer ``seq``."""

    def requeue(self, deliveries: Sequence[Delivery], *, count_delivery: bool = False) -> None:
        """Give messages back to their queue at once (shutdown, prefetched but not started)."""

    def refresh_leases(self, consumer: str, deliveries: Sequence[Delivery]) -> None:
        """Tell the broker these messages are still held by a live consumer."""

    def release_consumer(self, queues: Sequence[str], consumer: str, *, count_delivery: bool,
                         cause: str = "crashed") -> int:
        """Requeue every message a (finished or dead) consumer holds; returns how many.
        ``cause`` (how it died) goes into the history of a counted hand-back."""

    def reclaim(self, queues: Sequence[str], idle_s: float, max_deliveries: int) -> int:
        """Return messages whose holder stopped heartbeating; dead-letter the poison ones."""

    def next_delayed_due(self, queues: Sequence[str]) -> float | None:
        """Epoch seconds of the earliest delayed message of these queues."""

    # -- depth -----------------------------------------------------------------------------
    def queue_stats(self, queue: str) -> QueueStats:
        """``queue_stats_many([queue])[queue]``."""

    def queue_stats_many(self, queues: Sequence[str]) -> dict[str, QueueStats]:
        """Depth figures of each queue in one round trip, from the broker alone."""

    def known_queues(self) -> list[str]:
        """Every queue that ever held a message (or was ensured) on this broker."""

    def purge(self, queue: str) -> int:
        """Drop every ready and delayed message of ``queue``; returns how many."""


@runtime_checkable
class ResultStore(Protocol):
    """Task results, and the canvas's state kept beside them (chords, saved groups)."""

    def store_result(self, record: ResultRecord) -> None:
        """Write a state outside of a settlement (STARTED, PROGRESS...)."""

    def get_result(self, task_id: str) -> ResultRecord | None:
        """The record of one task, or None."""

    def get_results(self, task_ids: Sequence[str]) -> list[ResultRecord | None]:
        """The records of these tasks, in order, in one round trip."""

    def wait_result(self, task_id: str, timeout_s: float | None) -> ResultRecord | None:
        """Block until the task reaches a ready state (woken, not polled) or time runs out."""

    def forget(self, task_id: str) -> None:
        """Drop a task's record."""

    def lookup(self, task_ids: Sequence[str]) -> list[TaskTrace]:
        """Record and enqueue-once marker of each id, in order, in one round trip."""

    def get_chord(self, group_id: str) -> ChordState:
        """The results (and first failure) joined so far by a chord's header tasks."""

    def grow_chord(self, group_id: str) -> int:
        """Count one more header member (``Task.add_to_chord``), atomically; returns how many
        were added so far (1 for the first). The join then waits for ``size + that`` results."""

    def save_group(self, group_id: str, payload: bytes) -> None:
        """Store a ``GroupResult`` description (JSON) for ``GroupResult.restore``; expires
        after ``result_expires``."""

    def get_group(self, group_id: str) -> bytes | None:
        """A saved group description, or None."""

    def forget_group(self, group_id: str) -> None:
        """Drop a saved group description."""


@runtime_checkable
class DeadLetters(Protocol):
    """The dead-letter stream of each queue (``celeriac dlq``)."""

    def dead_letters(self, queue: str | None, limit: int) -> list[DeadLetter]:
        """Up to ``limit`` dead letters of ``queue`` (None: every queue), oldest first."""

    def dead_letter_requeue(self, queue: str, message_ids: Sequence[str] | None = None) -> int:
        """Put dead letters (all, or these entry ids) back on their queue; returns how many."""

    def dead_letter_purge(self, queue: str, message_ids: Sequence[str] | None = None) -> int:
        """Drop dead letters (all, or these entry ids); returns how many."""


@runtime_checkable
class ControlSubscription(Protocol):
    """One worker process's subscription to its broker's control channel."""

    def get(self, timeout_s: float) -> dict[str, Any] | None:
        """The next command, or None after ``timeout_s``."""

    def close(self) -> None:
        """Stop listening (best effort)."""


@runtime_checkable
class ControlChannel(Protocol):
    """Commands broadcast to the workers of this broker (and only those: the channel is
    scoped to the broker URL, database and key prefix), their replies, revocations."""

    def control_publish(self, message: dict[str, Any]) -> int:
        """Broadcast a command (JSON) to every subscriber; returns how many listen."""

    def control_subscribe(self) -> ControlSubscription:
        """A subscription to the commands published from now on."""

    def control_reply(self, request_id: str, reply: dict[str, Any]) -> None:
        """Answer the request ``request_id``."""

    def control_replies(self, request_id: str, expected: int | None, timeout_s: float) -> list[dict[str, Any]]:
        """The replies to ``request_id``: until ``expected`` came in or ``timeout_s`` passed."""

    def revoke(self, task_ids: Sequence[str], expires_s: float | None) -> None:
        """Mark task ids revoked (for ``expires_s`` seconds): they never start."""

    def revoked(self, task_ids: Sequence[str]) -> list[bool]:
        """Whether each task id is revoked."""


@runtime_checkable
class WorkerRegistry(Protocol):
    """Which worker processes are alive, and the one that collects the queue gauges."""

    def worker_register(self, name: str, info: dict[str, Any], ttl_s: float) -> None:
        """Register (or refresh) a worker process for ``ttl_s`` seconds."""

    def worker_unregister(self, name: str) -> None:
        """Remove a worker process at once (it stopped)."""

    def workers(self) -> list[dict[str, Any]]:
        """Every registered, unexpired worker process, as registered (``info`` dicts)."""

    def live_workers(self) -> list[WorkerInfo]:
        """Registered, unexpired worker processes with their newest running snapshot."""

    def collector_lease(self, holder: str, ttl_s: float) -> bool:
        """Take or keep the lease of the process that publishes the queue gauges."""


@runtime_checkable
class EventLog(Protocol):
    """The event stream (docs/protocol.md, "Events")."""

    def emit(self, events: Sequence[dict[str, Any]]) -> None:
        """Append events."""

    def read_events(self, after_id: str = "0", count: int = 1000,
                    block_s: float = 0.0) -> list[tuple[str, dict[str, Any]]]:
        """Events newer than ``after_id`` ("0": the oldest kept, "$": only new ones), oldest
        first, as ``(id, event)`` pairs; waits up to ``block_s`` when none is there yet.
        Ids are opaque strings that grow (docs/protocol.md, "Events")."""

    def recent_events(self, count: int) -> list[tuple[str, dict[str, Any]]]:
        """About the ``count`` newest events, oldest first (one read; ``celeriac status``)."""

    def last_event_id(self) -> str:
        """The id of the newest event (a resume point for :meth:`read_events`)."""


@runtime_checkable
class ScheduleStore(Protocol):
    """The beat's schedule registry, leader lease and fenced fire (docs/protocol.md)."""

    def schedule_put(self, name: str, spec: str) -> None:
        """Create or replace entry ``name``'s spec (JSON text) and notify waiting beats."""

    def schedule_delete(self, name: str) -> bool:
        """Remove an entry's spec and state and notify; False when there was none."""

    def schedule_read(self, names: Sequence[str] | None = None) -> dict[str, tuple[str, str | None]]:
        """``{name: (spec JSON, state JSON or None)}`` of these entries (None: all)."""

    def schedule_wait(self, cursor: str, timeout_s: float) -> str:
        """Block until the registry changes after ``cursor`` ("" = now) or time runs out.

        Returns the new cursor (equal to ``cursor`` when nothing changed)."""

    def schedule_commit(
        self,
        name: str,
        *,
        fence: tuple[str, int] | None,
        expect_state: str | None,
        new_state: str,
        publish: Sequence[Outgoing] = (),
        require_enabled: bool = True,
    ) -> int:
        """Atomically publish ``publish`` and store ``new_state``, only if the lease
        ``fence`` = (holder, token) is still current (None: unfenced) and the stored state
        is still ``expect_state``. Returns 1 done, 0 state changed, -1 fenced, -2 entry
        gone, -3 entry paused (with ``require_enabled``)."""

    def beat_acquire(self, holder: str, ttl_s: float) -> int | None:
        """Take the beat leader lease if free: its new fencing token, or None."""

    def beat_renew(self, holder: str, token: int, ttl_s: float) -> bool:
        """Extend the lease if ``(holder, token)`` still holds it."""

    def beat_release(self, holder: str, token: int) -> None:
        """Drop the lease if ``(holder, token)`` holds it."""


#: Every role (the conformance suite checks each on every transport).
ROLES: tuple[type, ...] = (Broker, ResultStore, DeadLetters, ControlChannel, WorkerRegistry, EventLog,
                           ScheduleStore)


@runtime_checkable
class Backend(Broker, ResultStore, DeadLetters, ControlChannel, WorkerRegistry, EventLog, ScheduleStore,
              Protocol):
    """Every role of one transport: what ``backends.create`` returns."""

    def close(self) -> None:
        """Release connections; the backend cannot be used afterwards."""
