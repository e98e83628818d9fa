"""CRD schema handling: the structural check on install, pruning, defaulting, validation
messages shaped like the API server's, CEL rules (transition rules with ``oldSelf``), and
the three ``fieldValidation`` modes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeapi import ApiError, KubeAPI
from kubeapi.toys import API_VERSION, KIND, crd, widget

ROOT = Path(__file__).resolve().parents[2]
WD = "/apis/example.dev/v1/namespaces/default/widgets"


@pytest.fixture
def toy(kube_api: KubeAPI) -> KubeAPI:
    kube_api.create(crd())
    return kube_api


def _refused(api: KubeAPI, obj: dict[str, Any], code: int = 422) -> str:
    with pytest.raises(ApiError) as e:
        api.create(obj)
    assert e.value.code == code, e.value
    return e.value.message


@pytest.mark.parametrize(("spec", "message"), [
    ({"size": 12}, "spec.size: Invalid value: 12: spec.size in body should be less than or equal to 9"),
    ({"size": -1}, "spec.size: Invalid value: -1: spec.size in body should be greater than or equal to 0"),
    ({"size": "3"}, 'spec.size: Invalid value: "string": spec.size in body must be of type integer: "string"'),
    ({}, "spec.size: Required value"),
    ({"size": 1, "color": "green"}, 'spec.color: Unsupported value: "green": supported values: "blue", "red"'),
    ({"size": 1, "every": "soon"}, "spec.every: Invalid value: \"soon\": spec.every in body should match '^[0-9]+[smh]$'"),
    ({"size": 1, "cron": "x" * 21}, "spec.cron: Too long: may not be more than 20 bytes"),
    ({"size": 1, "tags": ["a", "b", "c", "d"]}, "spec.tags: Too many: 4: must have at most 3 items"),
    ({"size": 1, "eta": "tomorrow"}, 'spec.eta: Invalid value: "tomorrow": spec.eta in body must be of type date-time: "tomorrow"'),
    ({"size": 1, "port": 1.5}, "spec.port: Invalid value"),
    ({"size": 1, "labels": {"a": 1}}, 'spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of type string: "integer"'),
    ({"size": 1, "every": "1s", "cron": "@hourly"},
     'spec: Invalid value: "object": every and cron are mutually exclusive'),
])
def test_invalid_objects_are_refused_naming_the_field(toy: KubeAPI, spec: dict[str, Any], message: str) -> None:
    obj = widget()
    obj["spec"] = spec
    got = _refused(toy, obj)
    assert got.startswith('Widget.example.dev "w1" is invalid: ')
    assert message in got


def test_several_errors_are_listed_and_causes_given(toy: KubeAPI) -> None:
    status, body, _ = toy.request("POST", WD, widget(size=10, color="x"))
    assert status == 422 and body["reason"] == "Invalid"
    assert body["message"].startswith('Widget.example.dev "w1" is invalid: [')
    fields = [c["field"] for c in body["details"]["causes"]]
    assert fields == ["spec.color", "spec.size"]
    assert body["details"]["causes"][1]["reason"] == "FieldValueInvalid"


def test_defaults_and_int_or_string(toy: KubeAPI) -> None:
    created = toy.create(widget(port="http"))
    assert created["spec"] == {"size": 3, "color": "blue", "replicas": 1, "port": "http"}
    toy.create(widget("w2", port=8080))


def test_transition_rule_makes_size_immutable(toy: KubeAPI) -> None:
    toy.create(widget())
    with pytest.raises(ApiError) as e:
        toy.patch(API_VERSION, KIND, "w1", {"spec": {"size": 4}}, "default")
    assert e.value.code == 422
    assert e.value.message == 'Widget.example.dev "w1" is invalid: spec: Invalid value: "object": size is immutable'
    toy.patch(API_VERSION, KIND, "w1", {"spec": {"color": "red"}}, "default")  # other fields may change


def test_field_validation_modes(toy: KubeAPI) -> None:
    obj = widget()
    obj["spec"]["sizee"] = 1
    obj["metadata"]["bogus"] = "x"
    status, body, _ = toy.request("POST", WD + "?fieldValidation=Strict", obj)
    assert status == 400 and body["reason"] == "BadRequest"
    assert body["message"] == ('Widget in version "v1" cannot be handled as a Widget: strict decoding error: '
                               'unknown field "metadata.bogus", unknown field "spec.sizee"')
    status, body, headers = toy.request("POST", WD, obj)  # the server's default: Warn
    assert status == 201 and "sizee" not in body["spec"] and "bogus" not in body["metadata"]
    assert headers["Warning"] == '299 - "unknown field \\"metadata.bogus\\"", 299 - "unknown field \\"spec.sizee\\""'
    obj["metadata"]["name"] = "w2"
    status, body, headers = toy.request("POST", WD + "?fieldValidation=Ignore", obj)
    assert status == 201 and "Warning" not in headers and "sizee" not in body["spec"]


def test_pruning_keeps_what_the_schema_preserves(toy: KubeAPI) -> None:
    created = toy.create(widget(anything={"deep": {"x": [1, {"y": 2}]}}, labels={"k": "v"}),
                         field_validation="Ignore")
    assert created["spec"]["anything"] == {"deep": {"x": [1, {"y": 2}]}}
    assert created["spec"]["labels"] == {"k": "v"}


def test_status_is_validated_too(toy: KubeAPI) -> None:
    toy.create(widget())
    with pytest.raises(ApiError) as e:
        toy.patch(API_VERSION, KIND, "w1", {"status": {"replicas": "many"}}, "default", subresource="status")
    assert e.value.code == 422 and "status.replicas" in e.value.message


def _crd_with(schema: dict[str, Any]) -> dict[str, Any]:
    c = crd()
    c["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = schema
    return c


@pytest.mark.parametrize(("schema", "message"), [
    ({"type": "object", "properties": {"spec": {"properties": {"a": {"type": "string"}}}}},
     "spec.versions[0].schema.openAPIV3Schema.properties[spec].type: Required value: must not be empty for specified object fields"),
    ({"type": "object", "properties": {"spec": {"type": "array"}}},
     "spec.versions[0].schema.openAPIV3Schema.properties[spec].items: Required value: must be specified"),
    ({"type": "object", "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string"}},
                                                "additionalProperties": {"type": "string"}}}},
     "additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive"),
    ({"type": "object", "properties": {"metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}}},
     "properties[metadata]: Forbidden: must not specify anything other than name and generateName"),
    ({"type": "object", "properties": {"spec": {"type": "object", "x-kubernetes-validations": [{"rule": "self.a >"}]}}},
     "x-kubernetes-validations[0].rule: Invalid value: \"self.a >\": compilation failed"),
    ({"type": "object", "properties": {"spec": {"type": "integer", "default": "x"}}},
     "properties[spec].default: Invalid value"),
    ({"type": "object", "properties": {"spec": {"$ref": "#/x", "type": "object"}}},
     "properties[spec].$ref: Forbidden: $ref is not supported"),
])
def test_non_structural_crds_are_refused(kube_api: KubeAPI, schema: dict[str, Any], message: str) -> None:
    got = _refused(kube_api, _crd_with(schema))
    assert got.startswith('CustomResourceDefinition.apiextensions.k8s.io "widgets.example.dev" is invalid: ')
    assert message in got


def test_crd_names_and_versions_are_checked(kube_api: KubeAPI) -> None:
    c = crd()
    c["metadata"]["name"] = "gadgets.example.dev"
    assert 'metadata.name: Invalid value: "gadgets.example.dev": must be spec.names.plural+"."+spec.group' in _refused(kube_api, c)
    c = crd()
    c["spec"]["versions"][0]["storage"] = False
    assert "must have exactly one version marked as storage version" in _refused(kube_api, c)


def test_crd_update_changes_what_is_served(toy: KubeAPI) -> None:
    toy.create(widget())
    c = toy.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.dev")
    assert c is not None
    c["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["size"]["maximum"] = 99
    c["spec"]["names"]["shortNames"] = ["wdg"]
    toy.replace(c)
    toy.create(widget("big", size=50))
    _, res, _ = toy.request("GET", "/apis/example.dev/v1")
    assert next(r for r in res["resources"] if r["name"] == "widgets")["shortNames"] == ["wdg"]


@pytest.mark.skipif(not (ROOT / "crds").is_dir(), reason="no crds/ yet")
def test_the_projects_crds_install_and_are_established(kube_api: KubeAPI) -> None:
    paths = sorted((ROOT / "crds").glob("*.yaml"))
    assert paths
    for installed in kube_api.install_crds(paths):
        conditions = {c["type"]: c["status"] for c in installed["status"]["conditions"]}
        assert conditions["Established"] == "True", installed["metadata"]["name"]
    names = {yaml.safe_load(p.read_text())["spec"]["names"]["plural"] for p in paths}
    _, res, _ = kube_api.request("GET", "/apis/celeriac.dev/v1alpha1")
    assert names <= {r["name"] for r in res["resources"]}
    assert all("celeriac" in r.get("categories", []) for r in res["resources"] if "/" not in r["name"])
