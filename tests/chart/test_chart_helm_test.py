"""The `helm test` hook's script run end to end: through the broker, and as a Task object
through the real operator.

The hook pod's script (files/helm-test/check.py) runs here on the host as the pod runs it:
a worker of its own on a queue of its own, a task through the broker, then a Task created
through the Kubernetes API (the emulator, ``kube_api``) that ``celeriac operator`` (a real
process, kopf) must enqueue and report SUCCESS with the result in its status.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from chart_helpers import CHART, ROOT
from helpers import free_port, wait_for

pytest.importorskip("kopf")

NS = "jobs"
SCRIPTS = CHART / "files" / "helm-test"


def script_env(redis_url: str, **extra: str) -> dict[str, str]:
    return dict(
        os.environ, CELERIAC_BROKER_URL=redis_url, CHECK_TIMEOUT="45", POD_NAMESPACE=NS,
        PYTHONPATH=os.pathsep.join([str(ROOT / "runtime"), str(ROOT / "operator")]),
        # The script starts its worker as `celeriac ...` from PATH, as in the image.
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        **extra,
    )


def run_check(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    for script in SCRIPTS.glob("*.py"):
        shutil.copy2(script, tmp_path / script.name)
    return subprocess.run([sys.executable, str(tmp_path / "check.py")], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)


def test_helm_test_through_the_broker(redis_url: str, tmp_path: Path) -> None:
    done = run_check(tmp_path, script_env(redis_url, CHECK_OPERATOR="0"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "task through the broker" in done.stdout and "helm test passed" in done.stdout


def test_helm_test_through_the_operator(redis_url: str, kube_api: Any, tmp_path: Path) -> None:
    kube_api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    kube_api.install_crds(sorted((ROOT / "crds").glob("*.yaml")))
    health = free_port()
    log = (tmp_path / "operator.log").open("wb")
    operator = subprocess.Popen(
        [sys.executable, "-m", "celeriac_operator", "--namespace", NS, "--no-leader-election",
         "--health-port", str(health), "--health-bind", "127.0.0.1"],
        env=script_env(redis_url, KUBECONFIG=str(kube_api.kubeconfig)),
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def ready() -> bool:
        assert operator.poll() is None, (tmp_path / "operator.log").read_text()[-4000:]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{health}/readyz", timeout=1) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    try:
        wait_for(ready, 30, interval=0.1, what="operator /readyz")
        done = run_check(tmp_path, script_env(redis_url, CHECK_OPERATOR="1",
                                              KUBECONFIG=str(kube_api.kubeconfig)))
        assert done.returncode == 0, (done.stdout + done.stderr
                                      + (tmp_path / "operator.log").read_text()[-4000:])
        assert "(through the operator): SUCCESS" in done.stdout
        # The script deletes its Task afterwards (a hook leaves nothing behind).
        assert kube_api.list("celeriac.dev/v1alpha1", "Task", NS) == []
    finally:
        operator.terminate()
        try:
            operator.wait(20)
        except subprocess.TimeoutExpired:
            operator.kill()
            operator.wait(5)
        log.close()
