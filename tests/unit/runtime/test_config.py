from __future__ import annotations

import datetime as dt
import types
from pathlib import Path

import pytest

from celeriac import Celeriac
from celeriac.config import Settings, UnknownSettingWarning, apply, canonical_name, validate
from celeriac.errors import ConfigurationError


def test_legacy_upper_case_names_map_to_modern_ones() -> None:
    cfg = types.SimpleNamespace(
        BROKER_URL="redis://:secret@h:6380/2",
        CELERY_RESULT_BACKEND="rpc",
        CELERY_TASK_SERIALIZER="msgpack",
        CELERY_RESULT_SERIALIZER="yaml",
        CELERY_TASK_RESULT_EXPIRES=dt.timedelta(hours=1),
        CELERY_ACCEPT_CONTENT=["json", "msgpack"],
        CELERY_TIMEZONE="Asia/Shanghai",
        CELERY_TASK_PUBLISH_RETRY_POLICY={"max_retries": 5, "interval_start": 0, "interval_step": 0.1, "interval_max": 1},
        CELERY_QUEUES={"add": {"routing_key": "add"}},
        CELERY_ROUTES={"tasks.add": {"queue": "add", "routing_key": "add"}},
    )
    app = Celeriac("t", config_source=cfg, set_as_current=False)
    conf = app.conf
    assert conf.broker_url == "redis://:secret@h:6380/2"
    assert conf.result_backend == "rpc"
    assert app.result_url == app.broker_url
    assert conf.task_serializer == "msgpack"
    assert conf.result_serializer == "yaml"
    assert conf.result_expires == 3600.0
    assert conf.accept_content == ["json", "msgpack"]
    assert conf.timezone == "Asia/Shanghai"
    assert conf.task_publish_retry_policy["max_retries"] == 5
    assert conf.task_queues == {"add": {"routing_key": "add"}}
    app.check()


def test_django_namespace_and_item_access() -> None:
    assert canonical_name("CELERY_BROKER_URL") == "broker_url"
    assert canonical_name("CELERYD_CONCURRENCY") == "worker_concurrency"
    s = Settings()
    s["CELERY_TASK_ACKS_LATE"] = False
    assert s.task_acks_late is False
    with pytest.raises(KeyError):
        canonical_name("no_such_thing")


def test_unknown_key_warns_by_name() -> None:
    with pytest.warns(UnknownSettingWarning, match="brokr_url"):
        apply(Settings(), {"brokr_url": "redis://x"}, source="test")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("worker_concurrency", "four", "worker_concurrency"),
        ("task_acks_late", "yes", "task_acks_late"),
        ("result_expires", "1h", "result_expires"),
        ("accept_content", 3, "accept_content"),
        ("task_routes", None, None),
    ],
)
def test_wrong_types_fail_naming_the_key(key: str, value: object, message: str | None) -> None:
    if message is None:
        apply(Settings(), {key: value}, source="test")
        return
    with pytest.raises(ConfigurationError, match=message):
        apply(Settings(), {key: value}, source="test")


def test_validate_names_the_key() -> None:
    s = Settings(task_serializer="xml")
    with pytest.raises(ConfigurationError, match="task_serializer"):
        validate(s)
    with pytest.raises(ConfigurationError, match="timezone"):
        validate(Settings(timezone="Mars/Olympus"))
    with pytest.raises(ConfigurationError, match="broker_url"):
        validate(Settings(broker_url="amqp://guest@localhost//"))
    with pytest.raises(ConfigurationError, match="worker_pool"):
        validate(Settings(worker_pool="gevnt"))


def test_environment_and_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "celeriac.yaml"
    config.write_text("broker_url: redis://yaml:6379/0\nworker_concurrency: 3\ntask_default_queue: q1\n")
    monkeypatch.setenv("CELERIAC_CONFIG_FILE", str(config))
    monkeypatch.setenv("CELERIAC_TASK_DEFAULT_QUEUE", "from-env")
    monkeypatch.setenv("CELERIAC_TASK_ACKS_LATE", "false")
    monkeypatch.setenv("CELERIAC_ACCEPT_CONTENT", "json,msgpack")
    app = Celeriac("t", set_as_current=False)
    assert app.conf.broker_url == "redis://yaml:6379/0"
    assert app.conf.worker_concurrency == 3
    assert app.conf.task_default_queue == "from-env"  # the environment wins over YAML
    assert app.conf.task_acks_late is False
    assert app.conf.accept_content == ["json", "msgpack"]
    monkeypatch.setenv("CELERIAC_WORKER_CONCURRENCY", "lots")
    with pytest.raises(ConfigurationError, match="worker_concurrency"):
        Celeriac("t", set_as_current=False)


def test_keyword_settings_and_urls() -> None:
    app = Celeriac("t", broker="rediss://:pw@example:6380/1", backend="redis://other:6379/3",
                   task_default_queue="work", set_as_current=False)
    assert app.broker_url.startswith("rediss://")
    assert app.result_url == "redis://other:6379/3"
    assert app.conf.task_default_queue == "work"
    default = Celeriac("t", set_as_current=False)
    assert default.broker_url.startswith("sqlite:///")
