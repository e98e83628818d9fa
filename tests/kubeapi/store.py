"""Object storage with the API server's semantics, one event loop, no locks.

Every write goes through one pipeline: preconditions (resourceVersion), the ``/status``
split, validation (CRD schemas, CEL), ``generation`` (bumped when anything but metadata
and status changed), a global ``resourceVersion`` counter, and an event log that watches
replay from (resume after a given resourceVersion, 410 Gone when it is older than the
log). Deletion honours finalizers (``deletionTimestamp`` first, removal when the last
finalizer goes), ``propagationPolicy`` (Background, Foreground, Orphan) and
``preconditions``; a small controller loop does what kube-controller-manager would:
garbage-collect objects whose owners are gone and empty terminating namespaces.

All methods are synchronous and run on the emulator's event loop thread, so each is
atomic with respect to the others (watch replay and subscription included).
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import random
import re
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import builtin, errors, ownership, schema
from .errors import ApiError, FieldError
from .patching import (
    APPLY_PATCH,
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_PATCH,
    apply_merge,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)
from .resources import Registry, ResourceType, selectable_fields, types_from_crd
from .selectors import Matcher, field_matcher, label_matcher, selector_string

Obj = dict[str, Any]
StoreKey = tuple[str, str]  # (group, plural)
ObjKey = tuple[str, str]  # (namespace or "", name)

#: How many change events the watch log keeps for resuming watches.
LOG_SIZE = 50_000
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
#: Kinds whose names must be DNS-1123 labels, not subdomains.
_LABEL_NAMED = {("", "namespaces"), ("", "services")}


def clone(value: Any) -> Any:
    """A copy of JSON data (dicts, lists, scalars): several times faster than deepcopy."""
    if isinstance(value, dict):
        return {k: clone(v) if isinstance(v, dict | list) else v for k, v in value.items()}
    if isinstance(value, list):
        return [clone(v) if isinstance(v, dict | list) else v for v in value]
    return value


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Event:
    rv: int
    key: StoreKey
    type: str  # ADDED MODIFIED DELETED
    obj: Obj
    old: Obj | None = None


@dataclass
class Watcher:
    key: StoreKey
    namespace: str | None
    labels: Matcher
    fields: Matcher
    queue: asyncio.Queue[Event | None] = field(default_factory=asyncio.Queue)

    def matches(self, obj: Obj | None) -> bool:
        if obj is None:
            return False
        if self.namespace is not None and (obj.get("metadata") or {}).get("namespace") != self.namespace:
            return False
        return self.labels(obj) and self.fields(obj)


@dataclass
class WriteOptions:
    dry_run: bool = False
    #: ``Strict`` (kubectl sends it), ``Warn`` (the server's default) or ``Ignore``.
    field_validation: str = "Warn"
    field_manager: str | None = None
    #: The manager of writes that name none: the User-Agent's product, as on the server.
    default_manager: str = "kube-api-fixture"
    #: Set by server-side apply: the configuration applied (its fields become the manager's).
    applied: Obj | None = None
    warnings: list[str] = field(default_factory=list)


class Store:
    """All objects of every kind, their history for watches, and the small controllers."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.rv = 0
        self.data: dict[StoreKey, dict[ObjKey, Obj]] = {}
        self.log: deque[Event] = deque(maxlen=LOG_SIZE)
        self.watchers: list[Watcher] = []
        self.applied: dict[tuple[StoreKey, str, str, str], Obj] = {}
        #: Field owners per object, and when each (manager, operation) last changed its set.
        self.owners: dict[tuple[StoreKey, str, str], dict[ownership.Path, ownership.Owner]] = {}
        self.stamps: dict[tuple[StoreKey, str, str], dict[ownership.Owner, str]] = {}
        self.changed = asyncio.Event()
        self.writes = 0
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self._seed_namespace(ns)

    # ---- reading -------------------------------------------------------------------

    def _bucket(self, rt: ResourceType) -> dict[ObjKey, Obj]:
        return self.data.setdefault(rt.storage_key, {})

    def _key(self, rt: ResourceType, namespace: str | None, name: str) -> ObjKey:
        return ((namespace or "") if rt.namespaced else "", name)

    def view(self, rt: ResourceType, obj: Obj) -> Obj:
        out = clone(obj)
        if rt.group_plural == ("events.k8s.io", "events"):
            out = events_v1_from_core(out)
        out["apiVersion"] = rt.api_version
        out["kind"] = rt.kind
        return out

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        obj = self._bucket(rt).get(self._key(rt, namespace, name))
        if obj is None:
            raise errors.not_found(rt, name)
        return self.view(rt, obj)

    def find(self, rt: ResourceType, namespace: str | None, name: str) -> Obj | None:
        obj = self._bucket(rt).get(self._key(rt, namespace, name))
        return None if obj is None else self.view(rt, obj)

    def list(self, rt: ResourceType, namespace: str | None, label_selector: str | None = None,
             field_selector: str | None = None, limit: int | None = None,
             continue_token: str | None = None) -> tuple[list[Obj], str, str | None, int | None]:
        lm, fm = label_matcher(label_selector), _field_matcher(rt, field_selector)
        start = ""
        if continue_token:
            try:
                start = json.loads(base64.urlsafe_b64decode(continue_token.encode()))["start"]
            except (ValueError, KeyError, TypeError) as e:
                raise errors.bad_request("continue key is not valid: illegal base64 data") from e
        items = []
        for (ns, name), obj in sorted(self._bucket(rt).items()):
            if namespace and rt.namespaced and ns != namespace:
                continue
            if start and f"{ns}/{name}" <= start:
                continue
            if lm(obj) and fm(obj):
                items.append((f"{ns}/{name}", obj))
        token: str | None = None
        remaining: int | None = None
        if limit and len(items) > limit:
            remaining = len(items) - limit
            items = items[:limit]
            token = base64.urlsafe_b64encode(json.dumps({"start": items[-1][0]}).encode()).decode()
        return [self.view(rt, obj) for _, obj in items], str(self.rv), token, remaining

    # ---- watching ------------------------------------------------------------------

    def subscribe(self, rt: ResourceType, namespace: str | None, label_selector: str | None,
                  field_selector: str | None, resource_version: str | None,
                  send_initial: bool) -> tuple[Watcher, list[Event]]:
        """A watcher plus the events to send first (replay or initial ADDED)."""
        w = Watcher(rt.storage_key, namespace if rt.namespaced else None,
                    label_matcher(label_selector), _field_matcher(rt, field_selector))
        first: list[Event] = []
        if send_initial or resource_version in (None, "", "0"):
            for obj in self._bucket(rt).values():
                if w.matches(obj):
                    first.append(Event(int(obj["metadata"]["resourceVersion"]), w.key, "ADDED", obj))
            first.sort(key=lambda e: e.rv)
        else:
            try:
                since = int(resource_version or "0")
            except ValueError as e:
                raise errors.bad_request(f'invalid resource version "{resource_version}"') from e
            oldest = self.log[0].rv if self.log else self.rv + 1
            if since < oldest - 1 and since < self.rv:
                raise errors.gone(f"too old resource version: {since} ({oldest - 1})")
            for ev in self.log:
                if ev.rv > since and ev.key == w.key:
                    first.extend(self._translate(w, ev))
        self.watchers.append(w)
        return w, first

    def unsubscribe(self, w: Watcher) -> None:
        if w in self.watchers:
            self.watchers.remove(w)

    def _translate(self, w: Watcher, ev: Event) -> list[Event]:
        """What a selector-filtered watch sees of one change (ADDED/DELETED at the edges)."""
        now_in, was_in = w.matches(ev.obj), w.matches(ev.old)
        if ev.type == "MODIFIED":
            if now_in and was_in:
                return [ev]
            if now_in:
                return [Event(ev.rv, ev.key, "ADDED", ev.obj)]
            if was_in:
                return [Event(ev.rv, ev.key, "DELETED", ev.obj)]
            return []
        return [ev] if now_in else []

    def _emit(self, key: StoreKey, type_: str, obj: Obj, old: Obj | None) -> None:
        ev = Event(self.rv, key, type_, obj, old)
        self.log.append(ev)
        for w in self.watchers:
            if w.key == key:
                for out in self._translate(w, ev):
                    w.queue.put_nowait(out)
        if _wakes_controllers(type_, obj, old):
            self.changed.set()

    def close_watches(self) -> None:
        for w in self.watchers:
            w.queue.put_nowait(None)
        self.watchers.clear()

    # ---- writing -------------------------------------------------------------------

    def _next_rv(self) -> str:
        self.rv += 1
        self.writes += 1
        return str(self.rv)

    def _seed_namespace(self, name: str) -> None:
        rt = self.registry.get("", "v1", "namespaces")
        assert rt is not None
        self.create(rt, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                    WriteOptions())

    def create(self, rt: ResourceType, namespace: str | None, body: Any, opts: WriteOptions) -> Obj:
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request was not an object")
        obj = clone(body)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        self._check_kind(rt, obj)
        if rt.namespaced:
            body_ns = meta.get("namespace")
            if namespace and body_ns and body_ns != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request")
            namespace = namespace or body_ns or "default"
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
            namespace = None
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(random.choice(_NAME_CHARS) for _ in range(5))
        name = meta.get("name") or ""
        self._check_name(rt, name)
        if rt.namespaced:
            self._check_namespace_open(rt, namespace or "", name)
        bucket = self._bucket(rt)
        key = self._key(rt, namespace, name)
        if key in bucket:
            raise errors.already_exists(rt, name)
        for f in ("resourceVersion", "uid", "creationTimestamp", "deletionTimestamp",
                  "deletionGracePeriodSeconds", "generation", "selfLink"):
            meta.pop(f, None)
        if "status" in rt.subresources:
            obj.pop("status", None)
        obj = _to_storage(rt, self._admit(rt, obj, None, opts))
        meta = obj["metadata"]
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        meta["generation"] = 1
        okey = (rt.storage_key, namespace or "", name)
        owners: dict[ownership.Path, ownership.Owner] = {}
        self._own(rt, owners, okey, None, obj, opts)
        if opts.dry_run:
            meta["resourceVersion"] = str(self.rv)
            return self.view(rt, obj)
        meta["resourceVersion"] = self._next_rv()
        bucket[key] = obj
        self.owners[okey] = owners
        self._after_write(rt, None, obj)
        self._emit(rt.storage_key, "ADDED", obj, None)
        return self.view(rt, obj)

    def replace(self, rt: ResourceType, namespace: str | None, name: str, body: Any,
                subresource: str | None, opts: WriteOptions) -> Obj:
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request was not an object")
        body_name = (body.get("metadata") or {}).get("name")
        if body_name and body_name != name:
            raise errors.bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL ({name})")
        old = self._bucket(rt).get(self._key(rt, namespace, name))
        if old is None:
            raise errors.not_found(rt, name)
        new = clone(body)
        new.setdefault("metadata", {})["name"] = name
        # Custom resources (and CRDs) allow no unconditional update, most built-ins do.
        unconditional = rt.crd is None and rt.group != "apiextensions.k8s.io"
        return self._update(rt, old, new, subresource, opts, require_rv=not unconditional)

    def patch(self, rt: ResourceType, namespace: str | None, name: str, content_type: str,
              patch: Any, subresource: str | None, opts: WriteOptions, force: bool = False) -> Obj:
        old = self._bucket(rt).get(self._key(rt, namespace, name))
        if content_type == APPLY_PATCH:
            return self._apply(rt, namespace, name, old, patch, subresource, opts, force)
        if old is None:
            raise errors.not_found(rt, name)
        current = self.view(rt, old)
        if content_type == MERGE_PATCH:
            if not isinstance(patch, dict):
                raise errors.bad_request("the merge patch must be a JSON object")
            new = merge_patch(current, patch)
        elif content_type == JSON_PATCH:
            new = json_patch(current, patch)
        elif content_type == STRATEGIC_PATCH:
            if rt.crd is not None:
                raise ApiError(415, "UnsupportedMediaType",
                               "the body of the request was in an unknown format - accepted media types "
                               "include: application/json-patch+json, application/merge-patch+json, "
                               "application/apply-patch+yaml")
            if not isinstance(patch, dict):
                raise errors.bad_request("the strategic merge patch must be a JSON object")
            new = strategic_merge_patch(current, patch)
        else:
            raise errors.unsupported_media_type(content_type)
        if not isinstance(new, dict):
            raise errors.bad_request("the patch did not produce an object")
        return self._update(rt, old, new, subresource, opts, require_rv=False)

    def _apply(self, rt: ResourceType, namespace: str | None, name: str, old: Obj | None,
               applied: Any, subresource: str | None, opts: WriteOptions, force: bool) -> Obj:
        if not isinstance(applied, dict):
            raise errors.bad_request("the apply configuration must be an object")
        manager = opts.field_manager
        if not manager:
            raise errors.bad_request("PATCH requests with apply content type require fieldManager")
        body_name = (applied.get("metadata") or {}).get("name")
        if body_name and body_name != name:
            raise errors.bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL ({name})")
        akey = (rt.group_plural, namespace or "", name, manager)
        opts.applied = applied
        if old is None:
            obj = clone(applied)
            obj.setdefault("metadata", {})["name"] = name
            created = self.create(rt, namespace, obj, opts)
            if not opts.dry_run:
                self.applied[akey] = clone(applied)
            return created
        current = self.view(rt, old)
        if not force:
            found = ownership.conflicts(self.owners.get((rt.storage_key, namespace or "", name), {}),
                                        current, applied, manager)
            if found:
                raise ApiError(409, "Conflict", ownership.conflict_message(found, rt.api_version), {
                    **errors.details(rt, name),
                    "causes": [{"reason": "FieldManagerConflict", "field": f,
                                "message": f'conflict with "{m}" using {rt.api_version}'} for f, m in found]})
        previous = self.applied.get(akey)
        new = apply_merge(current, clone(applied), previous)
        result = self._update(rt, old, new, subresource, opts, require_rv=False)
        if not opts.dry_run:
            self.applied[akey] = clone(applied)
        return result

    def _own(self, rt: ResourceType, owners: dict[ownership.Path, ownership.Owner],
             okey: tuple[StoreKey, str, str], old: Obj | None, new: Obj, opts: WriteOptions) -> None:
        """Record who set what (in ``owners``) and render ``managedFields`` into ``new``."""
        before = ownership.managed_fields(owners, rt.api_version, {})
        manager = opts.field_manager or opts.default_manager
        if opts.applied is not None:
            ownership.record_apply(owners, opts.applied, manager, new)
        else:
            ownership.record_update(owners, old or {}, new, manager)
        stamps = dict(self.stamps.get(okey, {}))
        after = ownership.managed_fields(owners, rt.api_version, {})
        changed = {(e["manager"], e["operation"]) for e in after if e not in before}
        for owner in changed:
            stamps[owner] = now_rfc3339()
        if not opts.dry_run:
            self.stamps[okey] = stamps
        new["metadata"]["managedFields"] = ownership.managed_fields(owners, rt.api_version, stamps)

    def _update(self, rt: ResourceType, old: Obj, new: Obj, subresource: str | None,
                opts: WriteOptions, require_rv: bool) -> Obj:
        name = old["metadata"]["name"]
        meta = new.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        self._check_kind(rt, new)
        rv = meta.get("resourceVersion")
        if rv not in (None, "") and str(rv) != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt, name)
        if require_rv and not rv:
            raise errors.invalid(rt, name, [FieldError(
                "metadata.resourceVersion", "FieldValueInvalid",
                "0x0: must be specified for an update", None, False)])
        old_meta = old["metadata"]
        if "status" in rt.subresources:
            if subresource == "status":
                status = new.get("status")
                new = clone(old)
                if status is None:
                    new.pop("status", None)
                else:
                    new["status"] = status
                meta = new["metadata"]
            elif "status" in old:
                new["status"] = clone(old["status"])
            else:
                new.pop("status", None)
        for f in ("uid", "creationTimestamp", "namespace", "name", "deletionTimestamp",
                  "deletionGracePeriodSeconds", "generation"):
            if f in old_meta:
                meta[f] = old_meta[f]
            else:
                meta.pop(f, None)
        if old_meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
            if added:
                raise errors.invalid(rt, name, [FieldError(
                    "metadata.finalizers", "FieldValueForbidden",
                    "no new finalizers can be added if the object is being deleted, found new "
                    f"finalizers {json.dumps(sorted(added))}")])
        if not meta.get("finalizers"):
            meta.pop("finalizers", None)
        new = _to_storage(rt, self._admit(rt, new, old, opts))
        meta = new["metadata"]
        if _spec_part(new) != _spec_part(old):
            meta["generation"] = int(old_meta.get("generation") or 1) + 1
        meta["resourceVersion"] = old_meta["resourceVersion"]
        okey = (rt.storage_key, old_meta.get("namespace") or "", name)
        owners = dict(self.owners.get(okey, {}))
        self._own(rt, owners, okey, old, new, opts)
        if new == old:
            return self.view(rt, old)  # a no-op write: no new resourceVersion, no event
        if opts.dry_run:
            return self.view(rt, new)
        meta["resourceVersion"] = self._next_rv()
        key = self._key(rt, meta.get("namespace"), name)
        self._bucket(rt)[key] = new
        self.owners[okey] = owners
        self._after_write(rt, old, new)
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and not _is_graceful_pod(rt, new):
            del self._bucket(rt)[key]
            self._emit(rt.storage_key, "DELETED", new, old)
            self._removed(rt, new)
            return self.view(rt, new)
        self._emit(rt.storage_key, "MODIFIED", new, old)
        return self.view(rt, new)

    def _admit(self, rt: ResourceType, obj: Obj, old: Obj | None, opts: WriteOptions) -> Obj:
        """Defaulting and validation by kind: CRD schemas, CRDs themselves, a few built-ins."""
        name = obj["metadata"].get("name", "")
        if rt.schema is not None:
            obj, warnings = schema.admit(rt, obj, old, opts.field_validation)
            opts.warnings.extend(warnings)
            return self._meta_checked(rt, obj, name)
        if rt.crd is None:
            opts.warnings.extend(builtin.check(rt, obj, opts.field_validation))
        if rt.group_plural == ("apiextensions.k8s.io", "customresourcedefinitions"):
            schema.check_crd(rt, obj, old, self.registry)
            if old is not None:
                obj["status"] = clone(old.get("status") or {})
            _crd_status(obj)
        else:
            _builtin_defaults(rt, obj, old)
        return self._meta_checked(rt, obj, name)

    def _meta_checked(self, rt: ResourceType, obj: Obj, name: str) -> Obj:
        errs = _meta_errors(obj)
        if errs:
            raise errors.invalid(rt, name, errs)
        return obj

    def _after_write(self, rt: ResourceType, old: Obj | None, new: Obj) -> None:
        if rt.group_plural == ("apiextensions.k8s.io", "customresourcedefinitions"):
            crd_name = new["metadata"]["name"]
            self.registry.remove_crd(crd_name)
            served = types_from_crd(new)
            for t in served:
                self.registry.add(t)
            # The server defaults on read; objects stored before a default was added get it
            # here once (in place, no new resourceVersion), not on every read.
            storage = next((t for t in served if t.schema is not None), None)
            if storage is not None and old is not None:
                for obj in self.data.get(storage.storage_key, {}).values():
                    schema.apply_defaults(storage.schema, obj)

    # ---- deleting ------------------------------------------------------------------

    def delete(self, rt: ResourceType, namespace: str | None, name: str,
               options: Obj | None = None, dry_run: bool = False,
               propagation: str | None = None) -> tuple[Obj, bool]:
        """Delete one object; returns (object, gone-now)."""
        options = options or {}
        key = self._key(rt, namespace, name)
        old = self._bucket(rt).get(key)
        if old is None:
            raise errors.not_found(rt, name)
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != old["metadata"]["uid"]:
            raise ApiError(409, "Conflict",
                           f'Operation cannot be fulfilled on {rt.qualified} "{name}": Precondition '
                           f'failed: UID in precondition: {pre["uid"]}, UID in object meta: '
                           f'{old["metadata"]["uid"]}')
        if pre.get("resourceVersion") and pre["resourceVersion"] != old["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict",
                           f'Operation cannot be fulfilled on {rt.qualified} "{name}": Precondition '
                           f'failed: ResourceVersion in precondition: {pre["resourceVersion"]}, '
                           f'ResourceVersion in object meta: {old["metadata"]["resourceVersion"]}')
        policy = propagation or options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is True:
            policy = "Orphan"
        policy = policy or "Background"
        if policy not in ("Background", "Foreground", "Orphan"):
            raise errors.invalid(rt, name, [FieldError(
                "propagationPolicy", "FieldValueNotSupported",
                'supported values: "Foreground", "Background", "Orphan", "nil"', policy)])
        if dry_run:
            return self.view(rt, old), False
        grace = options.get("gracePeriodSeconds")
        meta = old["metadata"]
        if meta.get("deletionTimestamp"):
            if _is_graceful_pod(rt, old) and grace == 0:
                return self._remove(rt, key, old), True
            return self.view(rt, old), False
        if policy == "Orphan":
            self._orphan(meta["uid"])
        new = clone(old)
        nmeta = new["metadata"]
        if policy == "Foreground":
            nmeta["finalizers"] = [*(nmeta.get("finalizers") or []), "foregroundDeletion"]
        if rt.group_plural == ("", "namespaces"):
            new.setdefault("status", {})["phase"] = "Terminating"
        pod_grace = _pod_grace(rt, old, grace)
        if nmeta.get("finalizers") or rt.group_plural == ("", "namespaces") or pod_grace:
            stamp = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=pod_grace)
            nmeta["deletionTimestamp"] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
            nmeta["deletionGracePeriodSeconds"] = pod_grace
            nmeta["generation"] = int(nmeta.get("generation") or 1) + 1
            nmeta["resourceVersion"] = self._next_rv()
            self._bucket(rt)[key] = new
            self._emit(rt.storage_key, "MODIFIED", new, old)
            return self.view(rt, new), False
        return self._remove(rt, key, old), True

    def _remove(self, rt: ResourceType, key: ObjKey, obj: Obj) -> Obj:
        gone = clone(obj)
        gone["metadata"]["resourceVersion"] = self._next_rv()
        del self._bucket(rt)[key]
        self._emit(rt.storage_key, "DELETED", gone, obj)
        self._removed(rt, gone)
        return self.view(rt, gone)

    def _removed(self, rt: ResourceType, obj: Obj) -> None:
        meta = obj["metadata"]
        for akey in [k for k in self.applied if k[0] == rt.group_plural
                     and k[1] == (meta.get("namespace") or "") and k[2] == meta["name"]]:
            del self.applied[akey]
        self.owners.pop((rt.storage_key, meta.get("namespace") or "", meta["name"]), None)
        self.stamps.pop((rt.storage_key, meta.get("namespace") or "", meta["name"]), None)
        if rt.group_plural == ("apiextensions.k8s.io", "customresourcedefinitions"):
            spec = obj.get("spec") or {}
            self.data.pop((spec.get("group", ""), (spec.get("names") or {}).get("plural", "")), None)
            self.registry.remove_crd(meta["name"])

    def _orphan(self, uid: str) -> None:
        for gp, bucket in self.data.items():
            rt = self._any_type(gp)
            if rt is None:
                continue
            for obj in list(bucket.values()):
                refs = obj["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == uid for r in refs):
                    new = clone(obj)
                    kept = [r for r in refs if r.get("uid") != uid]
                    if kept:
                        new["metadata"]["ownerReferences"] = kept
                    else:
                        new["metadata"].pop("ownerReferences", None)
                    self._update(rt, obj, new, None, WriteOptions(), require_rv=False)

    def _any_type(self, gp: StoreKey) -> ResourceType | None:
        for rt in self.registry.all():
            if rt.storage_key == gp:
                return rt
        return None

    def _check_kind(self, rt: ResourceType, obj: Obj) -> None:
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind and kind != rt.kind:
            raise errors.bad_request(
                f'{kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                f"the kind of the object ({kind}) does not match the resource ({rt.kind})")
        if api_version and api_version.rpartition("/")[0] != rt.group:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({rt.api_version})")
        obj["kind"], obj["apiVersion"] = rt.kind, rt.api_version

    def _check_name(self, rt: ResourceType, name: str) -> None:
        if not name:
            raise errors.invalid(rt, "", [FieldError(
                "metadata.name", "FieldValueRequired", "name or generateName is required")])
        pattern = _DNS_LABEL if rt.group_plural in _LABEL_NAMED else _DNS_SUBDOMAIN
        limit = 63 if rt.group_plural in _LABEL_NAMED else 253
        if len(name) > limit or not pattern.match(name):
            what = "RFC 1123 label" if pattern is _DNS_LABEL else "RFC 1123 subdomain"
            raise errors.invalid(rt, name, [FieldError(
                "metadata.name", "FieldValueInvalid",
                f"a lowercase {what} must consist of lower case alphanumeric characters, '-' "
                f"or '.', and must start and end with an alphanumeric character", name)])

    def _check_namespace_open(self, rt: ResourceType, namespace: str, name: str) -> None:
        ns = self.data.get(("", "namespaces"), {}).get(("", namespace))
        if ns is None:
            nrt = self.registry.get("", "v1", "namespaces")
            assert nrt is not None
            raise errors.not_found(nrt, namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(rt, name, f"unable to create new content in namespace "
                                             f"{namespace} because it is being terminated")

    # ---- controllers (garbage collector, namespace lifecycle) ---------------------

    def reconcile(self) -> bool:
        """One pass of the garbage collector and the namespace controller; True if it acted."""
        acted = False
        uids: dict[str, tuple[ResourceType, Obj]] = {}
        types: dict[StoreKey, ResourceType] = {}
        for rt in self.registry.all():
            types.setdefault(rt.storage_key, rt)
        served_kinds = {(rt.group, rt.kind) for rt in self.registry.all()}
        for gp, bucket in self.data.items():
            if gp in types:
                for obj in bucket.values():
                    uids[obj["metadata"]["uid"]] = (types[gp], obj)
        # namespaces being terminated: delete their content, then let them go.
        for obj in list(self.data.get(("", "namespaces"), {}).values()):
            meta = obj["metadata"]
            if not meta.get("deletionTimestamp"):
                continue
            ns, left = meta["name"], 0
            for gp, bucket in list(self.data.items()):
                rt = types.get(gp)
                if rt is None or not rt.namespaced:
                    continue
                for (ons, oname), item in list(bucket.items()):
                    if ons != ns:
                        continue
                    left += 1
                    if not item["metadata"].get("deletionTimestamp") or _is_graceful_pod(rt, item):
                        self.delete(rt, ns, oname, {"gracePeriodSeconds": 0})
                        acted = True
            if left == 0:
                nrt = types[("", "namespaces")]
                self._remove(nrt, ("", ns), obj)
                acted = True
        # garbage collection by ownerReferences
        for uid, (rt, obj) in list(uids.items()):
            meta = obj["metadata"]
            refs = meta.get("ownerReferences") or []
            if refs and uid in uids:
                known = [r for r in refs if (r.get("apiVersion", "").rpartition("/")[0],
                                             r.get("kind")) in served_kinds]
                if known and len(known) == len(refs) and not meta.get("deletionTimestamp") \
                        and not any(r.get("uid") in uids for r in refs):
                    self.delete(rt, meta.get("namespace"), meta["name"], {"propagationPolicy": "Background"})
                    acted = True
            if meta.get("deletionTimestamp") and "foregroundDeletion" in (meta.get("finalizers") or []):
                dependents = [(drt, d) for drt, d in uids.values()
                              if any(r.get("uid") == uid for r in d["metadata"].get("ownerReferences") or [])]
                for drt, d in dependents:
                    if not d["metadata"].get("deletionTimestamp"):
                        self.delete(drt, d["metadata"].get("namespace"), d["metadata"]["name"],
                                    {"propagationPolicy": "Foreground"})
                        acted = True
                if not dependents:
                    current = self._bucket(rt).get(self._key(rt, meta.get("namespace"), meta["name"]))
                    if current is not None:
                        new = clone(current)
                        new["metadata"]["finalizers"] = [
                            f for f in current["metadata"].get("finalizers") or [] if f != "foregroundDeletion"]
                        self._update(rt, current, new, None, WriteOptions(), require_rv=False)
                        acted = True
        return acted

    # ---- scale subresource ---------------------------------------------------------

    def get_scale(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        obj = self.get(rt, namespace, name)
        return _scale_of(rt, obj)

    def set_scale(self, rt: ResourceType, namespace: str | None, name: str,
                  update: Callable[[Obj], Obj], opts: WriteOptions) -> Obj:
        obj = self.get(rt, namespace, name)
        scale = update(_scale_of(rt, obj))
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid(rt, name, [FieldError(
                "spec.replicas", "FieldValueInvalid", "must be greater than or equal to 0", replicas)])
        srv = (scale.get("metadata") or {}).get("resourceVersion")
        if srv and srv != obj["metadata"]["resourceVersion"]:
            raise errors.conflict(rt, name)
        new = clone(obj)
        _set_path(new, rt.spec_replicas_path, replicas)
        stored = self._bucket(rt)[self._key(rt, namespace, name)]
        result = self._update(rt, stored, new, None, opts, require_rv=False)
        return _scale_of(rt, result)


#: events.k8s.io/v1 Event fields and the core/v1 Event fields they are stored as.
_EVENT_FIELDS = {"regarding": "involvedObject", "note": "message",
                 "reportingController": "reportingComponent", "deprecatedSource": "source",
                 "deprecatedFirstTimestamp": "firstTimestamp",
                 "deprecatedLastTimestamp": "lastTimestamp", "deprecatedCount": "count"}


def events_v1_from_core(obj: Obj) -> Obj:
    """A stored (core/v1) Event as events.k8s.io/v1 shows it: one object, two views."""
    out = {k: v for k, v in obj.items() if k not in _EVENT_FIELDS.values()}
    for new_name, core_name in _EVENT_FIELDS.items():
        if core_name in obj:
            out[new_name] = obj[core_name]
    if "reportingController" not in out and isinstance(obj.get("source"), dict) \
            and obj["source"].get("component"):
        out["reportingController"] = obj["source"]["component"]
    return out


def _field_matcher(rt: ResourceType, selector: str | None) -> Matcher:
    """Field selectors see the object as the kind's version shows it."""
    match = field_matcher(selector, selectable_fields(rt))
    if rt.group_plural == ("events.k8s.io", "events") and selector:
        return lambda obj: match(events_v1_from_core(obj))
    return match


def _to_storage(rt: ResourceType, obj: Obj) -> Obj:
    if rt.group_plural != ("events.k8s.io", "events"):
        return obj
    out = {k: v for k, v in obj.items() if k not in _EVENT_FIELDS}
    for new_name, core_name in _EVENT_FIELDS.items():
        if new_name in obj:
            out[core_name] = obj[new_name]
    out["apiVersion"], out["kind"] = "v1", "Event"
    return out


def _wakes_controllers(type_: str, obj: Obj, old: Obj | None) -> bool:
    """Whether a change can give the garbage collector or the namespace controller work:
    something went or started going, or owner references changed (most writes do not)."""
    meta, old_meta = obj.get("metadata") or {}, (old or {}).get("metadata") or {}
    if type_ == "DELETED" or meta.get("deletionTimestamp"):
        return True
    return bool(meta.get("ownerReferences") != old_meta.get("ownerReferences")
                or meta.get("finalizers") != old_meta.get("finalizers"))


def _spec_part(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _is_graceful_pod(rt: ResourceType, obj: Obj) -> bool:
    return bool(rt.group_plural == ("", "pods") and (obj.get("metadata") or {}).get("deletionGracePeriodSeconds"))


def _pod_grace(rt: ResourceType, obj: Obj, grace: Any) -> int:
    """Pods bound to a node wait for their kubelet (grace period); others go at once."""
    if rt.group_plural != ("", "pods") or not (obj.get("spec") or {}).get("nodeName"):
        return 0
    if (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return 0
    if isinstance(grace, int):
        return max(grace, 0)
    return int((obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30))


def _scale_of(rt: ResourceType, obj: Obj) -> Obj:
    meta = obj["metadata"]
    status: Obj = {"replicas": _get_path(obj, rt.status_replicas_path) or 0}
    if rt.label_selector_path and rt.crd is not None:
        sel = _get_path(obj, rt.label_selector_path)
        if sel:
            status["selector"] = sel
    elif rt.crd is None:
        sel_obj = (obj.get("spec") or {}).get("selector") or {}
        status["selector"] = selector_string(sel_obj.get("matchLabels"), sel_obj.get("matchExpressions"))
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": meta["name"], "namespace": meta.get("namespace"), "uid": meta["uid"],
                     "resourceVersion": meta["resourceVersion"],
                     "creationTimestamp": meta["creationTimestamp"]},
        "spec": {"replicas": _get_path(obj, rt.spec_replicas_path) or 0},
        "status": status,
    }


def _get_path(obj: Obj, path: str) -> Any:
    cur: Any = obj
    for part in path.strip(".").split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _set_path(obj: Obj, path: str, value: Any) -> None:
    parts = path.strip(".").split(".")
    cur = obj
    for part in parts[:-1]:
        cur = cur.setdefault(part, {})
    cur[parts[-1]] = value


def _meta_errors(obj: Obj) -> list[FieldError]:
    meta = obj["metadata"]
    out: list[FieldError] = []
    for field_name in ("labels", "annotations"):
        value = meta.get(field_name)
        if value is None:
            continue
        if not isinstance(value, dict):
            out.append(FieldError(f"metadata.{field_name}", "FieldValueInvalid", "must be a map", value))
            continue
        for k, v in value.items():
            if not isinstance(v, str):
                out.append(FieldError(f"metadata.{field_name}", "FieldValueInvalid",
                                      "values must be strings", v))
            if field_name == "labels" and isinstance(v, str) and v and (
                    len(v) > 63 or not re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?", v)):
                out.append(FieldError("metadata.labels", "FieldValueInvalid",
                                      "a valid label must be an empty string or consist of "
                                      "alphanumeric characters, '-', '_' or '.', and must start "
                                      "and end with an alphanumeric character", v))
            if not re.fullmatch(r"([a-z0-9.-]+/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?", str(k)) \
                    or len(str(k).rpartition("/")[2]) > 63:
                out.append(FieldError(f"metadata.{field_name}", "FieldValueInvalid",
                                      "name part must consist of alphanumeric characters, '-', "
                                      "'_' or '.', and must start and end with an alphanumeric "
                                      "character", k))
    return out


def _crd_status(crd: Obj) -> None:
    """What the CRD controllers write: names accepted, Established, stored versions."""
    spec = crd.get("spec") or {}
    status = crd.setdefault("status", {})
    stamp = now_rfc3339()
    old = {c.get("type"): c for c in status.get("conditions") or []}

    def cond(type_: str, reason: str, message: str) -> Obj:
        prev = old.get(type_)
        return {"type": type_, "status": "True", "reason": reason, "message": message,
                "lastTransitionTime": prev.get("lastTransitionTime", stamp) if prev else stamp}

    status["conditions"] = [
        cond("NamesAccepted", "NoConflicts", "no conflicts found"),
        cond("Established", "InitialNamesAccepted", "the initial names have been accepted"),
    ]
    status["acceptedNames"] = clone(spec.get("names") or {})
    status["acceptedNames"].setdefault("singular", status["acceptedNames"].get("kind", "").lower())
    stored = list(status.get("storedVersions") or [])
    for v in spec.get("versions") or []:
        if v.get("storage") and v.get("name") not in stored:
            stored.append(v["name"])
    status["storedVersions"] = stored


def _builtin_defaults(rt: ResourceType, obj: Obj, old: Obj | None) -> None:
    """The defaults a few built-in kinds get on the server (enough for clients to rely on)."""
    gp = rt.group_plural
    spec = obj.get("spec")
    if gp in (("apps", "deployments"), ("apps", "statefulsets"), ("apps", "replicasets")):
        if isinstance(spec, dict):
            spec.setdefault("replicas", 1)
            spec.setdefault("revisionHistoryLimit", 10)
            if gp == ("apps", "deployments"):
                spec.setdefault("progressDeadlineSeconds", 600)
                spec.setdefault("strategy", {"type": "RollingUpdate", "rollingUpdate": {
                    "maxSurge": "25%", "maxUnavailable": "25%"}})
    elif gp == ("", "namespaces"):
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        if old is None:
            obj["status"] = {"phase": "Active"}
    elif gp == ("", "pods"):
        if isinstance(spec, dict):
            spec.setdefault("restartPolicy", "Always")
            spec.setdefault("terminationGracePeriodSeconds", 30)
            spec.setdefault("dnsPolicy", "ClusterFirst")
            spec.setdefault("schedulerName", "default-scheduler")
        if old is None:
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    elif gp == ("", "services"):
        if isinstance(spec, dict):
            spec.setdefault("type", "ClusterIP")
            if old is not None and (old.get("spec") or {}).get("clusterIP"):
                spec["clusterIP"] = old["spec"]["clusterIP"]
                spec["clusterIPs"] = old["spec"].get("clusterIPs", [old["spec"]["clusterIP"]])
            elif spec.get("clusterIP") != "None":
                ip = f"10.96.{random.randint(0, 255)}.{random.randint(1, 254)}"
                spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
            for port in spec.get("ports") or []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")
                    port.setdefault("targetPort", port.get("port"))
    elif gp == ("", "secrets"):
        obj.setdefault("type", "Opaque")
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict):
            data = obj.setdefault("data", {})
            for k, v in string_data.items():
                data[k] = base64.b64encode(str(v).encode()).decode()
    elif gp == ("", "persistentvolumeclaims") and old is None:
        obj["status"] = {"phase": "Pending"}
