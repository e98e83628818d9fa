"""``celeriac worker`` with Celery's options, run as a user runs it (a real process): no
``-A`` refused, ``--version``, fair scheduling of long tasks on prefork (the default, as
``-O fair``), ``-n`` templates, ``--pidfile``/``--logfile``, ``--detach``, ``-B``,
``--autoscale``, and one or two Ctrl-C (SIGINT to the whole process group)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from celeriac import Celeriac
from helpers import wait_for

APPS = Path(__file__).resolve().parents[1] / "apps"
ROOT = Path(__file__).resolve().parents[2]


def _env(redis_url: str, **extra: str) -> dict[str, str]:
    return dict(os.environ, CELERIAC_BROKER_URL=redis_url,
                PYTHONPATH=os.pathsep.join([str(APPS), str(ROOT / "runtime")]), **extra)


def _run(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = _env(redis_url)
    env.pop("CELERIAC_APP", None)
    return subprocess.run([sys.executable, "-m", "celeriac.cli", *args], env=env, cwd=APPS,
                          capture_output=True, text=True, timeout=60)


def _client(redis_url: str) -> Celeriac:
    return Celeriac("compat-cli-client", broker=redis_url, set_as_current=False)


def test_worker_without_an_app_refuses_and_version(redis_url: str) -> None:
    res = _run(redis_url, "worker")
    assert res.returncode == 1 and "no app given" in res.stderr and "-A" in res.stderr, res.stderr
    res = _run(redis_url, "--version")
    assert res.returncode == 0 and res.stdout.startswith("celeriac ")


def test_prefork_is_fair_long_tasks_are_not_hoarded(redis_url: str, cli_worker: Any) -> None:
    app = _client(redis_url)
    try:
        results = [app.send_task("compat.when", (1.0,)) for _ in range(4)]
        w = cli_worker("-A", "compatapp", "worker", "-P", "prefork", "-c", "2")
        spans = [r.get(timeout=30) for r in results]
    finally:
        app.close()
    makespan = max(e for _s, e in spans) - min(s for s, _e in spans)
    # two children, four 1 s tasks: 2 s when each child takes one at a time (4 s if one
    # child held all four while the other idled)
    assert makespan < 3.0, (makespan, spans)
    w.stop()


def test_hostname_template_pidfile_and_logfile(redis_url: str, cli_worker: Any, tmp_path: Path) -> None:
    pidfile, logfile = tmp_path / "w.pid", tmp_path / "w.log"
    w = cli_worker("-A", "compatapp", "worker", "-P", "threads", "-n", "w1@%h", "--pidfile", str(pidfile),
                   "--logfile", str(logfile))
    app = _client(redis_url)
    try:
        wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() == str(w.proc.pid), 20, what="pid file")
        host = f"w1@{socket.gethostname()}"
        wait_for(lambda: app.control.ping(destination=[host], timeout=0.5), 20, what="ping by expanded name")
        assert app.send_task("compat.add", (2, 3)).get(timeout=10) == 5
        text = logfile.read_text()
        assert f"celeriac worker {host}" in text and "compat.add" in text
        again = _run(redis_url, "-A", "compatapp", "worker", "--pidfile", str(pidfile))
        assert again.returncode == 1 and "running process" in again.stderr, again.stderr
    finally:
        app.close()
    w.stop()
    assert w.proc.returncode == 0 and not pidfile.exists()


def test_detach(redis_url: str, tmp_path: Path) -> None:
    pidfile, logfile = tmp_path / "d.pid", tmp_path / "d.log"
    res = _run(redis_url, "-A", "compatapp", "worker", "-P", "threads", "-n", "detached@x", "--detach",
               "--pidfile", str(pidfile), "--logfile", str(logfile))
    assert res.returncode == 0, res.stderr
    pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), 20, what="pid file"))
    app = _client(redis_url)
    try:
        assert app.send_task("compat.add", (1, 1)).get(timeout=20) == 2
        assert app.control.ping(destination=["detached@x"], timeout=1.0) == [{"detached@x": {"ok": "pong"}}]
    finally:
        app.close()
        os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not pidfile.exists(), 30, what="the detached worker gone")
    assert "celeriac worker detached@x" in logfile.read_text()


def test_embedded_beat(redis_url: str, cli_worker: Any, tmp_path: Path) -> None:
    w = cli_worker("-A", "compatapp", "worker", "-P", "threads", "-B", env={"COMPAT_TICK_DIR": str(tmp_path)})
    wait_for(lambda: len(list(tmp_path.glob("tick.*"))) >= 3, 30, what="three beat runs")
    w.stop()
    assert w.proc.returncode == 0
    assert b"embedded beat started" in w.output


def test_autoscale_grows_while_messages_wait(redis_url: str, cli_worker: Any) -> None:
    w = cli_worker("-A", "compatapp", "worker", "--autoscale=3,1", "-n", "auto@x")
    app = _client(redis_url)
    try:
        ins = app.control.inspect(destination=["auto@x"], timeout=1.0)

        def children() -> int:
            stats = (ins.stats() or {}).get("auto@x") or {}
            return len(stats.get("pool", {}).get("processes", []))

        wait_for(lambda: children() == 1, 30, interval=0.3, what="one child at first")
        results = [app.send_task("compat.sleep", (1.0,)) for _ in range(12)]
        wait_for(lambda: children() == 3, 30, interval=0.3, what="grown to 3")
        for r in results:
            r.get(timeout=30)
    finally:
        app.close()
    w.stop()


def test_ctrl_c_once_and_twice(redis_url: str, cli_worker: Any) -> None:
    app = _client(redis_url)
    try:
        for presses in (1, 2):
            w = cli_worker("-A", "compatapp", "worker", "-P", "prefork", "-c", "2", "-n", f"ctrlc{presses}@x")
            wait_for(lambda presses=presses: app.control.ping(destination=[f"ctrlc{presses}@x"], timeout=0.5), 30, what="up")
            slow = [app.send_task("compat.sleep", (1.5,)) for _ in range(2)]
            ins = app.control.inspect(destination=[f"ctrlc{presses}@x"], timeout=1.0)
            wait_for(lambda ins=ins, p=presses: len((ins.active() or {}).get(f"ctrlc{p}@x") or []) == 2, 20,
                     interval=0.1, what="both tasks running")
            for _ in range(presses):  # a terminal's Ctrl-C reaches every process of the group
                os.killpg(w.proc.pid, signal.SIGINT)
                time.sleep(0.3)
            assert w.wait(40) == 0
            out = w.output.decode()
            assert "second signal" not in out if presses == 1 else "second signal" in out, out
            assert "ERROR" not in out, out
            if presses == 1:
                assert [r.get(timeout=10) for r in slow] == [1.5, 1.5]
    finally:
        app.close()


def test_multi_start_stop_restart(redis_url: str, tmp_path: Path) -> None:
    app = _client(redis_url)
    try:
        res = _run(redis_url, "-A", "compatapp", "multi", "start", "m1", "m2", "--pidfile-dir", str(tmp_path),
                   "--logfile-dir", str(tmp_path), "-P", "threads", "-c", "2")
        assert res.returncode == 0, res.stdout + res.stderr
        hosts = [f"m1@{socket.gethostname()}", f"m2@{socket.gethostname()}"]
        wait_for(lambda: len(app.control.ping(destination=hosts, timeout=0.5)) == 2, 30, what="both up")
        first = (tmp_path / "m1.pid").read_text().strip()
        assert app.send_task("compat.add", (4, 4)).get(timeout=10) == 8
        res = _run(redis_url, "-A", "compatapp", "multi", "restart", "m1", "--pidfile-dir", str(tmp_path),
                   "--logfile-dir", str(tmp_path), "-P", "threads")
        assert res.returncode == 0 and "m1: stopped" in res.stdout, res.stdout + res.stderr
        wait_for(lambda: (tmp_path / "m1.pid").exists() and (tmp_path / "m1.pid").read_text().strip() != first,
                 30, what="m1 restarted")
        wait_for(lambda: len(app.control.ping(destination=hosts, timeout=0.5)) == 2, 30, what="both up again")
        res = _run(redis_url, "multi", "stopwait", "m1", "m2", "--pidfile-dir", str(tmp_path))
        assert res.returncode == 0 and res.stdout.count("stopped") == 2, res.stdout + res.stderr
        assert not (tmp_path / "m1.pid").exists() and not (tmp_path / "m2.pid").exists()
        assert "celeriac worker m1@" in (tmp_path / "m1.log").read_text()
    finally:
        app.close()


def test_shell_has_the_app_and_its_tasks(redis_url: str) -> None:
    env = _env(redis_url)
    res = subprocess.run([sys.executable, "-m", "celeriac.cli", "-A", "compatapp", "shell"], env=env, cwd=APPS,
                         input="print('main', app.main, add.name)\n", capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "main compatapp compat.add" in res.stdout, res.stdout + res.stderr


def test_dash_e_turns_task_events_on(redis_url: str, cli_worker: Any) -> None:
    w = cli_worker("-A", "compatapp", "worker", "-P", "threads", "-E", "-n", "events@x",
                   env={"CELERIAC_WORKER_SEND_TASK_EVENTS": "false"})
    app = _client(redis_url)
    try:
        start = app.last_event_id()
        wait_for(lambda: app.control.ping(destination=["events@x"], timeout=0.5), 30, what="up")
        r = app.send_task("compat.add", (1, 2))
        assert r.get(timeout=10) == 3
        wait_for(lambda: any(e.get("type") == "task-succeeded" and e.get("uuid") == r.id
                             for _i, e in app.read_events(start, 1000)), 10, what="task-succeeded event")
    finally:
        app.close()
    w.stop()


def test_banner_lists_included_tasks_and_a_bad_attribute_setting_fails_naming_it(
        redis_url: str, cli_worker: Any) -> None:
    w = cli_worker("-A", "includeapp", "worker", "-P", "threads", "-n", "incl@x")
    app = _client(redis_url)
    try:
        wait_for(lambda: app.control.ping(destination=["incl@x"], timeout=0.5), 30, what="up")
        assert app.send_task("included.echo", (7,)).get(timeout=10) == 7
    finally:
        app.close()
    w.stop()
    assert "tasks:       included.echo" in w.output.decode(), w.output.decode()
    env = _env(redis_url, INCLUDEAPP_BAD_CONCURRENCY="1")
    res = subprocess.run([sys.executable, "-m", "celeriac.cli", "-A", "includeapp", "worker"], env=env,
                         cwd=APPS, capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert "setting 'worker_concurrency' must be an integer, got 'two'" in res.stderr, res.stderr
