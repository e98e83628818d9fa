"""Fixtures of the operator's end-to-end tests: the Kubernetes API emulator with our CRDs,
``celeriac operator`` as a real process, and a real ``celeriac worker`` running
``tests/apps/k8sapp.py`` on the suite's real ``redis-server``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from operator_helpers import APPS, CRDS, ROOT, OperatorProcess


@pytest.fixture
def cluster(kube_api: Any) -> Any:
    """The emulator with the Task and Schedule CRDs installed."""
    kube_api.install_crds(CRDS)
    return kube_api


@pytest.fixture
def marker_dir(tmp_path: Path) -> Path:
    path = tmp_path / "runs"
    path.mkdir()
    return path


@pytest.fixture
def operator_env(cluster: Any, redis_url: str) -> dict[str, str]:
    env = cluster.env()
    env["CELERIAC_BROKER_URL"] = redis_url
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "operator"), str(ROOT / "runtime"), str(APPS)])
    env.setdefault("CELERIAC_OPERATOR_RESYNC_S", "5")
    return env


@pytest.fixture
def start_operator(operator_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., OperatorProcess]]:
    """``start_operator(*args, env=None, ready=True)`` runs an operator replica."""
    started: list[OperatorProcess] = []

    def start(*args: str, env: dict[str, str] | None = None, ready: bool = True) -> OperatorProcess:
        full = dict(operator_env)
        full.update(env or {})
        proc = OperatorProcess(["--namespace", "default", "--lease-duration", "3", *args], full,
                               tmp_path / f"operator-{len(started)}.log")
        started.append(proc)
        if ready:
            proc.wait_ready()
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def k8s_worker(cli_worker: Callable[..., Any], marker_dir: Path) -> Callable[..., Any]:
    """``k8s_worker(concurrency=8)``: a real worker for tests/apps/k8sapp.py (threads pool,
    heartbeats every 0.5 s so task-started events come quickly)."""
    def start(concurrency: int = 8, *extra: str) -> Any:
        # -l warning: cli_worker reads the worker's stdout only at the end, and a line per
        # task of a big run fills the pipe and blocks the worker.
        return cli_worker("-A", "k8sapp", "worker", "-P", "threads", "-c", str(concurrency),
                          "-l", "warning", *extra,
                          env={"CELERIAC_WORKER_HEARTBEAT_INTERVAL": "0.5",
                               "CELERIAC_TEST_MARKER_DIR": str(marker_dir)})
    return start
