"""A toy CRD (``Widget`` in ``example.dev``) that the emulator's own tests use.

It has what our real CRDs have: a status and a scale subresource, printer columns, a
category and a short name, defaults, an enum, bounds, and CEL rules (one a transition
rule that makes ``spec.size`` immutable).
"""

from __future__ import annotations

import copy
from typing import Any

GROUP, VERSION, KIND, PLURAL = "example.dev", "v1", "Widget", "widgets"
API_VERSION = f"{GROUP}/{VERSION}"

CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": PLURAL, "singular": "widget", "kind": KIND,
                  "shortNames": ["wd"], "categories": ["toys"]},
        "versions": [{
            "name": VERSION, "served": True, "storage": True,
            "subresources": {"status": {}, "scale": {
                "specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas",
                "labelSelectorPath": ".status.selector"}},
            "selectableFields": [{"jsonPath": ".spec.color"}],
            "additionalPrinterColumns": [
                {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                {"name": "Color", "type": "string", "jsonPath": ".spec.color"},
                {"name": "State", "type": "string", "jsonPath": ".status.state"},
                {"name": "Ready", "type": "string",
                 "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
            ],
            "schema": {"openAPIV3Schema": {
                "type": "object",
                "properties": {
                    "spec": {
                        "type": "object",
                        "required": ["size"],
                        "x-kubernetes-validations": [
                            {"rule": "self.size == oldSelf.size", "message": "size is immutable"},
                            {"rule": "!(has(self.every) && has(self.cron))",
                             "message": "every and cron are mutually exclusive"},
                        ],
                        "properties": {
                            "size": {"type": "integer", "minimum": 0, "maximum": 9},
                            "color": {"type": "string", "default": "blue", "enum": ["blue", "red"]},
                            "replicas": {"type": "integer", "default": 1, "minimum": 0},
                            "every": {"type": "string", "pattern": "^[0-9]+[smh]$"},
                            "cron": {"type": "string", "maxLength": 20},
                            "tags": {"type": "array", "maxItems": 3, "items": {"type": "string"}},
                            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                            "anything": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            "port": {"x-kubernetes-int-or-string": True},
                            "eta": {"type": "string", "format": "date-time"},
                        },
                    },
                    "status": {
                        "type": "object",
                        "properties": {
                            "state": {"type": "string"},
                            "replicas": {"type": "integer"},
                            "selector": {"type": "string"},
                            "conditions": {"type": "array", "items": {
                                "type": "object",
                                "properties": {"type": {"type": "string"}, "status": {"type": "string"}},
                            }},
                        },
                    },
                },
            }},
        }],
    },
}


def crd() -> dict[str, Any]:
    return copy.deepcopy(CRD)


def widget(name: str = "w1", namespace: str = "default", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "kind": KIND,
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"size": 3, **spec}}
