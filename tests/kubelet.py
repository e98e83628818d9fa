"""A small "kubelet + ReplicaSet controller" for the API emulator: real workers for a Deployment.

Why it exists: the emulator stores Deployments but runs nothing. To test a WorkerPool end to
end, something must turn ``spec.replicas`` into running workers and remove the right ones on
scale-down. This does, for one Deployment:

* one Pod object and one real ``celeriac worker`` process per replica, started from the
  Deployment's own container args (``$(POD_NAME)`` expanded, so the pod name is the worker's
  hostname; the broker URL resolved from the Secret the env points at); the ports in the args
  are replaced by free ones (every pod has its own network namespace, these share one host);
* a pod is Ready once its worker is in ``app.live_workers()``; the Deployment's status
  (replicas, readyReplicas, availableReplicas, the Available condition) follows;
* on scale-down it picks the pods the ReplicaSet controller would (not ready first, then the
  lowest ``controller.kubernetes.io/pod-deletion-cost``, then the newest), deletes them and
  sends their workers SIGTERM (they drain as in a real pod), and records for each removed pod
  whether its worker was running a task at that moment.
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import free_port
from kubeapi import KubeAPI

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"


@dataclass
class PodProc:
    name: str
    seq: int
    proc: subprocess.Popen[bytes]
    ready: bool = False
    terminating: bool = False
    log: Path | None = None


@dataclass
class Removal:
    pod: str
    cost: int
    running: tuple[str, ...]
    at: float
    #: Pods left running tasks at that moment (the choice mattered when this is > 0).
    busy_elsewhere: int = 0


@dataclass
class Kubelet:
    kube: KubeAPI
    namespace: str
    deployment: str
    app: Any  # a celeriac app on the same broker (for live_workers)
    cwd: Path
    pythonpath: list[str]
    logdir: Path
    pods: dict[str, PodProc] = field(default_factory=dict)
    removals: list[Removal] = field(default_factory=list)
    max_pods: int = 0
    errors: list[str] = field(default_factory=list)
    #: Whether ``live_workers()`` ever reported a running task (the runtime keeps it current).
    saw_running: bool = False
    _seq: int = 0
    _supported: dict[str, bool] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Kubelet:
        self._thread = threading.Thread(target=self._loop, name="kubelet", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        for pod in self.pods.values():
            if pod.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pod.proc.pid, signal.SIGKILL)
                pod.proc.wait(10)

    # -- the loop ---------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._sync()
            except Exception as exc:  # keep going: the test asserts on what happened
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self._stop.wait(0.1)

    def _sync(self) -> None:
        dep = self.kube.get("apps/v1", "Deployment", self.deployment, self.namespace)
        if dep is None:
            return
        want = int(dep["spec"].get("replicas") or 0)
        # Reap drained workers: their pods are gone from the API already.
        for name, pod in list(self.pods.items()):
            if pod.terminating and pod.proc.poll() is not None:
                del self.pods[name]
        live = [p for p in self.pods.values() if not p.terminating]
        if len(live) < want:
            for _ in range(want - len(live)):
                self._create(dep)
        elif len(live) > want:
            self._scale_down(live, len(live) - want)
        self._readiness()
        live = [p for p in self.pods.values() if not p.terminating]
        self.max_pods = max(self.max_pods, len(live))
        ready = sum(1 for p in live if p.ready)
        self.kube.patch(
            "apps/v1",
            "Deployment",
            self.deployment,
            {
                "status": {
                    "observedGeneration": dep["metadata"].get("generation", 1),
                    "replicas": len(self.pods),
                    "updatedReplicas": len(live),
                    "readyReplicas": ready,
                    "availableReplicas": ready,
                    "conditions": [
                        {
                            "type": "Available",
                            "status": "True" if ready >= want else "False",
                            "reason": "MinimumReplicasAvailable"
                            if ready >= want
                            else "MinimumReplicasUnavailable",
                        }
                    ],
                }
            },
            self.namespace,
            subresource="status",
        )

    # -- pods -------------------------------------------------------------------------------

    def _create(self, dep: dict[str, Any]) -> None:
        self._seq += 1
        name = f"{self.deployment}-7d9f{self._seq:04d}-x{self._seq}"
        template = dep["spec"]["template"]
        meta = template.get("metadata") or {}
        self.kube.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": name,
                    "namespace": self.namespace,
                    "labels": dict(meta.get("labels") or {}),
                    "annotations": dict(meta.get("annotations") or {}),
                },
                "spec": template["spec"],
            }
        )
        (container,) = template["spec"]["containers"]
        args = [a.replace("$(POD_NAME)", name) for a in container["args"]]
        for flag in ("--health-port", "--metrics-port"):
            if flag in args:
                i = args.index(flag)
                if self._supports(flag):
                    args[i + 1] = str(free_port())
                else:
                    del args[i : i + 2]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(self.pythonpath)
        for e in container.get("env") or []:
            value = self._env_value(e, name)
            if value is not None:
                env[e["name"]] = value
        log = self.logdir / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "celeriac.cli", *args],
                env=env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.pods[name] = PodProc(name=name, seq=self._seq, proc=proc, log=log)

    def _supports(self, flag: str) -> bool:
        if flag not in self._supported:
            out = subprocess.run(
                [sys.executable, "-m", "celeriac.cli", "worker", "--help"],
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(self.pythonpath)},
                check=False,
            ).stdout
            self._supported[flag] = flag in out
        return self._supported[flag]

    def _env_value(self, e: dict[str, Any], pod: str) -> str | None:
        if "value" in e:
            return str(e["value"])
        source = e.get("valueFrom") or {}
        if "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            return {"metadata.name": pod, "metadata.namespace": self.namespace}.get(path)
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            secret = self.kube.get("v1", "Secret", ref["name"], self.namespace)
            if secret is None:
                raise RuntimeError(f"secret {ref['name']} missing")
            return base64.b64decode(secret["data"][ref["key"]]).decode()
        return None

    def _readiness(self) -> None:
        workers = self.app.live_workers()
        self.saw_running = self.saw_running or any(w.running for w in workers)
        hosts = {str(w.hostname).rsplit("@", 1)[-1] for w in workers}
        for pod in self.pods.values():
            if not pod.ready and not pod.terminating and pod.name in hosts:
                pod.ready = True
                self.kube.patch(
                    "v1",
                    "Pod",
                    pod.name,
                    {"status": {"phase": "Running",
                                "conditions": [{"type": "Ready", "status": "True"}]}},
                    self.namespace,
                    subresource="status",
                )  # fmt: skip
            if pod.proc.poll() is not None and not pod.terminating:
                self.errors.append(f"worker of {pod.name} exited with {pod.proc.returncode}")
                pod.terminating = True

    def _cost(self, name: str) -> int:
        obj = self.kube.get("v1", "Pod", name, self.namespace) or {}
        raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(DELETION_COST, "0")
        return int(raw)

    def _scale_down(self, live: list[PodProc], n: int) -> None:
        # The ReplicaSet controller's order: not ready first, lower deletion cost, newer.
        ranked = sorted(live, key=lambda p: (p.ready, self._cost(p.name), -p.seq))
        running = {
            str(w.hostname).rsplit("@", 1)[-1]: tuple(w.running) for w in self.app.live_workers()
        }
        kept_busy = sum(1 for p in ranked[n:] if running.get(p.name))
        for pod in ranked[:n]:
            self.removals.append(
                Removal(pod.name, self._cost(pod.name), running.get(pod.name, ()), time.time(),
                        kept_busy)
            )  # fmt: skip
            pod.terminating = True
            self.kube.delete("v1", "Pod", pod.name, self.namespace, grace_period_s=0)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pod.proc.pid, signal.SIGTERM)
