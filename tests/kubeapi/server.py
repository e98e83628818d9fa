"""The HTTP face of the emulator: a ``kmock`` handler that serves the Kubernetes API.

kmock gives the request log (``handler.requests``, each a parsed ``kmock.Request``) and
the reaction DSL, so a test can still inject faults ahead of the emulation, e.g.
``api.handler['patch', kmock.resource('celeriac.dev', 'v1alpha1', 'tasks')] << 503``.
Everything it does not intercept falls through to ``_serve`` (the lowest priority
reaction), which routes to discovery, OpenAPI, tables, the store, and watch streams.

We parse requests ourselves (kmock 0.8's path parser fails on ``/api/v1/namespaces`` and
decodes every body as UTF-8, so protobuf bodies crashed it). Protobuf bodies of the kinds
clients send that way (Helm's release Secrets, ``kubectl create namespace``...) are
decoded (``protobuf``); others get a 415. Responses are always JSON, which every client
accepts alongside protobuf.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import traceback
from collections.abc import AsyncIterator
from typing import Any

import aiohttp.web
import attrs
import kmock
import yaml
from kmock._internal import rendering  # the request/response types kmock hands to reactions

from . import discovery, errors, openapi, protobuf, tables
from .errors import ApiError
from .patching import APPLY_PATCH, JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH
from .resources import Registry, ResourceType
from .store import Store, WriteOptions

_JSON = "application/json"
_PROTOBUF = "application/vnd.kubernetes.protobuf"
_PATCH_TYPES = {MERGE_PATCH, JSON_PATCH, STRATEGIC_PATCH, APPLY_PATCH}


def parse_path(path: str) -> dict[str, Any] | None:
    """``/apis/apps/v1/namespaces/ns/deployments/x/scale`` into its parts (None if not a
    resource path)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if (len(rest) >= 3 and rest[0] == "namespaces"
            and not (len(rest) == 3 and rest[2] in ("status", "finalize"))):
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return {"group": group, "version": version, "plural": None, "namespace": None,
                "name": None, "subresource": None}
    return {"group": group, "version": version, "plural": rest[0], "namespace": namespace,
            "name": rest[1] if len(rest) > 1 else None,
            "subresource": "/".join(rest[2:]) or None}


def _resp(status: int, payload: Any, headers: dict[str, str] | None = None) -> rendering.Response:
    """A kmock response. kmock merges each response's headers into its reaction's, so a
    header must be reset (None) on every response lest it leak into the next one."""
    merged: dict[str, str | None] = {"Warning": None, "Content-Type": _JSON}
    merged.update(headers or {})
    return rendering.Response(status=status, payload=payload, headers=merged)


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


@attrs.define(kw_only=True)
class KubeEmulator(kmock.RawHandler):
    """A kmock handler serving an in-memory Kubernetes API server."""

    registry: Registry = attrs.field(factory=Registry)
    store: Store = attrs.field(default=None)
    #: Seconds between BOOKMARK events on watches that allow them.
    bookmark_interval_s: float = 1.0
    _controller: asyncio.Task[None] | None = attrs.field(default=None, init=False)
    _emulation: Any = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        if self.store is None:
            self.store = Store(self.registry)
        self._emulation = self.fallback << self._serve

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        """Straight to the emulation unless a test added reactions of its own: kmock's
        matching scans every request served so far for each new one (quadratic over a
        1,000-Task test), and only reactions need it."""
        if all(p is self._emulation for p in self._payloads):
            response = await self._serve(request)
            return await response(request)
        return await super()._handle(request)

    # ---- lifecycle -----------------------------------------------------------------

    async def __aenter__(self) -> KubeEmulator:
        await super().__aenter__()
        self.store.changed = asyncio.Event()
        self._controller = asyncio.create_task(self._control_loop())
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._controller is not None:
            self._controller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._controller
        self.store.close_watches()
        await super().__aexit__(*exc)

    async def _control_loop(self) -> None:
        """The garbage collector and namespace controller, run after every change."""
        while True:
            await self.store.changed.wait()
            self.store.changed.clear()
            for _ in range(100):
                try:
                    if not self.store.reconcile():
                        break
                except ApiError:
                    continue
                await asyncio.sleep(0)

    # ---- entry point ---------------------------------------------------------------

    async def __call__(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        body = await raw.read()
        ctype = raw.headers.get("Content-Type", "").split(";")[0].strip().lower()
        data: Any = None
        if body and ctype == _PROTOBUF:
            with contextlib.suppress(protobuf.ProtobufError, UnicodeDecodeError, KeyError):
                data = protobuf.decode(body)
        elif body:
            try:
                data = yaml.safe_load(body) if "yaml" in ctype else json.loads(body)
            except (ValueError, yaml.YAMLError):
                data = None
        parsed = parse_path(raw.path)
        resource = None
        if parsed and parsed["plural"]:
            resource = kmock.resource(parsed["group"], parsed["version"], parsed["plural"])
        action = self._action(raw, parsed)
        request = kmock.Request(
            id=len(self._requests), raw_request=raw, url=raw.url, method=raw.method,
            params=dict(raw.query), headers=dict(raw.headers), cookies=dict(raw.cookies),
            body=body, text=body.decode("utf-8", "replace") if ctype != _PROTOBUF else "",
            data=data, action=action, resource=resource,
            namespace=parsed["namespace"] if parsed else None,
            name=parsed["name"] if parsed else None,
            subresource=parsed["subresource"] if parsed else None,
        )
        self._requests.append(request)
        try:
            return await self._handle(request)
        except rendering.StreamingError as e:
            response = e.args[0]
            with contextlib.suppress(Exception):
                await response.write(json.dumps({"type": "ERROR", "object": ApiError(
                    500, "InternalError", repr(e.__cause__)).status()}).encode() + b"\n")
                await response.write_eof()
            return response  # type: ignore[no-any-return]
        except ApiError as e:
            return aiohttp.web.json_response(e.status(), status=e.code)
        except Exception as e:
            status = ApiError(500, "InternalError", f"{type(e).__name__}: {e}",
                              {"causes": [{"message": traceback.format_exc()}]}).status()
            return aiohttp.web.json_response(status, status=500)

    @staticmethod
    def _action(raw: aiohttp.web.BaseRequest, parsed: dict[str, Any] | None) -> kmock.action | None:
        if not parsed or not parsed["plural"]:
            return None
        method, named = raw.method.upper(), parsed["name"] is not None
        if method == "GET" and _truthy(raw.query.get("watch")):
            return kmock.action.WATCH
        table = {
            ("GET", False): kmock.action.LIST, ("POST", False): kmock.action.CREATE,
            ("GET", True): kmock.action.FETCH, ("PATCH", True): kmock.action.UPDATE,
            ("PUT", True): kmock.action.UPDATE, ("DELETE", True): kmock.action.DELETE,
        }
        return table.get((method, named))

    # ---- routing -------------------------------------------------------------------

    async def _serve(self, request: kmock.Request) -> Any:
        try:
            return await self._route(request)
        except ApiError as e:
            return _resp(e.code, e.status())

    async def _route(self, request: kmock.Request) -> Any:
        raw = request._raw_request
        assert raw is not None
        path, method = raw.path.rstrip("/") or "/", raw.method.upper()
        accept = raw.headers.get("Accept", "")
        if method == "GET":
            doc = discovery.serve(self.registry, path, accept)
            if doc is not None:
                payload, ctype = doc
                return _resp(200, payload, {"Content-Type": ctype})
            if path.startswith("/openapi/"):
                found = openapi.serve(self.registry, path)
                if found is None:
                    raise errors.no_resource(path)
                return _resp(200, found)
            if path in ("/healthz", "/readyz", "/livez"):
                return _resp(200, b"ok", {"Content-Type": "text/plain"})
        parsed = parse_path(path)
        if parsed is None or parsed["plural"] is None:
            raise errors.no_resource(path)
        rt = self.registry.get(parsed["group"], parsed["version"], parsed["plural"])
        if rt is None:
            raise errors.no_resource(path)
        ctype = raw.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if method in ("POST", "PUT", "PATCH", "DELETE") and ctype == _PROTOBUF \
                and request.body and request.data is None:
            raise errors.unsupported_media_type(ctype)
        if not tables.acceptable(accept):
            raise ApiError(406, "NotAcceptable",
                           "only the following media types are accepted: application/json, "
                           "application/yaml, application/json;stream=watch")
        ns, name, sub = parsed["namespace"], parsed["name"], parsed["subresource"]
        if rt.namespaced and ns is None and method in ("POST",) and name is None:
            ns = ((request.data or {}).get("metadata") or {}).get("namespace") if isinstance(request.data, dict) else None
        if not rt.namespaced:
            ns = None
        if sub and sub not in rt.subresources:
            raise errors.no_resource(path)
        q = raw.query
        opts = WriteOptions(dry_run="All" in q.getall("dryRun", []),
                            field_validation=q.get("fieldValidation") or "Warn",
                            field_manager=q.get("fieldManager"),
                            default_manager=(raw.headers.get("User-Agent") or "unknown").split("/")[0])
        if opts.field_validation not in ("Strict", "Warn", "Ignore"):
            raise errors.bad_request(f"fieldValidation must be one of Strict, Warn, Ignore, got {opts.field_validation}")
        if method == "GET" and name is None:
            if _truthy(q.get("watch")):
                return self._watch(request, rt, ns, q.get("labelSelector"), q.get("fieldSelector"))
            items, rv, token, remaining = self.store.list(
                rt, ns, q.get("labelSelector"), q.get("fieldSelector"),
                int(q["limit"]) if q.get("limit", "").isdigit() else None, q.get("continue"))
            if tables.wants_table(accept):
                return self._ok(tables.table(rt, items, rv, q.get("includeObject"), token))
            meta: dict[str, Any] = {"resourceVersion": rv}
            if token:
                meta["continue"] = token
                meta["remainingItemCount"] = remaining
            return self._ok({"kind": f"{rt.kind}List", "apiVersion": rt.api_version,
                             "metadata": meta, "items": items})
        if name is None:
            if method == "POST":
                obj = self.store.create(rt, ns, request.data, opts)
                return self._ok(obj, 201, opts.warnings)
            if method == "DELETE":
                return self._delete_collection(rt, ns, q, request.data)
            raise errors.method_not_allowed()
        if method == "GET" and _truthy(q.get("watch")):
            selector = f"metadata.name={name}"
            return self._watch(request, rt, ns, q.get("labelSelector"), selector)
        if sub == "scale":
            return self._scale(request, rt, ns, name, method, ctype, opts)
        if method == "GET":
            obj = self.store.get(rt, ns, name)
            if tables.wants_table(accept):
                return self._ok(tables.table(rt, [obj], obj["metadata"]["resourceVersion"],
                                             q.get("includeObject"), None))
            return self._ok(obj)
        if method == "PUT":
            return self._ok(self.store.replace(rt, ns, name, request.data, sub, opts), 200, opts.warnings)
        if method == "PATCH":
            if ctype not in _PATCH_TYPES:
                raise errors.unsupported_media_type(ctype)
            if request.data is None:
                raise errors.bad_request("the request body could not be decoded")
            was = self.store.find(rt, ns, name)
            obj = self.store.patch(rt, ns, name, ctype, request.data, sub, opts, _truthy(q.get("force")))
            return self._ok(obj, 201 if was is None else 200, opts.warnings)
        if method == "DELETE":
            body = request.data if isinstance(request.data, dict) else {}
            if q.get("gracePeriodSeconds", "").lstrip("-").isdigit():
                body.setdefault("gracePeriodSeconds", int(q["gracePeriodSeconds"]))
            if q.get("orphanDependents"):
                body.setdefault("orphanDependents", _truthy(q["orphanDependents"]))
            obj, gone = self.store.delete(rt, ns, name, body, opts.dry_run, q.get("propagationPolicy"))
            if gone and rt.group_plural not in (("", "pods"), ("", "namespaces")):
                details = {"name": name, "kind": rt.plural, "uid": obj["metadata"]["uid"]}
                if rt.group:
                    details["group"] = rt.group
                return self._ok({"kind": "Status", "apiVersion": "v1", "metadata": {},
                                 "status": "Success", "details": details})
            return self._ok(obj, 200 if gone else 202 if rt.group_plural != ("", "pods") else 200)
        raise errors.method_not_allowed()

    def _ok(self, payload: Any, status: int = 200, warnings: list[str] | None = None) -> Any:
        headers = {"Content-Type": _JSON}
        if warnings:
            headers["Warning"] = ", ".join('299 - "' + w.replace('"', '\\"') + '"' for w in warnings)
        return _resp(status, payload, headers=headers)

    def _delete_collection(self, rt: ResourceType, ns: str | None, q: Any, body: Any) -> Any:
        items, _rv, _, _ = self.store.list(rt, ns, q.get("labelSelector"), q.get("fieldSelector"))
        opts = body if isinstance(body, dict) else {}
        for item in items:
            meta = item["metadata"]
            with contextlib.suppress(ApiError):
                self.store.delete(rt, meta.get("namespace"), meta["name"], dict(opts),
                                  "All" in q.getall("dryRun", []), q.get("propagationPolicy"))
        return self._ok({"kind": f"{rt.kind}List", "apiVersion": rt.api_version,
                         "metadata": {"resourceVersion": str(self.store.rv)}, "items": items})

    def _scale(self, request: kmock.Request, rt: ResourceType, ns: str | None, name: str,
               method: str, ctype: str, opts: WriteOptions) -> Any:
        from .patching import json_patch, merge_patch, strategic_merge_patch

        if method == "GET":
            return self._ok(self.store.get_scale(rt, ns, name))
        data = request.data
        if method == "PUT":
            return self._ok(self.store.set_scale(rt, ns, name, lambda s: data, opts))
        if method == "PATCH":
            def update(scale: dict[str, Any]) -> Any:
                if ctype == JSON_PATCH:
                    return json_patch(scale, data)
                if ctype == STRATEGIC_PATCH:
                    return strategic_merge_patch(scale, data)
                if ctype in (MERGE_PATCH, APPLY_PATCH):
                    return merge_patch(scale, data)
                raise errors.unsupported_media_type(ctype)
            return self._ok(self.store.set_scale(rt, ns, name, update, opts))
        raise errors.method_not_allowed()

    # ---- watch streams -------------------------------------------------------------

    def _watch(self, request: kmock.Request, rt: ResourceType, ns: str | None,
               label_selector: str | None, field_selector: str | None) -> Any:
        raw = request._raw_request
        assert raw is not None
        q = raw.query
        send_initial = _truthy(q.get("sendInitialEvents"))
        as_table = tables.wants_table(raw.headers.get("Accept", ""))
        timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds", "").isdigit() else None
        bookmarks = _truthy(q.get("allowWatchBookmarks"))
        include = q.get("includeObject")
        try:
            watcher, first = self.store.subscribe(rt, ns, label_selector, field_selector,
                                                  q.get("resourceVersion"), send_initial)
        except ApiError as e:
            if e.code != 410:
                raise
            gone = e

            async def expired() -> AsyncIterator[bytes]:
                yield json.dumps({"type": "ERROR", "object": gone.status()}).encode() + b"\n"
            return _resp(200, expired(), {"Content-Type": _JSON})
        store, interval = self.store, self.bookmark_interval_s
        # The first events are rendered now: later writes must not show through them.
        first_lines = [self._event_line(rt, ev.type, store.view(rt, ev.obj), as_table, include)
                       for ev in first]
        initial_rv = str(store.rv)

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b""  # send the headers now, even if nothing happens
                for line in first_lines:
                    yield line
                if send_initial:
                    yield self._bookmark(rt, initial_rv, initial_end=True)
                deadline = time.monotonic() + timeout if timeout else None
                next_bookmark = time.monotonic() + interval
                while True:
                    now = time.monotonic()
                    if deadline is not None and now >= deadline:
                        return
                    wait = 1.0 if deadline is None else min(1.0, deadline - now)
                    if bookmarks:
                        wait = min(wait, max(0.0, next_bookmark - now))
                    try:
                        ev = await asyncio.wait_for(watcher.queue.get(), timeout=wait)
                    except TimeoutError:
                        if raw.transport is None or raw.transport.is_closing():
                            return
                        if bookmarks and time.monotonic() >= next_bookmark:
                            next_bookmark = time.monotonic() + interval
                            yield self._bookmark(rt, str(store.rv))
                        continue
                    if ev is None:
                        return
                    yield self._event_line(rt, ev.type, store.view(rt, ev.obj), as_table, include)
            finally:
                store.unsubscribe(watcher)

        return _resp(200, stream(), {"Content-Type": _JSON})

    def _event_line(self, rt: ResourceType, type_: str, obj: dict[str, Any], as_table: bool,
                    include: str | None) -> bytes:
        if as_table:
            obj = tables.table(rt, [obj], obj["metadata"]["resourceVersion"], include, None,
                               headers=False)
        return json.dumps({"type": type_, "object": obj}).encode() + b"\n"

    def _bookmark(self, rt: ResourceType, rv: str, initial_end: bool = False) -> bytes:
        meta: dict[str, Any] = {"resourceVersion": rv}
        if initial_end:
            meta["annotations"] = {"k8s.io/initial-events-end": "true"}
        return json.dumps({"type": "BOOKMARK", "object": {
            "kind": rt.kind, "apiVersion": rt.api_version, "metadata": meta}}).encode() + b"\n"
