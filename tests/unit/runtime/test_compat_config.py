"""What the first hour with celeriac showed, and Celery project habits: settings assigned as
attributes are checked at start-up like every other source, unknown keys suggest the
closest name, Django's ``CELERY_`` namespace loads from a plain settings object,
``autodiscover_tasks`` finds the tasks of Django-like apps, ``delay_on_commit`` publishes."""

from __future__ import annotations

import sys
import types
import warnings

import pytest

from celeriac import Celeriac
from celeriac.config import UnknownSettingWarning
from celeriac.errors import ConfigurationError


def _app(**settings: object) -> Celeriac:
    return Celeriac("cfg", broker="memory://cfg-test", set_as_current=False, **settings)


@pytest.mark.parametrize(("name", "value", "says"), [
    ("worker_concurrency", "two", "'worker_concurrency' must be an integer"),
    ("result_expires", "1 hour", "'result_expires' must be a number of seconds"),
    ("task_acks_late", "yes", "'task_acks_late' must be true or false"),
])
def test_settings_assigned_as_attributes_fail_at_start_up_naming_the_key(name: str, value: str, says: str) -> None:
    app = _app()
    setattr(app.conf, name, value)
    with pytest.raises(ConfigurationError, match=says):
        app.check()


def test_a_timedelta_assigned_as_attribute_is_seconds() -> None:
    import datetime as dt

    app = _app()
    app.conf.result_expires = dt.timedelta(hours=1)
    app.check()
    assert app.conf.result_expires == 3600.0


def test_unknown_keys_suggest_the_closest_name(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.warns(UnknownSettingWarning, match="did you mean 'worker_concurrency'"):
        _app().conf.worker_concurency = 2
    with pytest.warns(UnknownSettingWarning, match="did you mean 'result_expires'"):
        _app(result_expire=10)
    with pytest.warns(UnknownSettingWarning, match="did you mean 'task_default_queue'"):
        _app().config_from_object({"CELERY_TASK_DEFAULT_QUEUEE": "x"}, namespace="CELERY")
    monkeypatch.setenv("CELERIAC_WORKER_PREFETCH_MULTIPLER", "2")
    with pytest.warns(UnknownSettingWarning, match="did you mean 'worker_prefetch_multiplier'"):
        _app()
    monkeypatch.delenv("CELERIAC_WORKER_PREFETCH_MULTIPLER")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _app().conf.worker_concurrency = 2  # known: no warning


def test_django_namespace_from_a_plain_settings_object() -> None:
    class Settings:  # what django.conf.settings looks like to config_from_object
        DEBUG = True
        INSTALLED_APPS = ("discoverable.shop", "discoverable.blog")
        CELERY_BROKER_URL = "memory://django-ns"
        CELERY_TASK_DEFAULT_QUEUE = "web"
        CELERY_WORKER_CONCURRENCY = 3
        CELERY_RESULT_EXPIRES = 60

    app = Celeriac("proj", set_as_current=False)
    app.config_from_object(Settings, namespace="CELERY")
    app.check()
    assert app.conf.broker_url == "memory://django-ns"
    assert app.conf.task_default_queue == "web" and app.conf.worker_concurrency == 3
    assert app.conf.result_expires == 60.0
    # the same through a dotted path, as 'django.conf:settings' is given
    module = types.ModuleType("fake_settings_module")
    module.CELERY_TASK_DEFAULT_QUEUE = "from-module"  # type: ignore[attr-defined]
    sys.modules["fake_settings_module"] = module
    try:
        other = Celeriac("proj2", broker="memory://x", set_as_current=False)
        other.config_from_object("fake_settings_module", namespace="CELERY")
        assert other.conf.task_default_queue == "from-module"
    finally:
        del sys.modules["fake_settings_module"]


def test_autodiscover_tasks_is_lazy_and_finds_tasks_modules() -> None:
    sys.modules.pop("discoverable.shop.tasks", None)
    app = Celeriac("disc", broker="memory://disc", set_as_current=False)
    app.autodiscover_tasks(lambda: ["discoverable.shop", "discoverable.blog"])
    assert "discoverable.shop.tasks" not in sys.modules  # lazy: the worker imports at start
    app.import_modules()
    assert "shop.checkout" in app.tasks
    assert app.tasks["shop.checkout"].apply((7,)).get() == "order 7 done"
    with pytest.raises(ModuleNotFoundError):
        app.autodiscover_tasks(["discoverable.no_such_app"], force=True)


def test_delay_on_commit_without_django_publishes_at_once() -> None:
    app = Celeriac("commit", broker="memory://commit", set_as_current=False, task_always_eager=True)
    got: list[int] = []

    @app.task(name="commit.record")
    def record(x: int) -> None:
        got.append(x)

    assert record.delay_on_commit(5) is None
    record.apply_async_on_commit((6,))
    assert got == [5, 6]
