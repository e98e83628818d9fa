"""Label and field selectors, parsed the way the API server parses ``?labelSelector=``.

Label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``, ``a``, ``!a``.
Field selectors: ``path=value``, ``path==value``, ``path!=value`` on the field labels the
real server supports for the kind (``metadata.name`` and ``metadata.namespace`` for all,
``involvedObject.*`` for events, ``status.phase`` for pods, a CRD's ``selectableFields``;
see ``resources.selectable_fields``); any other label is a 400, as on a real server.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import ApiError, bad_request

Matcher = Callable[[dict[str, Any]], bool]

_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_EQ_RE = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)\s*$")


def _split_terms(selector: str) -> list[str]:
    """Split on commas that are not inside ``( )``."""
    terms, depth, cur = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        terms.append(cur)
    return [t for t in (t.strip() for t in terms) if t]


def label_matcher(selector: str | None) -> Matcher:
    """A predicate over objects; raises a 400 on a selector the server would refuse."""
    if not selector:
        return lambda obj: True
    checks: list[Callable[[dict[str, str]], bool]] = []
    for term in _split_terms(selector):
        m = _EQ_RE.match(term)
        if m:
            key, op, value = m.groups()
            if op == "!=":
                checks.append(lambda labels, k=key, v=value: labels.get(k) != v)
            else:
                checks.append(lambda labels, k=key, v=value: labels.get(k) == v)
            continue
        m = _SET_RE.match(term)
        if not m:
            raise _bad(selector)
        neg, key, op, values = m.groups()
        if op is None:
            if neg:
                checks.append(lambda labels, k=key: k not in labels)
            else:
                checks.append(lambda labels, k=key: k in labels)
            continue
        if neg:
            raise _bad(selector)
        wanted = {v.strip() for v in values.split(",") if v.strip()}
        if op == "in":
            checks.append(lambda labels, k=key, w=wanted: labels.get(k) in w)
        else:
            checks.append(lambda labels, k=key, w=wanted: labels.get(k) not in w)

    def match(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(check(labels) for check in checks)

    return match


def _bad(selector: str) -> ApiError:
    return bad_request(f'unable to parse requirement: found \'{selector}\', expected: valid selector')


def field_value(obj: dict[str, Any], path: str) -> str | None:
    """The value at a dotted path, as the string a field selector compares with."""
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    if cur is None:
        return None
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def field_matcher(selector: str | None, allowed: set[str] | None = None) -> Matcher:
    """``allowed``: the field labels this kind supports (None: any path)."""
    if not selector:
        return lambda obj: True
    checks: list[Matcher] = []
    for term in _split_terms(selector):
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not m:
            raise bad_request(f'invalid selector: \'{selector}\'; can\'t understand \'{term}\'')
        path, op, value = m.groups()
        if allowed is not None and path not in allowed:
            raise bad_request(f'field label not supported: {path}')
        if op == "!=":
            checks.append(lambda o, p=path, v=value: (field_value(o, p) or "") != v)
        else:
            checks.append(lambda o, p=path, v=value: (field_value(o, p) or "") == v)
    return lambda obj: all(check(obj) for check in checks)


def selector_string(match_labels: dict[str, str] | None,
                    match_expressions: list[dict[str, Any]] | None = None) -> str:
    """A ``LabelSelector`` object as the string form (what ``/scale`` reports)."""
    parts = [f"{k}={v}" for k, v in sorted((match_labels or {}).items())]
    for expr in match_expressions or []:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(sorted(values))})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(sorted(values))})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)
