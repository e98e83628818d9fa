"""The Task and Schedule CRDs: valid apiextensions/v1 objects with the names, columns,
subresources, defaults and rules the issue fixes; CEL rules that compile and mean what
they say (evaluated with cel-python, as the API server would)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import celpy
import kubernetes_validate
import pytest
import yaml

CRDS = Path(__file__).resolve().parents[3] / "crds"


def _crd(name: str) -> dict[str, Any]:
    crd: dict[str, Any] = yaml.safe_load((CRDS / f"{name}.celeriac.dev.yaml").read_text())
    return crd


def _version(name: str) -> dict[str, Any]:
    version: dict[str, Any] = _crd(name)["spec"]["versions"][0]
    return version


def _spec_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = _version(name)["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return schema


@pytest.mark.parametrize("name", ["tasks", "schedules"])
def test_crd_is_valid_and_namespaced_in_the_category(name: str) -> None:
    crd = _crd(name)
    kubernetes_validate.validate(crd, "1.30", strict=True)
    assert crd["metadata"]["name"] == f"{name}.celeriac.dev"
    assert crd["spec"]["group"] == "celeriac.dev" and crd["spec"]["scope"] == "Namespaced"
    assert crd["spec"]["names"]["categories"] == ["celeriac"]
    version = _version(name)
    assert version["name"] == "v1alpha1" and version["subresources"] == {"status": {}}


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = [(path, node)] if isinstance(node, dict) else []
    if isinstance(node, dict):
        for key, child in (node.get("properties") or {}).items():
            out += _walk(child, f"{path}.{key}")
        if isinstance(node.get("items"), dict):
            out += _walk(node["items"], f"{path}[]")
    return out


@pytest.mark.parametrize("name", ["tasks", "schedules"])
def test_schema_is_structural(name: str) -> None:
    schema = _version(name)["schema"]["openAPIV3Schema"]
    for path, node in _walk(schema):
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
        for banned in ("oneOf", "anyOf", "allOf", "$ref", "additionalProperties"):
            assert banned not in node or banned == "additionalProperties", (path, banned)


def test_task_names_columns_and_fields() -> None:
    names = _crd("tasks")["spec"]["names"]
    assert (names["kind"], names["shortNames"]) == ("Task", ["ctask"])
    columns = _version("tasks")["additionalPrinterColumns"]
    assert [c["name"].upper() for c in columns if not c.get("priority")] == [
        "STATE", "TASK", "RESULT", "WORKER", "AGE"]
    assert [c["name"].upper() for c in columns if c.get("priority")] == ["RETRIES", "RUNTIME"]
    spec = _spec_schema("tasks")
    assert spec["required"] == ["task"]
    assert set(spec["properties"]) == {
        "task", "args", "kwargs", "queue", "priority", "countdown", "eta", "expiresSeconds",
        "timeLimitSeconds", "softTimeLimitSeconds", "ttlSecondsAfterFinished"}
    assert (spec["properties"]["priority"]["minimum"], spec["properties"]["priority"]["maximum"]) == (0, 9)
    status = _version("tasks")["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert set(status) == {
        "state", "taskId", "result", "resultTruncated", "error", "traceback", "progress", "retries",
        "worker", "queue", "enqueuedAt", "startedAt", "finishedAt", "runtimeSeconds",
        "observedGeneration", "conditions"}
    cond = status["conditions"]["items"]["properties"]
    assert set(cond) == {"type", "status", "reason", "message", "lastTransitionTime", "observedGeneration"}


def test_schedule_names_columns_and_fields() -> None:
    names = _crd("schedules")["spec"]["names"]
    assert (names["kind"], names["shortNames"]) == ("Schedule", ["csched"])
    columns = [c["name"].upper() for c in _version("schedules")["additionalPrinterColumns"]
               if not c.get("priority")]
    assert columns == ["SCHEDULE", "EVERY", "TIMEZONE", "SUSPEND", "LAST", "NEXT", "LAST-STATE", "AGE"]
    props = _spec_schema("schedules")["properties"]
    assert set(props) == {
        "task", "args", "kwargs", "queue", "priority", "expiresSeconds", "schedule", "every",
        "timeZone", "suspend", "concurrencyPolicy", "startingDeadlineSeconds", "catchUp",
        "createTasks", "successfulTasksHistoryLimit", "failedTasksHistoryLimit"}
    assert props["concurrencyPolicy"]["enum"] == ["Allow", "Forbid", "Replace"]
    assert props["catchUp"]["enum"] == ["Once", "All", "None"]
    assert (props["timeZone"]["default"], props["successfulTasksHistoryLimit"]["default"],
            props["failedTasksHistoryLimit"]["default"]) == ("UTC", 3, 1)


def _rule(name: str, fragment: str) -> str:
    for item in _spec_schema(name)["x-kubernetes-validations"]:
        if fragment in item["rule"]:
            return str(item["rule"])
    raise AssertionError(f"no rule with {fragment!r}")


def _eval(rule: str, value: Any, old: Any = None) -> bool:
    env = celpy.Environment()
    program = env.program(env.compile(rule))
    activation = {"self": celpy.json_to_cel(value)}
    if old is not None:
        activation["oldSelf"] = celpy.json_to_cel(old)
    return bool(program.evaluate(activation))


def test_task_rules() -> None:
    xor = _rule("tasks", "countdown")
    assert _eval(xor, {"task": "t", "countdown": 1})
    assert not _eval(xor, {"task": "t", "countdown": 1, "eta": "2026-01-01T00:00:00Z"})
    immutable = _rule("tasks", "oldSelf")
    assert _eval(immutable, {"task": "t", "args": [1]}, {"task": "t", "args": [1]})
    assert not _eval(immutable, {"task": "t", "args": [2]}, {"task": "t", "args": [1]})
    limits = _rule("tasks", "softTimeLimitSeconds")
    assert _eval(limits, {"task": "t", "softTimeLimitSeconds": 5.0, "timeLimitSeconds": 10.0})
    assert not _eval(limits, {"task": "t", "softTimeLimitSeconds": 20.0, "timeLimitSeconds": 10.0})


def test_schedule_rule_exactly_one_of_schedule_and_every() -> None:
    rule = _rule("schedules", "every")
    assert _eval(rule, {"task": "t", "every": "1s"})
    assert _eval(rule, {"task": "t", "schedule": "@hourly"})
    assert not _eval(rule, {"task": "t", "every": "1s", "schedule": "@hourly"})
    assert not _eval(rule, {"task": "t"})
