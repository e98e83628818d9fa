"""One delivery in, one settlement out: decode, check, call the task, decide what follows.

No I/O here except what a task itself does through ``update_state``: the caller (a
consumer) fetches deliveries and writes the returned :class:`Settlement` objects. A bad
message becomes a dead-letter settlement with a reason; it never raises out of here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import traceback as tb_module
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from celeriac import retrying, serialization, signals, states
from celeriac.backends.base import Delivery, Outgoing, ResultRecord, Settlement
from celeriac.canvas.followups import after_failure, after_success, needs_resolving, resolve
from celeriac.errors import (
    BrokerError,
    ChordError,
    ContentDisallowed,
    DecodeError,
    EncodeError,
    HardTimeLimit,
    Ignore,
    NotRegistered,
    Reject,
    Replaced,
    Retry,
    SoftTimeLimitExceeded,
    TaskRevokedError,
    Terminated,
    TimeLimitExceeded,
)
from celeriac.message import MAX_ID_LEN, Message, parse_time
from celeriac.request import Context, pop_request, push_request
from celeriac.result import exception_to_dict
from celeriac.task import Task
from celeriac.worker.limits import Interrupter, Watched
from celeriac.worker.rate_limit import RateLimiter

if TYPE_CHECKING:
    from celeriac.app import Celeriac

logger = logging.getLogger("celeriac.worker")

RUNTIME_EWMA_ALPHA = 0.05  #: weight of the newest runtime in the moving average
REQUEUES_HEADER = "celeriac_requeues"  #: times an early-acked message was rejected with requeue


@dataclass
class Job:
    """A decoded delivery about to run."""

    delivery: Delivery
    message: Message
    task: Task
    context: Context
    received: float = field(default_factory=time.time)
    started: float = 0.0
    watched: Watched | None = None
    """Set while the task runs under a time limit (or may be terminated)."""


@dataclass
class Outcome:
    """What a call produced."""

    state: str
    value: Any = None
    exc: BaseException | None = None
    traceback: str | None = None
    retry: Retry | None = None
    reject: Reject | None = None


class Executor:
    """Turns deliveries into settlements for one worker process."""

    def __init__(self, app: Celeriac, *, hostname: str) -> None:
        self.app = app
        self.hostname = hostname
        conf = app.conf
        self.accept = serialization.accepted(conf.accept_content)
        self.result_serializer = conf.result_serializer
        self.events = conf.worker_send_task_events
        self.track_started_default = conf.task_track_started
        self.ignore_result_default = conf.task_ignore_result
        self.acks_late_default = conf.task_acks_late
        self.max_deliveries = conf.task_max_deliveries
        self.processed = 0
        self.totals: dict[str, int] = {}
        """Tasks settled by this process, by name (``stats()['total']``)."""
        self.avg_runtime_s: float | None = None
        """Moving average of task runtime (what the consumer sizes its prefetch by)."""
        self.log_info = logger.isEnabledFor(logging.INFO)
        self.log_debug = logger.isEnabledFor(logging.DEBUG)
        self.time_limit = conf.task_time_limit
        self.soft_time_limit = conf.task_soft_time_limit
        self.default_rate_limit = conf.task_default_rate_limit
        self.limiter = RateLimiter()
        self.interrupter: Interrupter | None = None
        """Set by the consumer: stops tasks at their time limits or on terminate."""
        self.watch_all = False
        """Track every running task (so that ``revoke(terminate=True)`` can reach it)."""
        self.revoked_ids: set[str] = set()
        """Ids revoked since this process started (control messages): caught before start
        even when fetched before the revocation."""
        self._async_running: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], list[str]]] = {}

    # -- decoding and checks -------------------------------------------------------------------

    def begin(self, d: Delivery) -> Job | Settlement:
        """Decode and check a delivery: a :class:`Job` to run, or a settlement to write now.

        Never raises: a message that breaks a bound (or trips anything unforeseen while it
        is checked) becomes a dead letter with the reason, before any task code runs; a
        broker error while checking hands the message back untouched.
        """
        if d.invalid is not None:  # the transport found a bad field (docs/protocol.md, Bounds)
            return self._reject(d, f"malformed entry: {d.invalid or 'its invalid field is set'}")
        try:
            return self._begin(d)
        except BrokerError as exc:
            logger.warning("could not check message %s (%s): handing it back", d.message_id, exc)
            again = Outgoing(queue=d.queue, task_id=d.task_id, content_type=d.content_type, body=d.body,
                             priority=d.priority or None)
            return Settlement(d, publish=[again])
        except Exception as exc:
            return self._reject(d, f"malformed message: {type(exc).__name__}: {exc}")

    def _begin(self, d: Delivery) -> Job | Settlement:
        try:
            body = serialization.loads(d.body, d.content_type, self.accept)
            message = Message.from_dict(body)
        except ContentDisallowed as exc:
            return self._reject(d, f"content type not accepted: {exc}")
        except DecodeError as exc:
            return self._reject(d, f"malformed message: {exc}", task_id=_body_id(body_or_none(d, self.accept)))
        task = self.app.tasks.get(message.task)
        if task is None:
            unknown = NotRegistered(message.task)
            if signals.task_unknown.receivers:
                signals.task_unknown.send(self, name=message.task, id=message.id, message=d, exc=unknown)
            return self._reject(d, f"unknown task {message.task!r} (not registered in this worker)",
                                message, unknown)
        now = time.time()
        if d.revoked or (self.revoked_ids and message.id in self.revoked_ids) or (
                d.task_id != message.id and self.app.broker.revoked([message.id])[0]):
            return self._finish_revoked(d, message, "revoked")
        if message.expires is not None:
            expires = parse_time(message.expires, "expires")
            if expires is not None and expires.timestamp() <= now:
                return self._finish_revoked(d, message, "expired")
        if message.eta is not None:
            eta = parse_time(message.eta, "eta")
            if eta is not None and eta.timestamp() > now + 0.001:
                # Published straight to the stream with a future eta (e.g. by another
                # language): park it in the delayed set rather than hold it here.
                again = Outgoing(queue=d.queue, task_id=message.id, content_type=d.content_type,
                                 body=d.body, priority=d.priority or None, eta=eta.timestamp())
                return Settlement(d, publish=[again])
        rate = task.rate_limit or self.default_rate_limit
        if rate:
            wait = self.limiter.acquire(message.task, rate)
            if wait > 0:
                # Over its rate: back to the delayed set for when a token is due; other
                # task types keep running meanwhile.
                again = Outgoing(queue=d.queue, task_id=message.id, content_type=d.content_type,
                                 body=d.body, priority=d.priority or None, eta=now + wait)
                return Settlement(d, publish=[again])
        chord_error: BaseException | None = None
        if message.headers and needs_resolving(message):
            try:  # a chord callback gets its header's results; an errback its request/exc
                message = resolve(self.app, message)
            except ChordError as exc:
                chord_error = exc
            except DecodeError as exc:
                return self._reject(d, f"malformed message: {exc}", message)
        context = Context(
            id=message.id, task=message.task, args=message.args, kwargs=message.kwargs,
            retries=message.retries, root_id=message.root_id, parent_id=message.parent_id,
            group=message.group, group_index=message.group_index, eta=message.eta,
            expires=message.expires, hostname=self.hostname,
            delivery_info={"routing_key": d.queue, "queue": d.queue, "priority": message.priority,
                           "redelivered": d.deliveries > 1, "deliveries": d.deliveries},
            headers=message.headers, callbacks=message.callbacks, errbacks=message.errbacks,
            chain=message.chain, chord=message.chord, timelimit=message.timelimit,
            ignore_result=message.ignore_result, priority=message.priority, reply_to=message.reply_to,
        )
        if self.log_info:
            logger.info("Task %s[%s] received", message.task, message.id)
            if self.log_debug:
                logger.debug("Task %s[%s] payload: args=%r kwargs=%r", message.task, message.id,
                             message.args, message.kwargs)
        if signals.task_received.receivers:
            signals.task_received.send(self, request=context)
        if chord_error is not None:  # a header task failed: the callback fails instead of running
            return self.finish(Job(d, message, task, context, received=now),
                               Outcome(states.FAILURE, exc=chord_error))
        return Job(d, message, task, context, received=now)

    def acks_late(self, job: Job) -> bool:
        late = job.task.acks_late
        return self.acks_late_default if late is None else late

    def track_started(self, job: Job) -> bool:
        track = job.task.track_started
        return self.track_started_default if track is None else track

    def started_record(self, job: Job) -> ResultRecord:
        return self._record(job.message, states.STARTED, None, extra={"date_started": repr(time.time())})

    # -- running ---------------------------------------------------------------------------------

    def limits(self, job: Job) -> tuple[float | None, float | None]:
        """(soft, hard) time limits of a job in seconds: the message's, else the task's (as
        registered in this worker: a producer without the task sends none), else the worker's."""
        hard, soft = job.message.timelimit if job.message.timelimit else (None, None)
        if soft is None:
            soft = job.task.soft_time_limit
        if hard is None:
            hard = job.task.time_limit
        return (soft if soft is not None else self.soft_time_limit,
                hard if hard is not None else self.time_limit)

    def call(self, job: Job) -> Outcome:
        """Run a synchronous (or async, in a fresh loop) task; never raises."""
        token = push_request(job.context)
        job.started = time.time()
        task, m = job.task, job.message
        interrupter = self.interrupter
        try:
            if interrupter is not None:
                soft, hard = self.limits(job)
                if soft or hard or self.watch_all:
                    job.watched = interrupter.watch(m.id, soft_s=soft, hard_s=hard)
                    job.watched.payload = job
            try:
                if signals.task_prerun.receivers:
                    signals.task_prerun.send(task, task_id=m.id, task=task, args=m.args, kwargs=m.kwargs)
                task.before_start(m.id, m.args, m.kwargs)
                if task.is_async:
                    value = asyncio.run(_as_coroutine(task, m))
                else:
                    value = task(*m.args, **m.kwargs)
            finally:
                if job.watched is not None and interrupter is not None:
                    interrupter.unwatch(job.watched)
            return Outcome(states.SUCCESS, value)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            return self._outcome_of(exc, job)
        finally:
            pop_request(token)

    def terminate(self, task_id: str) -> bool:
        """Stop a running task of this process (``revoke(terminate=True)``); False if not here."""
        running = self._async_running.get(task_id)
        if running is not None:
            loop, fut, why = running
            why.append("terminated")
            loop.call_soon_threadsafe(fut.cancel)
            return True
        return self.interrupter is not None and self.interrupter.terminate(task_id)

    async def call_async(self, job: Job) -> Outcome:
        """Run a task on the running loop (sync tasks go to the loop's thread executor)."""
        token = push_request(job.context)
        job.started = time.time()
        task, m = job.task, job.message
        why: list[str] = []
        try:
            if signals.task_prerun.receivers:
                signals.task_prerun.send(task, task_id=m.id, task=task, args=m.args, kwargs=m.kwargs)
            task.before_start(m.id, m.args, m.kwargs)
            if task.is_async:
                value = await self._limited(job, why)
            else:
                loop = asyncio.get_running_loop()
                ctx = job.context

                def run_sync() -> Any:
                    inner = push_request(ctx)
                    try:
                        return task(*m.args, **m.kwargs)
                    finally:
                        pop_request(inner)

                value = await loop.run_in_executor(None, run_sync)
            return Outcome(states.SUCCESS, value)
        except asyncio.CancelledError:
            if not why:
                raise
            exc = {"soft": SoftTimeLimitExceeded, "hard": HardTimeLimit}.get(why[-1], Terminated)()
            return self._outcome_of(exc, job)
        except Exception as exc:
            return self._outcome_of(exc, job)
        finally:
            pop_request(token)

    async def _limited(self, job: Job, why: list[str]) -> Any:
        """Await an async task as a cancellable future: limits and terminate cancel it
        (the coroutine sees ``CancelledError`` and may clean up)."""
        loop = asyncio.get_running_loop()
        fut = asyncio.ensure_future(_as_coroutine(job.task, job.message))
        key = job.message.id
        self._async_running[key] = (loop, fut, why)
        soft, hard = self.limits(job)
        timers = []

        def expire(kind: str) -> None:
            if not fut.done():
                logger.warning("task %s: %s time limit exceeded", key, kind)
                why.append(kind)
                fut.cancel()

        for kind, limit in (("soft", soft), ("hard", hard)):
            if limit:
                timers.append(loop.call_later(limit, expire, kind))
        try:
            return await fut
        finally:
            for t in timers:
                t.cancel()
            self._async_running.pop(key, None)

    def _outcome_of(self, exc: BaseException, job: Job | None = None) -> Outcome:
        if isinstance(exc, Terminated):
            return Outcome(states.REVOKED, exc=exc)
        if isinstance(exc, HardTimeLimit):
            _soft, hard = self.limits(job) if job is not None else (None, None)
            exc = TimeLimitExceeded(f"task exceeded its hard time limit ({hard}s)")
            return Outcome(states.FAILURE, exc=exc, traceback=tb_module.format_exc())
        if isinstance(exc, Retry):
            return Outcome(states.RETRY, exc=exc.exc or exc, retry=exc,
                           traceback=tb_module.format_exc() if exc.exc else None)
        if isinstance(exc, Reject):
            return Outcome(states.REJECTED, exc=exc, reject=exc)
        if isinstance(exc, Ignore):
            return Outcome(states.IGNORED, exc=exc)
        return Outcome(states.FAILURE, exc=exc, traceback=tb_module.format_exc())

    # -- settling --------------------------------------------------------------------------------

    def finish(self, job: Job, outcome: Outcome) -> Settlement:
        """The settlement for a job's outcome (autoretry decided here); runs task hooks.

        Never raises: the body has run, so whatever goes wrong from here (a result that
        cannot be serialized, a follow-up that cannot be built) is recorded as the task's
        ``FAILURE`` in this same settlement, and the message is acked, never run again.
        """
        try:
            return self._finish(job, outcome)
        except Exception as exc:
            if outcome.state in (states.SUCCESS, states.RETRY):
                why = "result" if outcome.state == states.SUCCESS else "retry"
                failure = Outcome(states.FAILURE, exc=_encode_error(job, why, exc),
                                  traceback=tb_module.format_exc())
                try:
                    return self._finish(job, failure)
                except Exception:
                    logger.exception("Task %s[%s]: recording its failure failed too", job.message.task,
                                     job.message.id)
            return self._bare_failure(job, exc)

    def _bare_failure(self, job: Job, exc: BaseException) -> Settlement:
        """The last resort after the body ran: a FAILURE record without follow-ups, and the ack."""
        m = job.message
        err = exc if isinstance(exc, EncodeError) else _encode_error(job, "outcome", exc)
        logger.error("Task %s[%s]: its outcome could not be settled (%s); recorded as FAILURE", m.task, m.id, err)
        _internal_error(job.task, m.id, m.args, m.kwargs, job.context, exc)
        meta = {"exc_type": "EncodeError", "exc_module": "celeriac.errors", "exc_message": [str(err)[:2000]]}
        record = ResultRecord(task_id=m.id, status=states.FAILURE, content_type=serialization.JSON,
                              result=serialization.dumps(meta, "json")[1], date_done=time.time(), task=m.task,
                              worker=self.hostname, retries=m.retries, queue=m.queue,
                              parent_id=m.parent_id, root_id=m.root_id, group=m.group)
        settlement = Settlement(job.delivery, result=record)
        settlement.stats = (m.task, states.FAILURE, time.time() - (job.started or job.received),
                            job.started or job.received)
        return settlement

    def _finish(self, job: Job, outcome: Outcome) -> Settlement:
        task, m = job.task, job.message
        runtime = time.time() - (job.started or job.received)
        self.processed += 1
        self.totals[m.task] = self.totals.get(m.task, 0) + 1
        avg = self.avg_runtime_s
        self.avg_runtime_s = runtime if avg is None else avg + (runtime - avg) * RUNTIME_EWMA_ALPHA
        if outcome.state == states.FAILURE and outcome.exc is not None:
            retry = retrying.autoretry(job.task, outcome.exc, job.message.retries)
            if retry is not None:
                outcome = Outcome(states.RETRY, exc=outcome.exc, retry=retry, traceback=outcome.traceback)
        if outcome.state == states.SUCCESS:
            settlement = self._success(job, outcome.value, runtime)
            _hook(task.on_success, outcome.value, m.id, m.args, m.kwargs)
            if signals.task_success.receivers:
                signals.task_success.send(task, result=outcome.value)
        elif outcome.state == states.RETRY and outcome.retry is not None:
            settlement = self._retry(job, outcome, runtime)
            if signals.task_retry.receivers:
                signals.task_retry.send(task, request=job.context, reason=outcome.exc, einfo=outcome.traceback)
        elif outcome.state == states.REVOKED:
            settlement = self._finish_revoked(job.delivery, m, "terminated")
        elif outcome.state == states.REJECTED and outcome.reject is not None:
            if outcome.reject.requeue:
                settlement = self._requeue(job, outcome.reject)
            else:
                settlement = self._reject(job.delivery, f"rejected by the task: {outcome.reject.reason}", m,
                                          outcome.reject)
        elif outcome.state == states.IGNORED:
            replaced = outcome.exc.messages if isinstance(outcome.exc, Replaced) else []
            settlement = Settlement(job.delivery, publish=replaced)
        else:
            settlement = self._failure(job, outcome, runtime)
        if outcome.state != states.IGNORED:
            value = outcome.value if outcome.state == states.SUCCESS else outcome.exc
            _hook(task.after_return, outcome.state, value, m.id, m.args, m.kwargs, outcome.traceback)
        if signals.task_postrun.receivers:
            signals.task_postrun.send(task, task_id=m.id, task=task, args=m.args, kwargs=m.kwargs,
                                      retval=outcome.value if outcome.state == states.SUCCESS else outcome.exc,
                                      state=outcome.state)
        settlement.stats = (m.task, outcome.state, runtime, job.started or job.received)
        return settlement

    def _success(self, job: Job, value: Any, runtime: float) -> Settlement:
        m = job.message
        if self.log_info:
            logger.info("Task %s[%s] succeeded in %.6fs: %.200r", m.task, m.id, runtime, value)
        record = None
        runtime_text = f"{runtime:.6f}"
        if not m.ignore_result:  # the producer folded the task's default in; a call's option wins (Celery)
            record = self._record(m, states.SUCCESS, value)
            record.extra["runtime"] = runtime_text
            if job.context.children:
                record.children = job.context.children
            if job.started:
                record.extra["date_started"] = repr(job.started)
        settlement = Settlement(job.delivery, result=record)
        after_success(self.app, m, value, settlement)
        if self.events:
            # Built inline (the hot path): every value a string, as _event() would make it.
            settlement.events.append({
                "type": "task-succeeded", "uuid": m.id, "name": m.task, "hostname": self.hostname,
                "timestamp": f"{time.time():.6f}", "queue": m.queue or "", "runtime": runtime_text,
                "result": "None" if value is None else _short_repr(value),
            })
        return settlement

    def _failure(self, job: Job, outcome: Outcome, runtime: float) -> Settlement:
        m, exc = job.message, outcome.exc
        assert exc is not None
        expected = isinstance(exc, job.task.throws) if job.task.throws else False
        if expected:
            logger.info("Task %s[%s] raised expected: %r", m.task, m.id, exc)
        else:
            logger.error("Task %s[%s] raised unexpected: %r\n%s", m.task, m.id, exc, outcome.traceback or "")
        record = self._record(m, states.FAILURE, exception_to_dict(exc), traceback=outcome.traceback)
        if job.context.children:
            record.children = job.context.children
        settlement = Settlement(job.delivery, result=record)
        if not job.task.acks_on_failure_or_timeout and self.acks_late(job):
            settlement.dead_letter_reason = f"failed with acks_on_failure_or_timeout=False: {exc!r}"[:2000]
        after_failure(self.app, m, exc, outcome.traceback, settlement)
        if self.events:
            settlement.events.append(self._event("task-failed", m, runtime=runtime, exception=repr(exc),
                                                 traceback=outcome.traceback or ""))
        _hook(job.task.on_failure, exc, m.id, m.args, m.kwargs, outcome.traceback or "")
        if signals.task_failure.receivers:
            signals.task_failure.send(job.task, task_id=m.id, exception=exc, args=m.args, kwargs=m.kwargs,
                                      traceback=outcome.traceback, einfo=outcome.traceback)
        return settlement

    def _retry(self, job: Job, outcome: Outcome, runtime: float) -> Settlement:
        m = job.message
        retry = outcome.retry
        assert retry is not None
        when = retrying.delay_s(retry, job.task)
        args, kwargs = retrying.next_call(retry, m.args, m.kwargs)
        queue = retry.options.get("queue") or job.delivery.queue
        nxt = m.replace(retries=m.retries + 1, args=args, kwargs=kwargs,
                        eta=dt.datetime.fromtimestamp(time.time() + when, dt.UTC).isoformat() if when > 0 else None,
                        queue=queue)
        content_type, body = serialization.dumps(nxt.to_dict(), job.task.serializer or self.app.conf.task_serializer)
        again = Outgoing(queue=queue, task_id=m.id, content_type=content_type, body=body,
                         priority=m.priority, eta=time.time() + when if when > 0 else None)
        exc = outcome.exc
        logger.info("Task %s[%s] retry %d in %.2fs: %r", m.task, m.id, m.retries + 1, when, exc)
        meta = exception_to_dict(exc) if exc is not None else None
        record = self._record(m, states.RETRY, meta, traceback=outcome.traceback)
        record.retries = m.retries + 1
        settlement = Settlement(job.delivery, result=record, publish=[again])
        if self.events:
            settlement.events.append(self._event("task-retried", m, exception=repr(exc), eta=when))
        if exc is not None:
            _hook(job.task.on_retry, exc, m.id, m.args, m.kwargs, outcome.traceback or "")
        return settlement

    def _finish_revoked(self, d: Delivery, m: Message, why: str) -> Settlement:
        logger.info("Task %s[%s] %s: not run", m.task, m.id, why)
        record = self._record(m, states.REVOKED, {"exc_type": "TaskRevokedError",
                                                  "exc_module": "celeriac.errors", "exc_message": [why]})
        record.extra["reason"] = why
        s = Settlement(d, result=record)
        if m.chain or m.chord:  # the rest of a chain will not run; a chord fails
            after_failure(self.app, m, TaskRevokedError(why), None, s, state=states.REVOKED)
        if self.events:
            s.events.append(self._event("task-revoked", m, reason=why, expired=why == "expired"))
        if signals.task_revoked.receivers:
            request = Context(id=m.id, task=m.task, args=m.args, kwargs=m.kwargs, retries=m.retries,
                              root_id=m.root_id, parent_id=m.parent_id, group=m.group, hostname=self.hostname)
            signals.task_revoked.send(self.app.tasks.get(m.task), request=request,
                                      terminated=why == "terminated", signum=None, expired=why == "expired")
        return s

    def _requeue(self, job: Job, exc: Reject) -> Settlement:
        """``Reject(requeue=True)``. Acked late: the SAME message goes back (the consumer's
        ``requeue``), so the next delivery has ``redelivered`` set, and after
        ``task_max_deliveries`` it is dead-lettered. Acked early (the message is gone, where
        Celery would lose it): a copy is published, its requeues counted in a header, and
        dead-lettered at the same bound."""
        d, m = job.delivery, job.message
        logger.info("Task %s[%s] rejected, requeued (delivery %d)", m.task, m.id, d.deliveries)
        if self.acks_late(job):
            return Settlement(d, requeue=True)
        headers = dict(m.headers or {})
        count = int(headers.get(REQUEUES_HEADER) or 0) + 1
        if self.max_deliveries and count >= self.max_deliveries:
            return self._reject(d, f"rejected with requeue {count} times (task_max_deliveries "
                                   f"{self.max_deliveries})", m, exc)
        headers[REQUEUES_HEADER] = count
        content_type, body = serialization.dumps(m.replace(headers=headers).to_dict(), d.content_type)
        again = Outgoing(queue=d.queue, task_id=m.id, content_type=content_type, body=body,
                         priority=d.priority or None)
        return Settlement(d, publish=[again])

    def _reject(self, d: Delivery, reason: str, m: Message | None = None,
                exc: BaseException | None = None, *, task_id: str | None = None) -> Settlement:
        reason = reason if len(reason) <= 2000 else reason[:1997] + "..."
        logger.error("Message %s (task id %s) dead-lettered: %s", d.message_id, d.task_id or "?", reason)
        s = Settlement(d, dead_letter_reason=reason)
        task_id = m.id if m is not None else (_usable_id(d.task_id) or task_id)
        if task_id:
            meta = exception_to_dict(exc) if exc is not None else {
                "exc_type": "DecodeError", "exc_module": "celeriac.errors", "exc_message": [reason]}
            s.result = ResultRecord(task_id=task_id, status=states.REJECTED, content_type=serialization.JSON,
                                    result=serialization.dumps(meta, "json")[1], date_done=time.time(),
                                    task=m.task if m else None, worker=self.hostname, queue=d.queue,
                                    extra={"reason": reason})
        if signals.task_rejected.receivers:
            signals.task_rejected.send(self, message=d, exc=exc)
        if self.events:
            s.events.append({"type": "task-rejected", "uuid": task_id or "", "hostname": self.hostname,
                             "timestamp": repr(time.time()), "reason": reason, "queue": d.queue})
        return s

    def _record(self, m: Message, state: str, value: Any, *, traceback: str | None = None,
                extra: dict[str, str] | None = None) -> ResultRecord:
        content_type, payload = serialization.dumps(value, self.result_serializer)
        return ResultRecord(
            task_id=m.id, status=state, result=payload, content_type=content_type, traceback=traceback,
            date_done=time.time() if state in states.READY_STATES else None, task=m.task,
            worker=self.hostname, retries=m.retries, queue=m.queue, parent_id=m.parent_id,
            root_id=m.root_id, group=m.group, extra=extra or {},
        )

    def _event(self, kind: str, m: Message, **fields: Any) -> dict[str, Any]:
        event: dict[str, Any] = {"type": kind, "uuid": m.id, "name": m.task, "hostname": self.hostname,
                                 "timestamp": repr(time.time()), "queue": m.queue or ""}
        for key, value in fields.items():
            event[key] = value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)
        return event

    # -- whole deliveries ------------------------------------------------------------------------

    def crashed(self, d: Delivery, exc: BaseException) -> Settlement:
        """A delivery whose processing raised where nothing should (a bug): a dead letter
        with the error, so the pool's thread or process goes on and the message is not held
        for ever."""
        logger.critical("processing message %s raised", d.message_id, exc_info=exc)
        _internal_error(None, d.task_id, None, None, None, exc)
        return self._reject(d, f"worker error while processing: {type(exc).__name__}: {exc}")

    def process(self, d: Delivery, on_started: Callable[[Job], None] | None = None) -> Settlement:
        """Decode, run and settle one delivery synchronously."""
        job = self.begin(d)
        if isinstance(job, Settlement):
            return job
        if on_started is not None:
            on_started(job)
        return self.finish(job, self.call(job))


async def _as_coroutine(task: Task, m: Message) -> Any:
    result = task(*m.args, **m.kwargs)
    if asyncio.iscoroutine(result):
        return await result
    return result


def _internal_error(task: Task | None, task_id: str | None, args: Any, kwargs: Any, request: Context | None,
                    exc: BaseException) -> None:
    """Celery's ``task_internal_error``: the worker failed outside the task's body."""
    if signals.task_internal_error.receivers:
        signals.task_internal_error.send(task, task_id=task_id, args=args, kwargs=kwargs, request=request,
                                         exception=exc, traceback=exc.__traceback__,
                                         einfo="".join(tb_module.format_exception(exc)))


def _hook(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        logger.exception("task hook %s failed", getattr(fn, "__qualname__", fn))


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:
        text = f"<{type(value).__name__}: repr() raised {type(exc).__name__}>"
    return text if len(text) <= 200 else text[:197] + "..."


def _encode_error(job: Job, what: str, exc: BaseException) -> EncodeError:
    return EncodeError(f"the {what} of {job.message.task}[{job.message.id}] cannot be settled: "
                       f"{type(exc).__name__}: {exc}")


def _usable_id(value: Any) -> str | None:
    """A task id fit to store a result under (a REJECTED one, for a bad message)."""
    if isinstance(value, str) and value and len(value) <= MAX_ID_LEN and "\n" not in value:
        return value
    return None


def body_or_none(d: Delivery, accept: frozenset[str]) -> Any:
    try:
        return serialization.loads(d.body, d.content_type, accept)
    except Exception:
        return None


def _body_id(body: Any) -> str | None:
    """The ``id`` of a body that failed validation, if it has a usable one."""
    return _usable_id(body.get("id")) if isinstance(body, dict) else None
