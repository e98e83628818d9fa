"""Spawning and reaping subprocesses: worker CLIs, the per-run child, redis-server.

Why it exists: a benchmark that leaks a worker skews every run after it, so every
process we start goes through here and is killed as a whole tree (psutil snapshot of
all descendants, then SIGKILL), with bounded waits. It must not know about any queue.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import psutil

#: How long to wait for killed processes to be reaped before giving up.
REAP_TIMEOUT_S = 10.0


def spawn(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    cwd: Path | None = None,
    new_session: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` with stdout+stderr sent to ``log_path`` (or discarded)."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        out = log_path.open("ab")
    else:
        out = open(os.devnull, "wb")  # noqa: SIM115 - closed below, the child keeps its fd
    try:
        return subprocess.Popen(
            list(cmd),
            env=full_env,
            cwd=str(cwd) if cwd else None,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )
    finally:
        out.close()


def descendants(pids: Iterable[int]) -> list[psutil.Process]:
    """The processes ``pids`` plus all their descendants that are still alive."""
    found: dict[int, psutil.Process] = {}
    for pid in pids:
        try:
            root = psutil.Process(pid)
            found[root.pid] = root
            for child in root.children(recursive=True):
                found[child.pid] = child
        except psutil.NoSuchProcess:
            continue
    return list(found.values())


def kill_procs(procs: Sequence[psutil.Process], sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to every process and wait (bounded) until they are gone."""
    for proc in procs:
        try:
            proc.send_signal(sig)
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(list(procs), timeout=REAP_TIMEOUT_S)


def kill_tree(pids: Iterable[int]) -> None:
    """SIGKILL ``pids`` and every descendant (snapshotted first, so orphans die too)."""
    kill_procs(descendants(pids))


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group led by ``proc`` (started with ``new_session=True``)."""
    procs = descendants([proc.pid])
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    kill_procs(procs)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=REAP_TIMEOUT_S)


def tree_rss_bytes(pids: Iterable[int]) -> int:
    """Sum of resident set sizes of ``pids`` and all their descendants."""
    total = 0
    for proc in descendants(pids):
        try:
            total += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def wait_exit(proc: subprocess.Popen[bytes], timeout_s: float) -> int | None:
    """Return ``proc``'s exit code, or ``None`` if it is still running after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            return code
        time.sleep(0.05)
    return proc.poll()
