from __future__ import annotations

import re
from typing import Any

from celeriac.routing import Queue, Router, queues_from


def test_celery3_style_queues_and_routes() -> None:
    queues = queues_from({"add": {"routing_key": "add"}}, "default")
    router = Router({"tasks.add": {"queue": "add", "routing_key": "add"}}, queues, "default")
    assert router.route("tasks.add") == "add"
    assert router.route("tasks.mul") == "default"
    assert router.consumed_queues() == ["add", "default"]


def test_route_by_routing_key_only_finds_the_bound_queue() -> None:
    queues = queues_from([Queue("math", routing_key="math.#key")], "default")
    router = Router({"tasks.add": {"routing_key": "math.#key"}}, queues, "default")
    assert router.route("tasks.add") == "math"


def test_precedence_explicit_then_routes_then_task_option() -> None:
    router = Router({"tasks.*": "routed", re.compile(r"^other\."): {"queue": "re"}}, {}, "default")
    assert router.route("tasks.add", options={"queue": "explicit"}) == "explicit"
    assert router.route("tasks.add", task_queue="own") == "routed"
    assert router.route("other.x") == "re"
    assert router.route("plain", task_queue="own") == "own"


def test_callable_routes_and_lists() -> None:
    def by_arg(name: str, args: Any, kwargs: Any, options: Any, task: Any = None) -> Any:
        return {"queue": "big"} if args and args[0] > 100 else None

    router = Router([by_arg, {"tasks.add": "small"}], {}, "default")
    assert router.route("tasks.add", args=(1000,)) == "big"
    assert router.route("tasks.add", args=(1,)) == "small"


def test_queue_lists() -> None:
    assert list(queues_from(["a", "b"], "default")) == ["a", "b"]
    assert list(queues_from("a, b", "default")) == ["a", "b"]
    assert queues_from(None, "default") == {}
