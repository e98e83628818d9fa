"""``meta.k8s.io/v1`` Table responses, which is all ``kubectl get`` prints from.

kubectl asks with ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io,...``. For custom
resources the columns are Name plus the CRD's ``additionalPrinterColumns`` (JSONPath,
typed; ``date`` cells become ages such as ``5s`` or ``3m2s``, as the server renders them),
or Name and Age when there are none; built-ins get the columns kubectl users know.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable
from typing import Any

from .resources import ResourceType

Obj = dict[str, Any]


def _media_types(accept: str) -> list[tuple[str, dict[str, str]]]:
    out = []
    for part in accept.split(","):
        bits = [b.strip() for b in part.split(";")]
        params = dict(b.split("=", 1) for b in bits[1:] if "=" in b)
        out.append((bits[0].lower(), params))
    return out


def wants_table(accept: str) -> bool:
    for mtype, params in _media_types(accept):
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
            return mtype == "application/json"
        if params.get("as"):
            continue
        return False
    return False


def acceptable(accept: str) -> bool:
    """False only when the client accepts nothing we can send (e.g. protobuf only)."""
    if not accept.strip():
        return True
    return any(m in ("application/json", "application/yaml", "*/*", "application/*")
               for m, _ in _media_types(accept))


# ---- JSONPath (the subset printer columns use) --------------------------------------

_TOKEN = re.compile(r"\.\.?([A-Za-z0-9_$-]+|\*)|\[(\*|-?\d+|\?\(@\.[^)]*\)|'[^']*'|\"[^\"]*\")\]")


def jsonpath(obj: Any, expr: str) -> list[Any]:
    """All values ``expr`` selects: ``.a.b``, ``.a[0]``, ``.a[*].b``,
    ``.a[?(@.type=="Ready")].status``, optionally wrapped in ``{...}``."""
    expr = expr.strip()
    if expr.startswith("{") and expr.endswith("}"):
        expr = expr[1:-1]
    values = [obj]
    pos = 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m:
            return []
        pos = m.end()
        name, index = m.group(1), m.group(2)
        nxt: list[Any] = []
        for v in values:
            if name is not None:
                if name == "*":
                    nxt.extend(v.values() if isinstance(v, dict) else v if isinstance(v, list) else [])
                elif isinstance(v, dict) and name in v:
                    nxt.append(v[name])
            elif index == "*":
                nxt.extend(v if isinstance(v, list) else v.values() if isinstance(v, dict) else [])
            elif index.startswith("?"):
                cond = _filter(index[2:-1])
                nxt.extend(x for x in (v if isinstance(v, list) else []) if cond(x))
            elif index[0] in "'\"":
                if isinstance(v, dict) and index[1:-1] in v:
                    nxt.append(v[index[1:-1]])
            elif isinstance(v, list):
                i = int(index)
                if -len(v) <= i < len(v):
                    nxt.append(v[i])
        values = nxt
    return values


def _filter(cond: str) -> Callable[[Any], bool]:
    m = re.fullmatch(r"@\.([A-Za-z0-9_.]+)\s*(==|!=)\s*(?:\"([^\"]*)\"|'([^']*)'|(\S+))", cond.strip())
    if not m:
        path = cond.strip()[2:]
        return lambda x: bool(jsonpath(x, "." + path))
    path, op, a, b, c = m.groups()
    wanted = a if a is not None else b if b is not None else c

    def check(x: Any) -> bool:
        got = jsonpath(x, "." + path)
        text = None if not got else got[0] if isinstance(got[0], str) else json.dumps(got[0])
        return (text == wanted) if op == "==" else (text != wanted)
    return check


# ---- cells ----------------------------------------------------------------------------

def human_duration(seconds: float) -> str:
    """``k8s.io/apimachinery/pkg/util/duration.HumanDuration``."""
    s = int(seconds)
    if s < 0:
        return "<invalid>"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = s // 3600
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 192:
        return f"{h // 24}d{h % 24}h" if h % 24 else f"{h // 24}d"
    if h < 24 * 365 * 2:
        return f"{h // 24}d"
    y = h // (24 * 365)
    return f"{y}y{(h // 24) % 365}d" if h < 24 * 365 * 8 else f"{y}y"


def age(timestamp: Any) -> str:
    if not isinstance(timestamp, str):
        return "<unknown>"
    try:
        then = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    return human_duration((datetime.datetime.now(datetime.UTC) - then).total_seconds())


def _cell(col: Obj, obj: Obj) -> Any:
    values = jsonpath(obj, col.get("jsonPath", ""))
    if not values:
        return None
    value = values[0] if len(values) == 1 else ",".join(
        v if isinstance(v, str) else json.dumps(v) for v in values)
    kind = col.get("type", "string")
    if kind == "date":
        return age(value)
    if kind == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if kind == "number" and isinstance(value, int | float):
        return value
    if kind == "boolean" and isinstance(value, bool):
        return value
    return value if isinstance(value, str) else json.dumps(value)


# ---- built-in columns -----------------------------------------------------------------

def _col(name: str, type_: str = "string", fmt: str = "", priority: int = 0) -> Obj:
    return {"name": name, "type": type_, "format": fmt, "description": name, "priority": priority}


def _pod_ready(o: Obj) -> str:
    statuses = (o.get("status") or {}).get("containerStatuses") or []
    total = len((o.get("spec") or {}).get("containers") or []) or len(statuses)
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def _pod_status(o: Obj) -> str:
    if (o.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    return str((o.get("status") or {}).get("phase") or "Pending")


def _restarts(o: Obj) -> int:
    return sum(int(s.get("restartCount") or 0) for s in (o.get("status") or {}).get("containerStatuses") or [])


def _ports(o: Obj) -> str:
    ports = (o.get("spec") or {}).get("ports") or []
    return ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in ports) or "<none>"


def _st(o: Obj, key: str) -> int:
    return int((o.get("status") or {}).get(key) or 0)


def _spec_replicas(o: Obj) -> int:
    return int((o.get("spec") or {}).get("replicas") or 0)


Builtin = list[tuple[Obj, Callable[[Obj], Any]]]

_AGE = (_col("Age", "date"), lambda o: age(o["metadata"].get("creationTimestamp")))
_BUILTIN: dict[tuple[str, str], Builtin] = {
    ("", "pods"): [(_col("Ready"), _pod_ready), (_col("Status"), _pod_status),
                   (_col("Restarts", "integer"), _restarts), _AGE,
                   (_col("IP", priority=1), lambda o: (o.get("status") or {}).get("podIP") or "<none>"),
                   (_col("Node", priority=1), lambda o: (o.get("spec") or {}).get("nodeName") or "<none>")],
    ("apps", "deployments"): [
        (_col("Ready"), lambda o: f"{_st(o, 'readyReplicas')}/{_spec_replicas(o)}"),
        (_col("Up-to-date", "integer"), lambda o: _st(o, "updatedReplicas")),
        (_col("Available", "integer"), lambda o: _st(o, "availableReplicas")), _AGE],
    ("apps", "statefulsets"): [
        (_col("Ready"), lambda o: f"{_st(o, 'readyReplicas')}/{_spec_replicas(o)}"), _AGE],
    ("apps", "replicasets"): [
        (_col("Desired", "integer"), _spec_replicas),
        (_col("Current", "integer"), lambda o: _st(o, "replicas")),
        (_col("Ready", "integer"), lambda o: _st(o, "readyReplicas")), _AGE],
    ("", "services"): [
        (_col("Type"), lambda o: (o.get("spec") or {}).get("type", "ClusterIP")),
        (_col("Cluster-IP"), lambda o: (o.get("spec") or {}).get("clusterIP") or "<none>"),
        (_col("External-IP"), lambda o: "<none>"), (_col("Port(s)"), _ports), _AGE],
    ("", "namespaces"): [(_col("Status"), lambda o: (o.get("status") or {}).get("phase", "Active")), _AGE],
    ("", "configmaps"): [(_col("Data", "integer"), lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {})), _AGE],
    ("", "secrets"): [(_col("Type"), lambda o: o.get("type", "Opaque")),
                      (_col("Data", "integer"), lambda o: len(o.get("data") or {})), _AGE],
    ("", "persistentvolumeclaims"): [(_col("Status"), lambda o: (o.get("status") or {}).get("phase", "Pending")), _AGE],
    ("coordination.k8s.io", "leases"): [
        (_col("Holder"), lambda o: (o.get("spec") or {}).get("holderIdentity") or ""), _AGE],
    ("apiextensions.k8s.io", "customresourcedefinitions"): [
        (_col("Created At", "date"), lambda o: o["metadata"].get("creationTimestamp"))],
}
_EVENT_COLS: Builtin = [
    (_col("Last Seen"), lambda o: age(o.get("lastTimestamp") or o.get("eventTime") or o["metadata"].get("creationTimestamp"))),
    (_col("Type"), lambda o: o.get("type") or ""),
    (_col("Reason"), lambda o: o.get("reason") or ""),
    (_col("Object"), lambda o: "{}/{}".format(str((o.get("involvedObject") or o.get("regarding") or {}).get("kind", "")).lower(),
                                               (o.get("involvedObject") or o.get("regarding") or {}).get("name", ""))),
    (_col("Message"), lambda o: o.get("message") or o.get("note") or ""),
]


def _columns(rt: ResourceType) -> Builtin:
    if rt.crd is not None:
        cols = rt.printer_columns or [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
        return [({"name": c["name"], "type": c.get("type", "string"), "format": c.get("format", ""),
                  "description": c.get("description", ""), "priority": c.get("priority", 0)},
                 lambda o, c=c: _cell(c, o)) for c in cols]
    if rt.plural == "events":
        return _EVENT_COLS
    return _BUILTIN.get(rt.group_plural, [_AGE])


def table(rt: ResourceType, items: list[Obj], rv: str, include: str | None,
          continue_token: str | None, headers: bool = True) -> Obj:
    cols = _columns(rt)
    name_col = _col("Name", fmt="name")
    name_col["description"] = ("Name must be unique within a namespace. "
                               "More info: http://kubernetes.io/docs/user-guide/identifiers#names")
    definitions = ([] if rt.plural == "events" and rt.crd is None else [name_col]) + [c for c, _ in cols]
    rows = []
    for obj in items:
        cells = [] if rt.plural == "events" and rt.crd is None else [obj["metadata"]["name"]]
        cells += [fn(obj) for _, fn in cols]
        row: Obj = {"cells": cells}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": obj["metadata"]}
        rows.append(row)
    meta: Obj = {"resourceVersion": rv}
    if continue_token:
        meta["continue"] = continue_token
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
            "columnDefinitions": definitions, "rows": rows}
