"""Helpers of the operator's end-to-end tests (tests/operator): Task bodies, and
``celeriac operator`` as a real process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from helpers import free_port, http_status, wait_for

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "tests" / "apps"
CRDS = sorted((ROOT / "crds").glob("*.yaml"))  # every kind the operator serves
API = "celeriac.dev/v1alpha1"


def task(name: str, task_name: str, *args: Any, namespace: str = "default",
         annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    """A Task object."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": API, "kind": "Task", "metadata": meta,
            "spec": {"task": task_name, "args": list(args), **spec}}


class OperatorProcess:
    """``python -m celeriac_operator`` (the ``celeriac operator`` command) as a subprocess."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.health_port = free_port()
        self.metrics_port = free_port()
        self.log = log
        self._out = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celeriac_operator", "--health-port", str(self.health_port),
             "--health-bind", "127.0.0.1", "--metrics-port", str(self.metrics_port),
             "--metrics-bind", "127.0.0.1", *args],
            env=env, cwd=str(APPS), stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True)

    def probe(self, path: str) -> int:
        return http_status(self.health_port, path)

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2) as r:
            return str(r.read().decode())

    def wait_ready(self, timeout: float = 30) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"operator exited {self.proc.returncode}:\n{self.output()}")
            return self.probe("/readyz") == 200
        wait_for(ready, timeout, interval=0.05, what="operator /readyz")

    def output(self) -> str:
        self._out.flush()
        return self.log.read_text(errors="replace")[-8000:]

    def kill(self) -> None:
        """SIGKILL: what a node loss or an OOM kill looks like."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._out.close()
        return int(self.proc.returncode)


def runs_of(marker_dir: Path) -> dict[str, int]:
    """Runs per task id, from the files k8sapp's marking tasks leave."""
    counts: dict[str, int] = {}
    for entry in marker_dir.iterdir():
        task_id = entry.name.split(".")[0]
        counts[task_id] = counts.get(task_id, 0) + 1
    return counts
