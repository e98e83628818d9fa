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
from pathlib import Path
from typing import Any

import pytest

from chart_helpers import CHART, ROOT
from operator_helpers import OperatorProcess

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
    operator = OperatorProcess(["--namespace", NS, "--no-leader-election"],
                               script_env(redis_url, KUBECONFIG=str(kube_api.kubeconfig)),
                               tmp_path / "operator.log")
    try:
        operator.wait_ready()
        done = run_check(tmp_path, script_env(redis_url, CHECK_OPERATOR="1",
                                              KUBECONFIG=str(kube_api.kubeconfig)))
        assert done.returncode == 0, done.stdout + done.stderr + operator.output()[-4000:]
        assert "(through the operator): SUCCESS" in done.stdout
        # The script deletes its Task afterwards (a hook leaves nothing behind).
        assert kube_api.list("celeriac.dev/v1alpha1", "Task", NS) == []
    finally:
        operator.stop()
