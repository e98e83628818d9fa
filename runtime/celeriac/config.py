"""Settings: one object, filled from defaults, a module/object/dict, YAML and the environment.

Later sources win: defaults < ``config_source`` / ``config_from_object`` < YAML file
(``config_from_yaml`` or ``CELERIAC_CONFIG_FILE``) < ``CELERIAC_*`` environment variables.
Modern lower-case names and Celery's old upper-case names both work (the alias table is
:data:`LEGACY_NAMES`). An unknown key is reported by name as a warning; a value of the
wrong type fails with :class:`~celeriac.errors.ConfigurationError` naming the key.

This module does no I/O beyond reading the YAML file and the environment it is given.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import logging
import os
import types
import typing
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, get_type_hints

import yaml

from celeriac.errors import ConfigurationError

logger = logging.getLogger(__name__)

ENV_PREFIX = "CELERIAC_"  #: environment variables with this prefix fill settings


class UnknownSettingWarning(UserWarning):
    """A configuration key that celeriac does not know (probably a typo)."""


_FIELD_NAMES: set[str] = set()  # filled with KNOWN once the class below exists


@dataclass
class Settings:
    """Every setting celeriac reads, with its default. Times are in seconds."""

    broker_url: str | None = None
    """Where messages go: ``redis://``, ``rediss://``, ``sentinel://`` (docs/transports.md),
    ``sqlite:///path`` or ``memory://``.
    None means the embedded SQLite default."""

    result_backend: str | None = None
    """Where results go. None or ``'rpc'`` means the broker's own store."""

    broker_pool_limit: int | None = 10
    """Accepted for Celery; no effect (a warning says so when set): each process holds a
    fixed few broker connections (publish, consume, control) rather than a pool."""

    broker_connection_retry_on_startup: bool | None = None
    """Accepted for Celery; no effect (a warning says so when set): a worker that cannot reach
    the broker at start-up exits with an error naming it (its supervisor, e.g. Kubernetes,
    restarts it); once running, it rides out outages with retries."""

    result_extended: bool = False
    """Accepted for Celery (a warning says so when set): every result record already holds
    the task name, worker, queue and retries; args and kwargs are not stored."""

    task_serializer: str = "json"
    """Serializer for task messages: ``json``, ``msgpack``, ``yaml`` or ``pickle``."""

    result_serializer: str = "json"
    """Serializer for results."""

    accept_content: list[str] = field(default_factory=lambda: ["json"])
    """Content types (or serializer names) a worker accepts. Pickle must be listed to be used."""

    result_accept_content: list[str] | None = None
    """Content types accepted when reading results; None means ``accept_content``."""

    result_expires: float | None = 86400.0
    """Seconds a result is kept (also how long a revocation is remembered). None: forever."""

    timezone: str | None = None
    """Time zone for crontab schedules and ETA display (e.g. ``Asia/Shanghai``). None: UTC."""

    enable_utc: bool = True
    """Naive datetimes given as ``eta`` are UTC when true, else in ``timezone``."""

    task_publish_retry: bool = True
    """Retry publishing when the broker connection fails."""

    task_publish_retry_policy: dict[str, float] = field(
        default_factory=lambda: {
            "max_retries": 3,
            "interval_start": 0.0,
            "interval_step": 0.2,
            "interval_max": 0.2,
        }
    )
    """``max_retries``, ``interval_start``, ``interval_step``, ``interval_max`` (seconds)."""

    task_publish_buffer: bool = False
    """Return from ``delay()`` before the broker confirmed the write; a sender thread
    publishes in batches. Much faster for one-by-one producers, but messages still
    buffered when the process is killed are lost: see ``celeriac.producer``."""

    task_queues: Any = None
    """Queues: a dict ``{'add': {'routing_key': 'add'}}``, a list of names or of ``Queue``."""

    task_routes: Any = None
    """Routes: a dict ``{'tasks.add': {'queue': 'add'}}`` (glob patterns allowed), a list of
    such dicts or callables ``(name, args, kwargs, options, task) -> dict | str | None``."""

    task_default_queue: str = "default"
    """The queue of tasks that no route names."""

    task_default_priority: int | None = None
    """Priority 0-9 (9 is most urgent) of tasks that give none."""

    task_acks_late: bool = True
    """Acknowledge after the task ran (a crash redelivers it) rather than before."""

    task_track_started: bool = False
    """Record STARTED when a task begins (costs one write per task)."""

    task_ignore_result: bool = False
    """Store no result unless a task asks for one."""

    task_always_eager: bool = False
    """Run ``delay()``/``apply_async()`` inline in the caller (tests only)."""

    task_eager_propagates: bool = False
    """In eager mode, raise the task's exception from ``apply_async``."""

    task_time_limit: float | None = None
    """Hard time limit in seconds for every task: the task is stopped."""

    task_soft_time_limit: float | None = None
    """Soft time limit in seconds: ``SoftTimeLimitExceeded`` is raised inside the task."""

    task_default_rate_limit: str | None = None
    """Rate limit for every task type, e.g. ``'100/s'``."""

    task_max_deliveries: int = 5
    """Deliveries after which a message that keeps crashing its worker is dead-lettered."""

    task_dedup_window: float = 3600.0
    """Seconds during which publishing a task with an explicit ``task_id`` that is already
    queued, delayed or running enqueues nothing (the guard is dropped when the task reaches
    a ready state). 0 disables the guard."""

    task_send_sent_event: bool = True
    """Emit a ``task-sent`` event when publishing."""

    worker_concurrency: int | None = None
    """Processes or threads per worker. None: the number of CPUs."""

    worker_prefetch_multiplier: int = 4
    """Messages fetched at once per process (or per thread/coroutine slot)."""

    worker_prefetch_window: float = 0.01
    """Seconds of (estimated) work a process may hold beyond its multiplier when tasks are
    short; 0 holds exactly ``worker_prefetch_multiplier`` per slot, as Celery does."""

    worker_pool: str = "prefork"
    """``prefork``, ``threads``, ``asyncio`` or ``solo``."""

    worker_lease_timeout: float = 30.0
    """Seconds without a heartbeat after which a worker's messages go to another worker."""

    worker_heartbeat_interval: float = 5.0
    """Seconds between a worker's lease refreshes and heartbeats."""

    worker_shutdown_timeout: float = 25.0
    """Seconds a worker lets running tasks finish after SIGTERM before handing them back."""

    worker_max_tasks_per_child: int | None = None
    """A prefork child is replaced after this many tasks."""

    worker_max_memory_per_child: int | None = None
    """A prefork child is replaced when its RSS exceeds this many KiB."""

    worker_send_task_events: bool = True
    """Write task and worker events to the events stream."""

    worker_control_enabled: bool = True
    """Listen on the broker's control channel (``revoke(terminate=True)``, inspect...):
    one extra connection per worker process."""

    worker_metrics_port: int | None = None
    """Port on which the worker serves Prometheus ``/metrics``; None: off."""

    worker_metrics_bind: str = "0.0.0.0"
    """Address the worker's ``/metrics`` server listens on (``0.0.0.0``: every interface, what
    a pod needs; ``127.0.0.1``: this host only)."""

    worker_health_port: int | None = None
    """Port on which the worker serves ``/livez`` and ``/readyz`` (docs/health.md); None: off."""

    worker_health_bind: str = "0.0.0.0"
    """Address the worker's health server listens on."""

    events_maxlen: int = 10000
    """About how many events the events stream keeps (older ones are trimmed)."""

    beat_schedule: dict[str, Any] = field(default_factory=dict)
    """Periodic tasks, as in Celery."""

    beat_max_loop_interval: float = 60.0
    """Longest sleep of the beat loop when nothing is due."""

    beat_health_port: int | None = None
    """Port on which ``celeriac beat`` serves ``/livez`` and ``/readyz``; None: off."""

    beat_health_bind: str = "0.0.0.0"
    """Address the beat's health server listens on."""

    beat_metrics_bind: str = "0.0.0.0"
    """Address the beat's ``/metrics`` server (``--metrics-port``) listens on."""

    broker_transport_options: dict[str, Any] = field(default_factory=dict)
    """Transport specific options: for Redis redis-py's connection options as kombu names
    them (``socket_timeout``, ``socket_connect_timeout``, ``socket_keepalive``,
    ``health_check_interval``, ``max_connections``...), and for ``sentinel://`` URLs
    ``master_name`` (required) and ``sentinel_kwargs`` (the sentinels' own connection
    options, e.g. their ``password``); for SQLite ``synchronous`` and ``busy_timeout``."""

    result_backend_transport_options: dict[str, Any] = field(default_factory=dict)
    """The same options for a ``result_backend`` that is not the broker (e.g. its own
    ``master_name``)."""

    broker_use_ssl: Any = None
    """TLS for a ``rediss://`` or ``sentinel://`` broker: True, or a mapping of
    ``ssl_cert_reqs`` (``ssl.CERT_REQUIRED``/``'required'``, ``optional``, ``none``),
    ``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``, ``ssl_check_hostname``."""

    redis_backend_use_ssl: Any = None
    """The same TLS mapping for a ``rediss://`` or ``sentinel://`` result backend."""

    redis_socket_timeout: float | None = None
    """Celery's result-backend socket timeout (seconds) for a Redis ``result_backend`` that
    is not the broker; ``result_backend_transport_options`` wins. None: redis-py's (none)."""

    redis_socket_connect_timeout: float | None = None
    """Connect timeout (seconds) of such a result backend. None: ``broker_connection_timeout``."""

    redis_socket_keepalive: bool | None = None
    """TCP keepalive on such a result backend's connections."""

    redis_retry_on_timeout: bool | None = None
    """Retry a command of such a result backend that timed out."""

    redis_max_connections: int | None = None
    """Most connections in such a result backend's pool. None: no limit."""

    redis_backend_health_check_interval: float | None = None
    """Seconds between health checks of such a result backend's idle connections (default 30)."""

    broker_wait_replicas: int = 0
    """Redis: a publish, a settle (acks, results, follow-up messages) and a beat commit
    count as done only once this many replicas have the write (``WAIT``); until then they
    are retried like a lost connection. 0: the primary's acknowledgement is enough (a write
    not yet copied can be lost in a failover: docs/guarantees.md)."""

    broker_wait_timeout_ms: int = 1000
    """Milliseconds a write waits for ``broker_wait_replicas`` replicas before it is
    retried."""

    broker_connection_timeout: float = 4.0
    """Seconds to wait when connecting to the broker."""

    imports: list[str] = field(default_factory=list)
    """Modules a worker imports at start so their tasks are registered."""

    include: list[str] = field(default_factory=list)
    """Same as ``imports``."""

    # -- access helpers --------------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        # ``app.conf.worker_concurency = 2`` (a typo) would otherwise set nothing silently;
        # values are type-checked by ``validate`` at start-up, like every other source.
        if not name.startswith("_") and name not in _FIELD_NAMES:
            try:
                name = canonical_name(name)
            except KeyError:
                warnings.warn(f"unknown setting {name!r} (set on app.conf) is ignored{did_you_mean(name)}",
                              UnknownSettingWarning, stacklevel=2)
        object.__setattr__(self, name, value)

    def __getitem__(self, key: str) -> Any:
        return getattr(self, canonical_name(key))

    def __setitem__(self, key: str, value: Any) -> None:
        setattr(self, canonical_name(key), value)

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def update(self, other: Mapping[str, Any] | None = None, /, **kwargs: Any) -> None:
        """Set many settings at once (names are mapped and values checked)."""
        apply(self, dict(other or {}, **kwargs), source="update()")

    def keys(self) -> Iterator[str]:
        return (f.name for f in fields(self))

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.keys()}


_FIELD_TYPES: dict[str, Any] = get_type_hints(Settings)
KNOWN = frozenset(_FIELD_TYPES)  #: every setting name
_FIELD_NAMES.update(KNOWN)


def did_you_mean(key: str) -> str:
    """``"; did you mean 'worker_concurrency'?"`` for a key close to a setting's name (or "")."""
    import difflib

    lowered = key.lower()
    if lowered.startswith("celery_"):
        lowered = lowered[len("celery_"):]
    if lowered.startswith("celeriac_"):
        lowered = lowered[len("celeriac_"):]
    close = difflib.get_close_matches(lowered, sorted(KNOWN), n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""

#: Celery's old upper-case names (3.x and the Django ``CELERY_`` namespace) and ours.
LEGACY_NAMES: dict[str, str] = {
    "BROKER_URL": "broker_url",
    "BROKER_TRANSPORT_OPTIONS": "broker_transport_options",
    "BROKER_CONNECTION_TIMEOUT": "broker_connection_timeout",
    "BROKER_USE_SSL": "broker_use_ssl",
    "CELERY_REDIS_BACKEND_USE_SSL": "redis_backend_use_ssl",
    "CELERY_RESULT_BACKEND": "result_backend",
    "CELERY_TASK_SERIALIZER": "task_serializer",
    "CELERY_RESULT_SERIALIZER": "result_serializer",
    "CELERY_ACCEPT_CONTENT": "accept_content",
    "CELERY_RESULT_ACCEPT_CONTENT": "result_accept_content",
    "CELERY_TASK_RESULT_EXPIRES": "result_expires",
    "CELERY_RESULT_EXPIRES": "result_expires",
    "CELERY_TIMEZONE": "timezone",
    "CELERY_ENABLE_UTC": "enable_utc",
    "CELERY_TASK_PUBLISH_RETRY": "task_publish_retry",
    "CELERY_TASK_PUBLISH_RETRY_POLICY": "task_publish_retry_policy",
    "CELERY_QUEUES": "task_queues",
    "CELERY_ROUTES": "task_routes",
    "CELERY_DEFAULT_QUEUE": "task_default_queue",
    "CELERY_DEFAULT_PRIORITY": "task_default_priority",
    "CELERY_ACKS_LATE": "task_acks_late",
    "CELERY_TRACK_STARTED": "task_track_started",
    "CELERY_IGNORE_RESULT": "task_ignore_result",
    "CELERY_ALWAYS_EAGER": "task_always_eager",
    "CELERY_EAGER_PROPAGATES_EXCEPTIONS": "task_eager_propagates",
    "CELERY_DEFAULT_RATE_LIMIT": "task_default_rate_limit",
    "CELERY_SEND_EVENTS": "worker_send_task_events",
    "CELERY_SEND_TASK_SENT_EVENT": "task_send_sent_event",
    "CELERY_IMPORTS": "imports",
    "CELERY_INCLUDE": "include",
    "CELERYD_CONCURRENCY": "worker_concurrency",
    "CELERYD_PREFETCH_MULTIPLIER": "worker_prefetch_multiplier",
    "CELERYD_POOL": "worker_pool",
    "CELERYD_TASK_TIME_LIMIT": "task_time_limit",
    "CELERYD_TASK_SOFT_TIME_LIMIT": "task_soft_time_limit",
    "CELERYD_MAX_TASKS_PER_CHILD": "worker_max_tasks_per_child",
    "CELERYD_MAX_MEMORY_PER_CHILD": "worker_max_memory_per_child",
    "CELERYBEAT_SCHEDULE": "beat_schedule",
    "CELERYBEAT_MAX_LOOP_INTERVAL": "beat_max_loop_interval",
}


def canonical_name(key: str) -> str:
    """Map any accepted spelling of a setting to its modern name.

    Raises:
        KeyError: the key is not a setting (the message names it).
    """
    if key in KNOWN:
        return key
    if key in LEGACY_NAMES:
        return LEGACY_NAMES[key]
    lowered = key.lower()
    if lowered in KNOWN:
        return lowered
    # Django-style namespace: CELERY_BROKER_URL, CELERY_TASK_ROUTES...
    if key.startswith("CELERY_") and key[7:].lower() in KNOWN:
        return key[7:].lower()
    raise KeyError(key)


def _kind(name: str) -> tuple[str, bool]:
    """The base kind of a setting (``str``, ``int``, ``float``, ``bool``, ``list``, ``dict``,
    ``any``) and whether it may be None."""
    hint = _FIELD_TYPES[name]
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else ()
    optional = type(None) in args
    base = next((a for a in args if a is not type(None)), hint)
    origin = typing.get_origin(base) or base
    for kind in (bool, int, float, str, list, dict):
        if origin is kind:
            return kind.__name__, optional
    return "any", True


def _coerce(name: str, value: Any) -> Any:
    """Check ``value`` against the field's type, converting the few forms we accept."""
    kind, optional = _kind(name)
    if value is None:
        if optional:
            return None
        raise ConfigurationError(f"setting {name!r} must not be None")
    if name in ("result_expires", "task_time_limit", "task_soft_time_limit") and isinstance(
        value, dt.timedelta
    ):
        return value.total_seconds()
    if kind == "float":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigurationError(f"setting {name!r} must be a number of seconds, got {value!r}")
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigurationError(f"setting {name!r} must be an integer, got {value!r}")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise ConfigurationError(f"setting {name!r} must be true or false, got {value!r}")
    if kind == "str":
        if isinstance(value, str):
            return value
        raise ConfigurationError(f"setting {name!r} must be a string, got {value!r}")
    if kind == "list":
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        if isinstance(value, list | tuple | set | frozenset):
            return list(value)
        raise ConfigurationError(f"setting {name!r} must be a list, got {value!r}")
    if kind == "dict":
        if isinstance(value, Mapping):
            return dict(value)
        raise ConfigurationError(f"setting {name!r} must be a mapping, got {value!r}")
    return value


class CeleryOnlySettingWarning(UserWarning):
    """A Celery setting that celeriac accepts but that means nothing (or less) here."""


#: Celery settings accepted so Celery configurations load, and why they do little here.
CELERY_ONLY: dict[str, str] = {
    "broker_pool_limit": "has no effect in celeriac (a few fixed connections per process, no pool)",
    "broker_connection_retry_on_startup": "has no effect in celeriac (a worker that cannot reach the broker at start-up exits with an error)",
    "result_extended": "celeriac always stores the task name, worker, queue and retries; args and kwargs are not stored",
}


def apply(settings: Settings, values: Mapping[str, Any], *, source: str) -> None:
    """Set ``values`` on ``settings``: names mapped, types checked, unknown keys warned."""
    for key, value in values.items():
        try:
            name = canonical_name(key)
        except KeyError:
            warnings.warn(
                f"unknown setting {key!r} (from {source}) is ignored{did_you_mean(key)}",
                UnknownSettingWarning,
                stacklevel=3,
            )
            continue
        setattr(settings, name, _coerce(name, value))
        note = CELERY_ONLY.get(name)
        if note is not None:
            warnings.warn(f"setting {key!r} (from {source}): {note}", CeleryOnlySettingWarning, stacklevel=3)


def values_from_object(obj: Any) -> dict[str, Any]:
    """Settings found on a module, class, object, dict, or a dotted module path."""
    if isinstance(obj, str):
        obj = importlib.import_module(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    names = (n for n in dir(obj) if not n.startswith("_"))
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, types.ModuleType | types.FunctionType | type):
            continue
        if name.isupper() or name in KNOWN:
            out[name] = value
    return out


def values_from_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Settings from a YAML mapping file."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except OSError as exc:
        raise ConfigurationError(f"cannot read configuration file {os.fspath(path)!r}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"configuration file {os.fspath(path)!r} must hold a mapping")
    return data


def _parse_env(name: str, raw: str) -> Any:
    kind, optional = _kind(name)
    if raw == "" and optional:
        return None
    if kind == "str":
        return raw
    if kind in ("list", "dict", "any"):
        if raw.lstrip().startswith(("[", "{")):
            try:
                return json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ConfigurationError(f"setting {name!r} ({ENV_PREFIX}{name.upper()}): bad JSON: {exc}") from None
        return raw
    if kind == "bool":
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigurationError(f"setting {name!r} ({ENV_PREFIX}{name.upper()}): not a boolean: {raw!r}")
    try:
        return int(raw) if kind == "int" else float(raw)
    except ValueError:
        raise ConfigurationError(
            f"setting {name!r} ({ENV_PREFIX}{name.upper()}): not a number: {raw!r}"
        ) from None


def values_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """Settings from ``CELERIAC_<NAME>`` variables (``CELERIAC_CONFIG_FILE`` excluded;
    ``CELERIAC_OPERATOR_*`` are the operator's own settings, not the runtime's)."""
    out: dict[str, Any] = {}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX) or key in (f"{ENV_PREFIX}CONFIG_FILE", f"{ENV_PREFIX}APP"):
            continue
        if key.startswith(f"{ENV_PREFIX}OPERATOR_"):
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name not in KNOWN:
            warnings.warn(f"unknown setting {key!r} (from the environment) is ignored{did_you_mean(name)}",
                          UnknownSettingWarning, stacklevel=2)
            continue
        out[name] = _parse_env(name, raw)
    return out


def validate(settings: Settings) -> None:
    """Checks run at start-up; each error names its key.

    Every value is type-checked again here, so that one assigned as an attribute
    (``app.conf.worker_concurrency = "two"``) fails at start-up like one from a file."""
    from celeriac import serialization

    for name in sorted(KNOWN):
        object.__setattr__(settings, name, _coerce(name, getattr(settings, name)))

    for name in ("task_serializer", "result_serializer"):
        try:
            serialization.by_name(getattr(settings, name))
        except ValueError as exc:
            raise ConfigurationError(f"setting {name!r}: {exc}") from None
    for name in ("accept_content", "result_accept_content"):
        value = getattr(settings, name)
        if value is None:
            continue
        try:
            serialization.accepted(value)
        except (ValueError, Exception) as exc:
            raise ConfigurationError(f"setting {name!r}: {exc}") from None
    if settings.worker_pool not in ("prefork", "threads", "asyncio", "solo", "eventlet", "gevent"):
        raise ConfigurationError(
            f"setting 'worker_pool': unknown pool {settings.worker_pool!r}; "
            "use prefork, threads, asyncio or solo"
        )
    if settings.worker_prefetch_multiplier < 1:
        raise ConfigurationError("setting 'worker_prefetch_multiplier' must be at least 1")
    if settings.timezone:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(settings.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigurationError(f"setting 'timezone': unknown time zone {settings.timezone!r}") from None
    policy = settings.task_publish_retry_policy
    unknown = set(policy) - {"max_retries", "interval_start", "interval_step", "interval_max"}
    if unknown:
        raise ConfigurationError(f"setting 'task_publish_retry_policy': unknown keys {sorted(unknown)}")
    if settings.broker_url:
        scheme = settings.broker_url.split(":", 1)[0]
        if scheme not in ("redis", "rediss", "sentinel", "sqlite", "memory", "unix"):
            raise ConfigurationError(
                f"setting 'broker_url': unsupported scheme {scheme!r} "
                "(use redis://, rediss://, sentinel://, sqlite:// or memory://)"
            )
    for name in ("broker_wait_replicas", "broker_wait_timeout_ms"):
        if getattr(settings, name) < 0:
            raise ConfigurationError(f"setting {name!r} must not be negative")
