"""The worker side of remote control: a registry of command handlers and their dispatch.

Every worker process (each prefork child too) listens on the broker's control channel
(``Consumer._control_loop``) and hands each request to :func:`dispatch`, which runs the
registered handler and, when the request has a ``reply_to``, answers with this process's
hostname and consumer name. Clients aggregate replies per hostname (``celeriac.control``).
Add a command with ``@control_command("name")``; a handler gets the consumer and the
request dict and returns what to reply (JSON-able).

Commands that act on the whole worker rather than one process (``shutdown``,
``pool_grow``, ``pool_shrink``) are carried out once per prefork worker: the first child
to claim the request in the supervisor's directory signals the supervisor. What this
module must not do: block (it runs in the listener thread) or talk to Redis directly.
"""

from __future__ import annotations

import logging
import os
import resource
import signal
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from celeriac import serialization
from celeriac.errors import BrokerError

if TYPE_CHECKING:
    from celeriac.worker.consumer import Consumer

logger = logging.getLogger(__name__)

Handler = Callable[["Consumer", dict[str, Any]], Any]
COMMANDS: dict[str, Handler] = {}
"""Every control command a worker obeys, by name (``Consumer.control_handlers`` copies it)."""

SUPERVISOR_DIR_ENV = "CELERIAC_SUPERVISOR_DIR"  #: set by a prefork supervisor for its children


def control_command(name: str) -> Callable[[Handler], Handler]:
    """Register a handler for control command ``name``."""

    def register(fn: Handler) -> Handler:
        COMMANDS[name] = fn
        return fn

    return register


def dispatch(consumer: Consumer, message: dict[str, Any]) -> None:
    """Run one control request; reply when asked to (every listener replies, so a client
    can stop waiting as soon as all have answered)."""
    command = str(message.get("command", ""))
    destination = message.get("destination")
    reply_to = message.get("reply_to")
    addressed = not destination or consumer.hostname in destination or consumer.name in destination
    handler = consumer.control_handlers.get(command)
    reply: dict[str, Any] = {"hostname": consumer.hostname, "consumer": consumer.name, "pid": os.getpid()}
    if not addressed:
        reply["skipped"] = True
    elif handler is None:
        reply["error"] = f"unknown command {command!r}"
    else:
        try:
            reply["ok"] = handler(consumer, message)
        except Exception as exc:
            logger.exception("control command %r failed", command)
            reply["error"] = f"{type(exc).__name__}: {exc}"
    if reply_to:
        try:
            consumer.backend.control_reply(str(reply_to), reply)
        except BrokerError as exc:
            logger.warning("could not reply to control command %r: %s", command, exc)


def _args(message: dict[str, Any]) -> dict[str, Any]:
    args = message.get("arguments")
    return args if isinstance(args, dict) else {}


def _job_info(consumer: Consumer, job: Any) -> dict[str, Any]:
    m = job.message
    return {"id": m.id, "name": m.task, "args": repr(m.args)[:200], "kwargs": repr(m.kwargs)[:200],
            "queue": job.delivery.queue, "time_start": job.started or None, "worker_pid": os.getpid(),
            "hostname": consumer.hostname, "delivery_tag": job.delivery.message_id,
            "redelivered": job.delivery.deliveries > 1}


# -- inspect ---------------------------------------------------------------------------------

@control_command("ping")
def ping(consumer: Consumer, message: dict[str, Any]) -> Any:
    return "pong"


@control_command("active")
def active(consumer: Consumer, message: dict[str, Any]) -> Any:
    return [_job_info(consumer, job) for job in list(consumer.running.values())]


@control_command("reserved")
def reserved(consumer: Consumer, message: dict[str, Any]) -> Any:
    running = set(consumer.running)
    out = []
    for mid, d in list(consumer.inflight.items()):
        if mid in running:
            continue
        name = None
        try:
            body = serialization.loads(d.body, d.content_type, consumer.executor.accept)
            name = body.get("task") if isinstance(body, dict) else None
        except Exception:
            name = None
        out.append({"id": d.task_id, "name": name, "queue": d.queue, "delivery_tag": mid,
                    "hostname": consumer.hostname})
    return out


@control_command("scheduled")
def scheduled(consumer: Consumer, message: dict[str, Any]) -> Any:
    # ETA/countdown tasks wait in the broker's delayed set, not in a worker's memory (so a
    # worker restart loses none): no worker holds any. `celeriac queues` counts them.
    return []


@control_command("registered")
def registered(consumer: Consumer, message: dict[str, Any]) -> Any:
    return sorted(n for n in consumer.app.tasks if not n.startswith("celeriac."))


@control_command("revoked")
def revoked(consumer: Consumer, message: dict[str, Any]) -> Any:
    return sorted(consumer.executor.revoked_ids)


@control_command("stats")
def stats(consumer: Consumer, message: dict[str, Any]) -> Any:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "hostname": consumer.hostname, "consumer": consumer.name, "pid": os.getpid(),
        "pool": {"implementation": consumer.pool_name, "max-concurrency": consumer.concurrency,
                 "capacity": consumer.pool.capacity},
        "processed": consumer.executor.processed, "active": len(consumer.running),
        "in_flight": len(consumer.inflight), "queues": list(consumer.queues),
        "uptime": round(time.time() - consumer.started_at, 3), "broker": consumer.backend.url.split("@")[-1],
        "rusage": {"utime": usage.ru_utime, "stime": usage.ru_stime, "maxrss_kib": usage.ru_maxrss},
        "avg_runtime_s": consumer.executor.avg_runtime_s,
    }


# -- control ---------------------------------------------------------------------------------

def _claim(message: dict[str, Any]) -> bool:
    """In a prefork child: True for the one child that carries out a whole-worker command."""
    path = os.environ.get(SUPERVISOR_DIR_ENV)
    if not path:
        return True
    try:
        fd = os.open(os.path.join(path, f"claim-{message.get('reply_to') or message.get('id')}"),
                     os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def _to_supervisor(consumer: Consumer, sig: int, times: int = 1) -> None:
    for _ in range(times):
        os.kill(os.getppid(), sig)
        time.sleep(0.05)  # signals of one kind coalesce: give the supervisor time to see each


@control_command("shutdown")
def shutdown(consumer: Consumer, message: dict[str, Any]) -> Any:
    if consumer.prefork_child:
        if _claim(message):
            _to_supervisor(consumer, signal.SIGTERM)
        return {"ok": "shutting down"}
    consumer.stop()
    return {"ok": "shutting down"}


def _pool_resize(consumer: Consumer, message: dict[str, Any], grow: bool) -> Any:
    n = int(_args(message).get("n", 1))
    if not consumer.prefork_child:
        return {"ok": f"pool size {consumer.pool.resize(n if grow else -n)}"}
    if _claim(message):
        _to_supervisor(consumer, signal.SIGTTIN if grow else signal.SIGTTOU, n)
    return {"ok": f"pool will {'grow' if grow else 'shrink'} by {n}"}


@control_command("pool_grow")
def pool_grow(consumer: Consumer, message: dict[str, Any]) -> Any:
    return _pool_resize(consumer, message, True)


@control_command("pool_shrink")
def pool_shrink(consumer: Consumer, message: dict[str, Any]) -> Any:
    return _pool_resize(consumer, message, False)


@control_command("add_consumer")
def add_consumer(consumer: Consumer, message: dict[str, Any]) -> Any:
    queue = str(_args(message).get("queue") or "")
    if not queue:
        raise ValueError("add_consumer needs a queue")
    if queue in consumer.queues:
        return {"ok": f"already consuming from {queue!r}"}
    consumer.backend.ensure_queues([queue])
    consumer.queues = [*consumer.queues, queue]
    return {"ok": f"now consuming from {queue!r}"}


@control_command("cancel_consumer")
def cancel_consumer(consumer: Consumer, message: dict[str, Any]) -> Any:
    queue = str(_args(message).get("queue") or "")
    if queue not in consumer.queues:
        return {"ok": f"not consuming from {queue!r}"}
    if len(consumer.queues) == 1:
        raise ValueError("cannot stop consuming from the last queue")
    consumer.queues = [q for q in consumer.queues if q != queue]
    return {"ok": f"no longer consuming from {queue!r}"}


@control_command("rate_limit")
def rate_limit(consumer: Consumer, message: dict[str, Any]) -> Any:
    args = _args(message)
    name = str(args.get("task_name") or "")
    task = consumer.app.tasks.get(name)
    if task is None:
        raise ValueError(f"unknown task {name!r}")
    rate = args.get("rate_limit")
    task.rate_limit = rate or None
    return {"ok": f"new rate limit for {name}: {rate or 'none'}"}
