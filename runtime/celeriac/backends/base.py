"""The transport contract: what a broker and a result store must do, as plain types.

The worker, the producer API and the CLI speak only this interface; everything
transport-specific (Redis commands, SQL) lives behind it. One class per transport
implements it whole, so that a transport can settle a finished task (ack + result +
follow-up messages + events) in one atomic round trip.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

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
    stats: tuple[str, str, float, float] | None = None
    """``(task name, state, runtime s, started epoch)`` of a task that ran, for the metrics
    hook (``Consumer.on_settled``); transports do not write it."""


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Depth figures for one queue (what an autoscaler reads)."""

    queue: str
    ready: int
    """Messages waiting to be fetched."""
    delayed: int
    """Messages waiting for their ETA."""
    due: int
    """Delayed messages whose ETA has passed (ready as soon as a worker promotes them)."""
    in_flight: int
    """Messages fetched by a worker and not yet acked."""
    dead: int
    """Messages in the dead-letter stream."""
    oldest_age_s: float | None = None
    """Age of the oldest ready message."""

    @property
    def depth(self) -> int:
        """Work that wants a worker: ready + due delayed + in flight."""
        return self.ready + self.due + self.in_flight


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


class Backend(Protocol):
    """Broker and result store of one transport."""

    url: str

    # -- producing -------------------------------------------------------------------------
    def publish(self, messages: Sequence[Outgoing]) -> None:
        """Publish messages (immediate or delayed) in as few round trips as possible."""

    # -- consuming -------------------------------------------------------------------------
    def ensure_queues(self, queues: Iterable[str]) -> None:
        """Create whatever a consumer needs to read these queues (idempotent)."""

    def fetch(self, queues: Sequence[str], consumer: str, count: int, timeout_s: float) -> list[Delivery]:
        """Up to ``count`` messages, most urgent priority first, waiting up to ``timeout_s``."""

    def settle(self, settlements: Sequence[Settlement]) -> None:
        """Ack, store results, publish follow-ups, count chords and emit events, atomically."""

    def requeue(self, deliveries: Sequence[Delivery], *, count_delivery: bool = False) -> None:
        """Give messages back to their queue at once (shutdown, prefetched but not started)."""

    def refresh_leases(self, consumer: str, deliveries: Sequence[Delivery]) -> None:
        """Tell the broker these messages are still held by a live consumer."""

    def release_consumer(self, queues: Sequence[str], consumer: str, *, count_delivery: bool) -> int:
        """Requeue every message a (finished or dead) consumer holds; returns how many."""

    def reclaim(self, queues: Sequence[str], idle_s: float, max_deliveries: int) -> int:
        """Return messages whose holder stopped heartbeating; dead-letter the poison ones."""

    def next_delayed_due(self, queues: Sequence[str]) -> float | None:
        """Epoch seconds of the earliest delayed message of these queues."""

    # -- results ---------------------------------------------------------------------------
    def store_result(self, record: ResultRecord) -> None:
        """Write a state outside of a settlement (STARTED, PROGRESS...)."""

    def get_result(self, task_id: str) -> ResultRecord | None:
        ...

    def get_results(self, task_ids: Sequence[str]) -> list[ResultRecord | None]:
        ...

    def wait_result(self, task_id: str, timeout_s: float | None) -> ResultRecord | None:
        """Block until the task reaches a ready state (woken, not polled) or time runs out."""

    def forget(self, task_id: str) -> None:
        ...

    # -- canvas ------------------------------------------------------------------------------
    def get_chord(self, group_id: str) -> ChordState:
        """The results (and first failure) joined so far by a chord's header tasks."""

    def save_group(self, group_id: str, payload: bytes) -> None:
        """Store a ``GroupResult`` description (JSON) for ``GroupResult.restore``; expires
        after ``result_expires``."""

    def get_group(self, group_id: str) -> bytes | None:
        ...

    def forget_group(self, group_id: str) -> None:
        ...

    # -- revocation, dead letters, stats ------------------------------------------------------
    def revoke(self, task_ids: Sequence[str], expires_s: float | None) -> None:
        ...

    def revoked(self, task_ids: Sequence[str]) -> list[bool]:
        ...

    def queue_stats(self, queue: str) -> QueueStats:
        ...

    def known_queues(self) -> list[str]:
        ...

    def purge(self, queue: str) -> int:
        """Drop every ready and delayed message of ``queue``; returns how many."""

    def dead_letters(self, queue: str | None, limit: int) -> list[DeadLetter]:
        ...

    def emit(self, events: Sequence[dict[str, Any]]) -> None:
        ...

    def read_events(self, after_id: str = "0", count: int = 1000,
                    block_s: float = 0.0) -> list[tuple[str, dict[str, Any]]]:
        """Events newer than ``after_id`` ("0": the oldest kept, "$": only new ones), oldest
        first, as ``(id, event)`` pairs; waits up to ``block_s`` when none is there yet.
        Ids are opaque strings that grow (docs/protocol.md, "Events")."""

    # -- beat: schedule registry, leader lease, fenced fire (see docs/protocol.md) -------------
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

    def beat_holder(self) -> str | None:
        """The current lease value ``"<token> <holder>"`` (None: no leader)."""

    def close(self) -> None:
        ...
