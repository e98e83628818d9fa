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

import json
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


def _delivery_info(d: Any, priority: Any = None) -> dict[str, Any]:
    return {"exchange": "", "routing_key": d.queue, "priority": priority if priority is not None else d.priority,
            "redelivered": d.deliveries > 1}


def _job_info(consumer: Consumer, job: Any) -> dict[str, Any]:
    """Celery's request info (``inspect().active()``), plus the queue and the delivery tag."""
    m = job.message
    return {"id": m.id, "name": m.task, "args": m.args, "kwargs": m.kwargs, "type": m.task,
            "hostname": consumer.hostname, "time_start": job.started or None, "acknowledged": False,
            "delivery_info": _delivery_info(job.delivery, m.priority), "worker_pid": os.getpid(),
            "queue": job.delivery.queue, "delivery_tag": job.delivery.message_id,
            "redelivered": job.delivery.deliveries > 1}


def _held_info(consumer: Consumer, mid: str, d: Any) -> dict[str, Any]:
    """A message held but not started (``inspect().reserved()``), decoded if it can be."""
    body: Any = None
    try:
        body = serialization.loads(d.body, d.content_type, consumer.executor.accept)
    except Exception:
        body = None
    body = body if isinstance(body, dict) else {}
    return {"id": d.task_id, "name": body.get("task"), "args": body.get("args"), "kwargs": body.get("kwargs"),
            "type": body.get("task"), "hostname": consumer.hostname, "time_start": None, "acknowledged": False,
            "delivery_info": _delivery_info(d), "worker_pid": None, "queue": d.queue, "delivery_tag": mid}


# -- inspect ---------------------------------------------------------------------------------

@control_command("ping")
def ping(consumer: Consumer, message: dict[str, Any]) -> Any:
    return {"ok": "pong"}


@control_command("active")
def active(consumer: Consumer, message: dict[str, Any]) -> Any:
    return [_job_info(consumer, job) for job in list(consumer.running.values())]


@control_command("reserved")
def reserved(consumer: Consumer, message: dict[str, Any]) -> Any:
    running = set(consumer.running)
    return [_held_info(consumer, mid, d) for mid, d in list(consumer.inflight.items()) if mid not in running]


@control_command("query_task")
def query_task(consumer: Consumer, message: dict[str, Any]) -> Any:
    """Celery's ``query_task(*ids)``: ``{id: ["active" | "reserved", request info]}``."""
    wanted = {str(i) for i in _args(message).get("ids") or []}
    out: dict[str, Any] = {}
    for job in list(consumer.running.values()):
        if job.message.id in wanted:
            out[job.message.id] = ["active", _job_info(consumer, job)]
    running = set(consumer.running)
    for mid, d in list(consumer.inflight.items()):
        if mid not in running and d.task_id in wanted and d.task_id not in out:
            out[d.task_id] = ["reserved", _held_info(consumer, mid, d)]
    return out


@control_command("active_queues")
def active_queues(consumer: Consumer, message: dict[str, Any]) -> Any:
    """Celery's queue declarations, one per consumed queue (no exchanges here: the name is
    the routing key)."""
    return [{"name": q, "exchange": {"name": "", "type": "direct", "durable": True, "auto_delete": False},
             "routing_key": q, "queue_arguments": None, "binding_arguments": None, "consumer_arguments": None,
             "durable": True, "exclusive": False, "auto_delete": False, "no_ack": False, "alias": None,
             "bindings": [], "no_declare": None, "expires": None, "message_ttl": None, "max_length": None,
             "max_length_bytes": None, "max_priority": 9} for q in consumer.queues]


@control_command("clock")
def clock(consumer: Consumer, message: dict[str, Any]) -> Any:
    # Celery answers its Lamport clock; celeriac orders events by the stream's ids instead,
    # so the value is the count of tasks this process has settled (grows, never goes back).
    return {"clock": consumer.executor.processed}


_HIDDEN = ("url", "password", "secret", "key", "token", "backend", "auth")


def _masked(name: str, value: Any) -> Any:
    if not isinstance(value, str) or not any(h in name.lower() for h in _HIDDEN):
        return value
    if "://" in value and "@" in value:
        scheme, rest = value.split("://", 1)
        return f"{scheme}://********@{rest.rsplit('@', 1)[1]}"
    return value if "://" in value else "********"


@control_command("conf")
def conf(consumer: Consumer, message: dict[str, Any]) -> Any:
    """Celery's ``conf(with_defaults=False)``: the settings that differ from the defaults
    (all of them with ``with_defaults``), secrets masked."""
    from celeriac.config import KNOWN, Settings

    settings = consumer.app.conf
    defaults = Settings()
    with_defaults = bool(_args(message).get("with_defaults"))
    out: dict[str, Any] = {}
    for name in sorted(KNOWN):
        value = getattr(settings, name)
        if with_defaults or value != getattr(defaults, name):
            out[name] = _masked(name, value)
    return json.loads(json.dumps(out, default=str))


@control_command("report")
def report(consumer: Consumer, message: dict[str, Any]) -> Any:
    return {"ok": consumer.app.bugreport()}


@control_command("scheduled")
def scheduled(consumer: Consumer, message: dict[str, Any]) -> Any:
    # ETA/countdown tasks wait in the broker's delayed set, not in a worker's memory (so a
    # worker restart loses none): no worker holds any. `celeriac queues` counts them.
    return []


@control_command("registered")
def registered(consumer: Consumer, message: dict[str, Any]) -> Any:
    """Task names; with Celery's ``taskinfoitems`` (``registered('rate_limit')``), each name is
    followed by those attributes: ``"t.add [rate_limit=10/s]"``."""
    items = [str(i) for i in _args(message).get("taskinfoitems") or []]
    out = []
    for name in sorted(n for n in consumer.app.tasks if not n.startswith("celeriac.")):
        task = consumer.app.tasks[name]
        fields = [f"{i}={getattr(task, i)}" for i in items if getattr(task, i, None) is not None]
        out.append(f"{name} [{' '.join(fields)}]" if fields else name)
    return out


@control_command("revoked")
def revoked(consumer: Consumer, message: dict[str, Any]) -> Any:
    return sorted(consumer.executor.revoked_ids)


@control_command("stats")
def stats(consumer: Consumer, message: dict[str, Any]) -> Any:
    """Celery's ``stats()`` layout for this process (``celeriac.control.merge_stats`` joins a
    prefork worker's children into one answer), plus celeriac's own figures."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    url = consumer.backend.url
    scheme, _, rest = url.partition("://")
    return {
        "broker": {"hostname": rest.rsplit("@", 1)[-1].split("/", 1)[0].split(":")[0] or None,
                   "port": _port(rest), "transport": scheme, "virtual_host": rest.rsplit("/", 1)[-1]
                   if "/" in rest else None, "heartbeat": consumer.app.conf.worker_heartbeat_interval,
                   "uri_prefix": None, "insist": False, "ssl": scheme == "rediss", "connect_timeout": None,
                   "login_method": None, "userid": None, "alternates": [], "transport_options": {},
                   "failover_strategy": None},
        "clock": str(consumer.executor.processed),
        "pid": os.getppid() if consumer.prefork_child else os.getpid(),
        "pool": {"implementation": f"celeriac.worker.pools.{consumer.pool_name}", "max-concurrency":
                 consumer.concurrency, "processes": [os.getpid()], "max-tasks-per-child":
                 consumer.max_tasks, "put-guarded-by-semaphore": False, "timeouts": [None, None],
                 "writes": {}, "capacity": consumer.pool.capacity},
        "prefetch_count": consumer.pool.capacity,
        "rusage": {"utime": usage.ru_utime, "stime": usage.ru_stime, "maxrss": usage.ru_maxrss,
                   "ixrss": usage.ru_ixrss, "idrss": usage.ru_idrss, "isrss": usage.ru_isrss,
                   "minflt": usage.ru_minflt, "majflt": usage.ru_majflt, "nswap": usage.ru_nswap,
                   "inblock": usage.ru_inblock, "oublock": usage.ru_oublock, "msgsnd": usage.ru_msgsnd,
                   "msgrcv": usage.ru_msgrcv, "nsignals": usage.ru_nsignals, "nvcsw": usage.ru_nvcsw,
                   "nivcsw": usage.ru_nivcsw},
        "total": dict(consumer.executor.totals),
        "uptime": int(time.time() - consumer.started_at),
        # celeriac's own
        "hostname": consumer.hostname, "consumers": [consumer.name], "processed": consumer.executor.processed,
        "active": len(consumer.running), "in_flight": len(consumer.inflight), "queues": list(consumer.queues),
        "avg_runtime_s": consumer.executor.avg_runtime_s,
    }


def _port(rest: str) -> int | None:
    host = rest.rsplit("@", 1)[-1].split("/", 1)[0]
    _, _, port = host.rpartition(":")
    return int(port) if port.isdigit() else None


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
