"""From a Redis URL and the settings to a ``redis.Redis`` client: plain, TLS or Sentinel.

Why it exists: users bring Celery's configuration (``sentinel://`` URLs joined by ``;``,
``master_name`` and ``sentinel_kwargs`` in the transport options, ``broker_use_ssl`` /
``redis_backend_use_ssl``, ``rediss://...?ssl_cert_reqs=CERT_REQUIRED``), and every one of
those must reach redis-py's own Sentinel and TLS support, with a mistake reported by the
key that holds it. What it must not do: open a connection (redis-py connects lazily, on
the first command), or hand-write any part of Sentinel discovery or TLS: failover is
redis-py's ``SentinelManagedConnection`` (it asks the sentinels for the primary on every
reconnect and drops a connection whose server answers READONLY).

Forms accepted (``docs/transports.md``)::

    redis://[[user]:password@]host[:port][/db][?option=value...]
    rediss://...  (TLS; ?ssl_cert_reqs=required|optional|none or CERT_*, ssl_ca_certs=,
                   ssl_certfile=, ssl_keyfile=)
    unix:///path/to/redis.sock[?db=N]
    sentinel://[:password@]host[:26379][/db][;sentinel://[:password@]host2[:26379]...]
                  (master_name in the transport options, or ?master_name= on the URL)
"""

from __future__ import annotations

import socket
import ssl
import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import redis
from redis.sentinel import Sentinel

from celeriac.config import Settings
from celeriac.errors import ConfigurationError

SENTINEL_PORT = 26379  #: a sentinel's default port

#: Transport options passed on to redis-py's connections (kombu's names, which are redis-py's).
CONNECTION_OPTIONS = frozenset({
    "socket_timeout", "socket_connect_timeout", "socket_keepalive", "socket_keepalive_options",
    "retry_on_timeout", "health_check_interval", "max_connections", "client_name", "username",
    "password", "retry_on_error", "retry",
})
#: Transport options of the Sentinel form itself.
SENTINEL_OPTIONS = frozenset({"master_name", "sentinel_kwargs", "min_other_sentinels"})
#: kombu's Redis options that have no meaning here (their job is done otherwise): accepted
#: with a warning so a Celery configuration loads.
KOMBU_ONLY = frozenset({
    "visibility_timeout", "polling_interval", "priority_steps", "sep", "queue_order_strategy",
    "fanout_prefix", "fanout_patterns", "global_keyprefix", "unacked_key", "unacked_index_key",
    "unacked_mutex_key", "unacked_mutex_expire", "unacked_restore_limit", "max_retries",
    "interval_start", "interval_step", "interval_max", "ack_emulation", "result_chord_ordered",
    "retry_policy",
})
#: The SQLite transport's options (``broker_transport_options`` is one setting for both).
SQLITE_ONLY = frozenset({"synchronous", "busy_timeout"})
#: TLS keys of ``broker_use_ssl`` / ``redis_backend_use_ssl`` / the URL query, redis-py's names.
SSL_KEYS = frozenset({
    "ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname",
    "ssl_ca_path", "ssl_ca_data", "ssl_password", "ssl_min_version", "ssl_ciphers",
})
#: The same keys as Celery's AMQP form of ``broker_use_ssl`` spells them.
SSL_ALIASES = {"cert_reqs": "ssl_cert_reqs", "ca_certs": "ssl_ca_certs", "certfile": "ssl_certfile",
               "keyfile": "ssl_keyfile", "check_hostname": "ssl_check_hostname"}
_CERT_REQS = {
    "none": "none", "cert_none": "none", "optional": "optional", "cert_optional": "optional",
    "required": "required", "cert_required": "required",
}


def keepalive_options() -> dict[int, int]:
    """TCP keepalive for ``sentinel://`` connections, where the user set none: a primary
    that vanished without closing its sockets (a partition, a node powered off) is noticed
    in about 25 s, idle or blocked in XREADGROUP/BLMOVE alike, instead of the kernel's two
    hours; then redis-py reconnects through the sentinels. TCP_USER_TIMEOUT bounds a write
    left unacknowledged the same way (30 s). Linux names; absent ones are left out."""
    wanted = {"TCP_KEEPIDLE": 10, "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 3, "TCP_USER_TIMEOUT": 30_000}
    return {getattr(socket, name): value for name, value in wanted.items() if hasattr(socket, name)}


#: Celery's ``redis_*`` result-backend settings and the redis-py option each fills.
RESULT_SOCKET_SETTINGS = {
    "redis_socket_timeout": "socket_timeout", "redis_socket_connect_timeout": "socket_connect_timeout",
    "redis_socket_keepalive": "socket_keepalive", "redis_retry_on_timeout": "retry_on_timeout",
    "redis_max_connections": "max_connections", "redis_backend_health_check_interval": "health_check_interval",
}


def role_settings(settings: Settings, role: str) -> tuple[str, dict[str, Any], str, Any]:
    """``(options key, options, ssl key, ssl value)`` of the broker or the result store
    (whose Celery ``redis_*`` settings fill what its transport options leave out)."""
    if role == "result":
        options = dict(settings.result_backend_transport_options)
        for name, option in RESULT_SOCKET_SETTINGS.items():
            value = getattr(settings, name)
            if value is not None:
                options.setdefault(option, int(value) if option == "max_connections" else value)
        return ("result_backend_transport_options", options, "redis_backend_use_ssl", settings.redis_backend_use_ssl)
    return ("broker_transport_options", dict(settings.broker_transport_options),
            "broker_use_ssl", settings.broker_use_ssl)


def cert_reqs(value: Any, key: str) -> str:
    """``ssl_cert_reqs`` as redis-py spells it, from an ``ssl.VerifyMode`` or Celery's strings."""
    if isinstance(value, ssl.VerifyMode):
        return {ssl.CERT_NONE: "none", ssl.CERT_OPTIONAL: "optional", ssl.CERT_REQUIRED: "required"}[value]
    if value is None:
        return "none"
    if isinstance(value, str) and value.strip().lower() in _CERT_REQS:
        return _CERT_REQS[value.strip().lower()]
    raise ConfigurationError(f"{key}: ssl_cert_reqs must be required, optional or none "
                             f"(or ssl.CERT_REQUIRED, CERT_OPTIONAL, CERT_NONE), got {value!r}")


def ssl_options(value: Any, key: str) -> dict[str, Any] | None:
    """The TLS keyword arguments of ``broker_use_ssl``-like ``value`` (None: not asked)."""
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"setting {key!r} must be true or a mapping of ssl_* options, got {value!r}")
    out: dict[str, Any] = {}
    for k, v in value.items():
        name = SSL_ALIASES.get(k, k)
        if name not in SSL_KEYS:
            raise ConfigurationError(f"setting {key!r}: unknown key {k!r} (known: {', '.join(sorted(SSL_KEYS))})")
        out[name] = cert_reqs(v, f"setting {key!r}") if name == "ssl_cert_reqs" else v
    return out


def check_options(options: Mapping[str, Any], key: str, *, sentinel: bool) -> dict[str, Any]:
    """The options redis-py takes, every other key named: kombu-only ones warned and
    dropped, unknown ones refused."""
    out: dict[str, Any] = {}
    for k, v in options.items():
        if k in CONNECTION_OPTIONS or (sentinel and k in SENTINEL_OPTIONS):
            out[k] = v
        elif k in SENTINEL_OPTIONS:
            raise ConfigurationError(f"setting {key!r}: {k!r} is only for sentinel:// URLs")
        elif k in KOMBU_ONLY or k in SQLITE_ONLY:
            if k in KOMBU_ONLY:
                warnings.warn(f"setting {key!r}: {k!r} has no effect on celeriac's Redis transport "
                              "(see docs/transports.md)", UserWarning, stacklevel=4)
        else:
            raise ConfigurationError(
                f"setting {key!r}: unknown Redis option {k!r} (known: "
                f"{', '.join(sorted(CONNECTION_OPTIONS | (SENTINEL_OPTIONS if sentinel else frozenset())))})")
    return out


def _split_query(url: str, key: str) -> tuple[str, dict[str, Any]]:
    """``url`` without its ``ssl_*`` query options, and those options normalized (redis-py
    would otherwise pass ``CERT_REQUIRED`` through as a string it does not know)."""
    parts = urlsplit(url)
    kept: list[tuple[str, str]] = []
    tls: dict[str, Any] = {}
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        name = SSL_ALIASES.get(k, k)
        if name == "ssl_cert_reqs":
            tls[name] = cert_reqs(v, f"setting {key!r} (URL query)")
        elif name == "ssl_check_hostname":
            tls[name] = v.lower() in ("1", "true", "yes", "on")
        elif name in SSL_KEYS:
            tls[name] = v
        else:
            kept.append((k, v))
    return urlunsplit(parts._replace(query=urlencode(kept))), tls


def sentinel_nodes(url: str, key: str) -> tuple[list[tuple[str, int]], str | None, str | None, int, str | None]:
    """The sentinels of a ``sentinel://`` URL (several joined by ``;``), and the primary's
    username, password, database and ``?master_name=`` (from the first part giving them)."""
    nodes: list[tuple[str, int]] = []
    username = password = master = None
    db = 0
    for part in (p.strip() for p in url.split(";")):
        if not part:
            continue
        parts = urlsplit(part)
        if parts.scheme.lower() != "sentinel":
            raise ConfigurationError(f"setting {key!r}: every part of a Sentinel URL starts with "
                                     f"sentinel:// (got {part!r})")
        try:
            port = parts.port or SENTINEL_PORT
        except ValueError:
            raise ConfigurationError(f"setting {key!r}: bad port in {part!r}") from None
        if not parts.hostname:
            raise ConfigurationError(f"setting {key!r}: no host in {part!r}")
        nodes.append((parts.hostname, port))
        if parts.password and password is None:
            password = unquote(parts.password)
            username = unquote(parts.username) if parts.username else None
        for k, v in parse_qsl(parts.query, keep_blank_values=True):
            if k != "master_name":
                raise ConfigurationError(f"setting {key!r}: unknown query option {k!r} in a sentinel:// URL "
                                         "(only master_name; the others go in the transport options)")
            master = master or v
        path = parts.path.strip("/")
        if path:
            if not path.isdigit():
                raise ConfigurationError(f"setting {key!r}: database must be a number, got {path!r} in {part!r}")
            db = int(path)
    if not nodes:
        raise ConfigurationError(f"setting {key!r}: a sentinel:// URL names no sentinel")
    return nodes, username, password, db, master


def connect(url: str, settings: Settings, role: str = "broker") -> redis.Redis:
    """A client for ``url`` as the broker (``role="broker"``) or the result store
    (``"result"``): each reads its own transport options and TLS setting, as in Celery."""
    url_key = "result_backend" if role == "result" else "broker_url"
    opt_key, raw, ssl_key, ssl_value = role_settings(settings, role)
    scheme = url.split(":", 1)[0].lower()
    is_sentinel = scheme == "sentinel"
    options = check_options(raw, opt_key, sentinel=is_sentinel)
    options.setdefault("socket_connect_timeout", settings.broker_connection_timeout)
    options.setdefault("health_check_interval", 30)
    tls = ssl_options(ssl_value, ssl_key)
    if not is_sentinel:
        url, from_query = _split_query(url, url_key)
        if (from_query or tls is not None) and scheme == "unix":
            raise ConfigurationError(f"setting {ssl_key!r} / ssl_* URL options: TLS over a unix:// socket")
        if tls is not None and scheme == "redis":
            # Celery's form: redis:// plus broker_use_ssl means TLS.
            options["connection_class"] = redis.SSLConnection
        options.update(tls or {})
        options.update(from_query)
        # Replies stay bytes (no decode_responses): redis_replies.py narrows them.
        return redis.Redis.from_url(url, **options)
    nodes, username, password, db, url_master = sentinel_nodes(url, url_key)
    master = options.pop("master_name", None) or url_master
    if not master or not isinstance(master, str):
        raise ConfigurationError(f"setting {opt_key!r}: a sentinel:// URL needs 'master_name' "
                                 "(the name the sentinels monitor the primary under)")
    sentinel_kwargs = options.pop("sentinel_kwargs", None)
    if sentinel_kwargs is not None and not isinstance(sentinel_kwargs, Mapping):
        raise ConfigurationError(f"setting {opt_key!r}: 'sentinel_kwargs' must be a mapping, got {sentinel_kwargs!r}")
    min_others = int(options.pop("min_other_sentinels", 0))
    if password is not None:
        options.setdefault("password", password)
    if username is not None:
        options.setdefault("username", username)
    if tls is not None:
        options["ssl"] = True
        options.update(tls)
    if "socket_keepalive" not in options:
        options["socket_keepalive"] = True
        options.setdefault("socket_keepalive_options", keepalive_options())
    if sentinel_kwargs is None:
        # The sentinels get the socket options (as redis-py does), never the primary's
        # password: a sentinel with its own password takes it from sentinel_kwargs.
        sentinel_kwargs = {k: v for k, v in options.items() if k.startswith("socket_")}
    # (redis-py leaves Sentinel unannotated)
    sentinels = Sentinel(nodes, min_other_sentinels=min_others,  # type: ignore[no-untyped-call]
                         sentinel_kwargs=dict(sentinel_kwargs), db=db, **options)
    client: redis.Redis = sentinels.master_for(master, redis_class=redis.Redis)  # type: ignore[no-untyped-call]
    return client
