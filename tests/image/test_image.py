"""The image is built from the top-level Dockerfile and run for real with podman.

No Docker engine or registry here: ``scripts/image-base.sh`` makes a local Python base with
debootstrap (cached in podman's storage, keyed by the recipe), and the dependencies' wheels
are built on the host and put in the build context's ``wheelhouse/`` so the build needs no
network (``PIP_NO_INDEX=1``). The worker container runs as Kubernetes runs it (read-only
root, tmpfs /tmp, no capabilities, no privilege escalation) against the suite's
redis-server on the host (``--network=host``), runs a task sent from the host, and drains
on ``podman stop`` (SIGTERM to PID 1) with exit code 0.

Skipped locally without podman; in CI (``CI=true``) a missing tool is a failure.
About 80 s the first time on a machine (base image ~50 s), ~35 s after (the build is not
cached: it tests the Dockerfile as it is now).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import free_port, http_status, wait_for

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "tests" / "apps"

# podman's defaults do not work on these machines (IMAGE-BUILD.md): crun fails on the hybrid
# cgroup setup and the default rlimits cannot be raised in the sandbox.
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""

pytestmark = pytest.mark.timeout(600)


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI must provide it: scripts/bootstrap.sh with CELERIAC_WITH_PODMAN=1)")
    pytest.skip(what)


@pytest.fixture(scope="session")
def podman_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    for tool in ("podman", "debootstrap"):
        if shutil.which(tool) is None:
            _missing(f"{tool} is not installed")
    if os.geteuid() != 0:
        _missing("building the base image with debootstrap needs root")
    conf = tmp_path_factory.mktemp("podman") / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    env = dict(os.environ)
    env["CONTAINERS_CONF"] = str(conf)
    return env


def podman(env: dict[str, str], *args: str, timeout: float = 120,
           check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["podman", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} -> {done.returncode}\n{done.stderr}")
    return done


@pytest.fixture(scope="session")
def base_image(podman_env: dict[str, str]) -> str:
    done = subprocess.run(["bash", str(ROOT / "scripts" / "image-base.sh")], env=podman_env,
                          capture_output=True, text=True, timeout=400, check=False)
    assert done.returncode == 0, f"image-base.sh failed:\n{done.stderr}"
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def image(podman_env: dict[str, str], base_image: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The image built from this worktree's Dockerfile with no network in the build."""
    context = tmp_path_factory.mktemp("image-context")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache")
    for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, context / name)
    for name in ("runtime", "operator"):
        shutil.copytree(ROOT / name, context / name, ignore=ignore)
    wheelhouse = context / "wheelhouse"
    # hatchling: the build backend the wheel stage needs. async-timeout: redis requires it
    # below Python 3.11.3 (Debian's base has 3.11.2) and pip resolves markers for the host's
    # interpreter, so it is named here.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "-w", str(wheelhouse),
                    "hatchling", "async-timeout>=4.0.3", f"{ROOT}[operator]"],
                   check=True, timeout=300, capture_output=True)
    for built in wheelhouse.glob("celeriac-*.whl"):
        built.unlink()  # the image builds its own from the sources
    tag = f"localhost/celeriac:test-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    podman(podman_env, "build", "--layers=false", "--network=none", "-q", "-t", tag,
           "--build-arg", f"BASE={base_image}", "--build-arg", "PIP_NO_INDEX=1",
           "--build-arg", "REVISION=test", str(context), timeout=400)
    print(f"image built in {time.monotonic() - started:.1f}s")
    yield tag
    podman(podman_env, "rmi", "-f", tag, check=False)


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            return str(r.read().decode())
    except OSError:
        return ""


def run_in(env: dict[str, str], image: str, *args: str,
           entrypoint: str | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--entrypoint", entrypoint] if entrypoint else []
    return podman(env, "run", "--rm", "--read-only", "--cap-drop=ALL", *extra, image, *args)


def test_image_metadata_user_and_contents(podman_env: dict[str, str], image: str) -> None:
    config = json.loads(podman(podman_env, "inspect", image, "--format",
                               "{{json .Config}}").stdout)
    assert config["Entrypoint"] == ["celeriac"]
    assert config["User"] == "10001:10001"
    labels = config["Labels"]
    for key in ("title", "description", "version", "revision", "licenses", "source"):
        assert labels.get(f"org.opencontainers.image.{key}"), key
    assert labels["org.opencontainers.image.revision"] == "test"
    assert run_in(podman_env, image, "-u", entrypoint="id").stdout.strip() == "10001"
    # No compilers, no pip, no pip cache in the final stage.
    probe = run_in(podman_env, image, "-c",
                   "command -v gcc cc pip pip3 /opt/celeriac/bin/pip; ls -A /root/.cache 2>/dev/null;"
                   " ls /opt/celeriac/lib/python3*/site-packages | grep -i -E '^pip|^setuptools'; true",
                   entrypoint="sh")
    assert probe.stdout.strip() == "", probe.stdout


def test_worker_beat_and_operator_commands(podman_env: dict[str, str], image: str) -> None:
    assert "--health-port" in run_in(podman_env, image, "worker", "--help").stdout
    assert "--health-port" in run_in(podman_env, image, "beat", "--help").stdout
    # The operator extra is in the image: `celeriac operator` comes from its entry point.
    operator_help = run_in(podman_env, image, "operator", "--help").stdout
    assert "--metrics-port" in operator_help and "--health-port" in operator_help


def test_worker_runs_a_task_and_drains_on_stop(podman_env: dict[str, str], image: str,
                                               redis_url: str) -> None:
    from celeriac import Celeriac

    health, metrics = free_port(), free_port()
    cid = podman(
        podman_env, "run", "-d", "--network=host", "--read-only", "--tmpfs", "/tmp",
        "--cap-drop=ALL", "--security-opt=no-new-privileges",
        "-e", f"CELERIAC_BROKER_URL={redis_url}", "-e", "CELERIAC_TASK_TRACK_STARTED=true", "-v", f"{APPS}:/app:ro",
        image, "-A", "basic", "worker", "-P", "prefork", "-c", "2", "-Q", "default",
        "--loglevel", "info", "--health-port", str(health), "--metrics-port", str(metrics),
    ).stdout.strip()
    app = Celeriac("image-test", broker=redis_url, set_as_current=False)
    try:
        # The probes the chart and the operator's pods use, served from inside the container.
        wait_for(lambda: http_status(health, "/readyz") == 200, 60, interval=0.1,
                 what="the worker's /readyz")
        assert http_status(health, "/livez") == 200
        assert app.send_task("basic.add", args=[20, 22], queue="default").get(timeout=60) == 42
        # Counted per settlement batch by the prefork children, summed by the supervisor.
        wait_for(lambda: 'celeriac_tasks_total{queue="default",state="SUCCESS",task="basic.add"} 1.0'
                 in scrape(metrics), 30, interval=0.2, what="the task counter on /metrics")
        slow = app.send_task("basic.sleep", args=[2.0, "drained"], queue="default")
        wait_for(lambda: slow.state == "STARTED", 30, interval=0.05, what="the slow task to start")
        started = time.monotonic()
        podman(podman_env, "stop", "-t", "30", cid, timeout=60)
        stopped_in = time.monotonic() - started
        code = podman(podman_env, "inspect", cid, "--format", "{{.State.ExitCode}}").stdout.strip()
        logs = podman(podman_env, "logs", cid).stderr + podman(podman_env, "logs", cid).stdout
        assert code == "0", logs
        assert "signal SIGTERM: stopping" in logs, logs
        # It drained: the running task finished (not handed back, not killed) before exit.
        assert slow.get(timeout=5) == "drained"
        assert stopped_in < 25, f"stop took {stopped_in:.1f}s (SIGKILL after 30)"
    finally:
        app.close()
        podman(podman_env, "rm", "-f", cid, check=False)
