"""Sentinel and TLS configuration reaches redis-py as Celery spells it; mistakes name their key."""

from __future__ import annotations

import ssl

import pytest
from redis.sentinel import SentinelConnectionPool, SentinelManagedSSLConnection

from celeriac.backends import redis_connect
from celeriac.config import Settings
from celeriac.errors import ConfigurationError


def settings(**values: object) -> Settings:
    conf = Settings()
    conf.update(values)
    return conf


def test_celery_sentinel_form() -> None:
    url = "sentinel://:pw@h1:26379/3;sentinel://:pw@h2:26380;sentinel://h3"
    conf = settings(broker_transport_options={"master_name": "cluster1", "socket_timeout": 2,
                                              "sentinel_kwargs": {"password": "sentinel-pw"}})
    client = redis_connect.connect(url, conf)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "cluster1"
    assert pool.connection_kwargs["password"] == "pw"  # the primary's password, from the URL
    assert pool.connection_kwargs["db"] == 3
    assert pool.connection_kwargs["socket_timeout"] == 2
    manager = pool.sentinel_manager
    assert [(s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
            for s in manager.sentinels] == [("h1", 26379), ("h2", 26380), ("h3", 26379)]
    assert all(s.connection_pool.connection_kwargs.get("password") == "sentinel-pw" for s in manager.sentinels)


def test_master_name_in_the_url() -> None:
    client = redis_connect.connect("sentinel://h1;sentinel://h2/0?master_name=m2", Settings())
    assert client.connection_pool.service_name == "m2"  # type: ignore[attr-defined]


def test_sentinel_with_tls() -> None:
    conf = settings(broker_transport_options={"master_name": "m"},
                    broker_use_ssl={"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": "/ca.pem"})
    pool = redis_connect.connect("sentinel://h1", conf).connection_pool
    assert pool.connection_class is SentinelManagedSSLConnection
    assert pool.connection_kwargs["ssl_cert_reqs"] == "required"
    assert pool.connection_kwargs["ssl_ca_certs"] == "/ca.pem"


def test_result_backend_reads_its_own_options() -> None:
    conf = settings(broker_transport_options={"master_name": "broker-m"},
                    result_backend_transport_options={"master_name": "results-m"})
    assert redis_connect.connect("sentinel://h", conf, "result").connection_pool.service_name == "results-m"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("url", "options", "ssl_value", "names"), [
    ("sentinel://h1", {}, None, "broker_transport_options"),
    ("sentinel://h1", {"master_name": "m", "sokcet_timeout": 1}, None, "sokcet_timeout"),
    ("redis://h1", {"master_name": "m"}, None, "only for sentinel"),
    ("redis://h1", {}, {"ssl_ca_cert": "x"}, "broker_use_ssl"),
    ("rediss://h1/0?ssl_cert_reqs=sometimes", {}, None, "ssl_cert_reqs"),
    ("sentinel://h1:notaport", {"master_name": "m"}, None, "bad port"),
    ("sentinel://h1;redis://h2", {"master_name": "m"}, None, "sentinel://"),
    ("sentinel://h1/0?socket_timeout=1", {"master_name": "m"}, None, "socket_timeout"),
])
def test_wrong_configuration_names_the_key(url: str, options: dict[str, object], ssl_value: object,
                                           names: str) -> None:
    conf = settings(broker_transport_options=options, broker_use_ssl=ssl_value)
    with pytest.raises(ConfigurationError, match=names):
        redis_connect.connect(url, conf)


def test_rediss_query_in_celerys_spelling() -> None:
    pool = redis_connect.connect("rediss://h:6380/1?ssl_cert_reqs=CERT_OPTIONAL&ssl_ca_certs=/ca.pem",
                                 Settings()).connection_pool
    assert pool.connection_kwargs["ssl_cert_reqs"] == "optional"
    assert pool.connection_kwargs["ssl_ca_certs"] == "/ca.pem"
    assert pool.connection_kwargs["db"] == 1


def test_kombu_only_options_warn() -> None:
    with pytest.warns(UserWarning, match="visibility_timeout"):
        redis_connect.connect("redis://h", settings(broker_transport_options={"visibility_timeout": 3600}))


def test_sentinel_connections_keep_alive_unless_told_otherwise() -> None:
    pool = redis_connect.connect("sentinel://h1/0?master_name=m", Settings()).connection_pool
    assert pool.connection_kwargs["socket_keepalive"] is True
    assert pool.connection_kwargs["socket_keepalive_options"] == redis_connect.keepalive_options()
    conf = settings(broker_transport_options={"socket_keepalive": False})
    assert redis_connect.connect("sentinel://h1/0?master_name=m", conf).connection_pool.connection_kwargs[
        "socket_keepalive"] is False


def test_the_worker_banner_hides_every_sentinel_password() -> None:
    from celeriac.worker.worker import _mask

    assert _mask("sentinel://:pw@h1:26379;sentinel://:pw@h2:26379/0") == \
        "sentinel://***@h1:26379;sentinel://***@h2:26379/0"


def test_celerys_redis_result_settings_reach_a_separate_result_backend() -> None:
    conf = settings(redis_socket_timeout=7, redis_max_connections=9,
                    result_backend_transport_options={"master_name": "m", "socket_timeout": 3})
    kwargs = redis_connect.connect("sentinel://h", conf, "result").connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == 3  # the transport options win
    conf.result_backend_transport_options = {}
    pool = redis_connect.connect("redis://h/0", conf, "result").connection_pool
    assert pool.max_connections == 9
    assert redis_connect.connect("redis://h/0", conf, "broker").connection_pool.connection_kwargs.get(
        "socket_timeout") is None  # the broker does not read them
