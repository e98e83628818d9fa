"""``celeriac multi start|stop|restart|stopwait NAME...`` and ``celeriac shell``: Celery's
habits for running several named workers in the background on one machine, and a Python
shell with the app loaded.

Why it exists: keeps process management out of ``cli/group.py``. ``multi`` runs one
``celeriac worker --detach`` per name (``NAME@%h``, pid file ``%n.pid`` and log file
``%n.log`` in ``--pidfile-dir``/``--logfile-dir``, as Celery's defaults) and stops them by
their pid files (SIGTERM: the usual drain). What it must not do: talk to the broker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import click

from celeriac.cli.daemon import PidFile
from celeriac.cli.errors import fail

STOP_WAIT_S = 60.0  #: how long ``stop`` waits for each worker's drain


def _paths(name: str, pid_dir: str, log_dir: str) -> tuple[str, str]:
    return os.path.join(pid_dir, f"{name}.pid"), os.path.join(log_dir, f"{name}.log")


def _start(names: list[str], app_spec: str | None, extra: list[str], pid_dir: str, log_dir: str) -> None:
    for name in names:
        pidfile, logfile = _paths(name, pid_dir, log_dir)
        node = name if "@" in name else f"{name}@%h"
        cmd = [sys.executable, "-m", "celeriac.cli", *(["-A", app_spec] if app_spec else []), "worker",
               "-n", node, "--detach", "--pidfile", pidfile, "--logfile", logfile, *extra]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if res.returncode != 0:
            fail(f"{name}: {res.stderr.strip() or 'did not start'}")
        click.echo(f"> {name}: started (pid file {pidfile}, log {logfile})")


def _stop(names: list[str], pid_dir: str, log_dir: str, wait: bool) -> None:
    waiting: list[tuple[str, int, PidFile]] = []
    for name in names:
        pidfile = PidFile(_paths(name, pid_dir, log_dir)[0])
        pid = pidfile.read()
        if pid is None:
            click.echo(f"> {name}: not running (no pid file)")
            continue
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            click.echo(f"> {name}: not running (stale pid file {pidfile.path})")
            os.unlink(pidfile.path)
            continue
        click.echo(f"> {name}: SIGTERM sent to {pid}")
        waiting.append((name, pid, pidfile))
    if not wait:
        return
    deadline = time.monotonic() + STOP_WAIT_S
    for name, pid, _pidfile in waiting:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            fail(f"{name} (pid {pid}) still running after {STOP_WAIT_S:.0f}s")
        click.echo(f"> {name}: stopped")


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("action", type=click.Choice(["start", "stop", "stopwait", "restart"]))
@click.argument("names", nargs=-1, required=True)
@click.option("--pidfile-dir", default=".", show_default=True, help="Where NAME.pid files go.")
@click.option("--logfile-dir", default=".", show_default=True, help="Where NAME.log files go.")
@click.pass_context
def multi(ctx: click.Context, action: str, names: tuple[str, ...], pidfile_dir: str, logfile_dir: str) -> None:
    """Start, stop or restart named workers in the background (Celery's ``multi``):
    ``celeriac -A proj multi start w1 w2 -c 4 -Q default``; options after the names go to
    each ``celeriac worker``."""
    # names first; from the first option on, everything is the workers' (click hands the
    # unknown options over as arguments)
    first_opt = next((i for i, n in enumerate(names) if n.startswith("-")), len(names))
    worker_names, extra = list(names[:first_opt]), [*names[first_opt:], *ctx.args]
    if not worker_names:
        fail("give the workers' names: celeriac multi start w1 [w2...]")
    app_spec = ctx.obj.app_spec if ctx.obj is not None else None
    pid_dir, log_dir = os.path.abspath(pidfile_dir), os.path.abspath(logfile_dir)
    if action in ("stop", "stopwait", "restart"):
        _stop(worker_names, pid_dir, log_dir, wait=action != "stop")
    if action in ("start", "restart"):
        if not app_spec and not os.environ.get("CELERIAC_APP"):
            fail("no app given: use `celeriac -A MODULE multi start NAME...`")
        _start(worker_names, app_spec, extra, pid_dir, log_dir)


@click.command()
@click.pass_obj
def shell(obj: Any) -> None:
    """A Python shell with the app loaded: ``app``, ``celeriac`` and every task by its short
    name (Celery's ``shell``)."""
    import code

    import celeriac

    app = obj.app
    app.import_modules()
    names: dict[str, Any] = {"app": app, "celeriac": celeriac, "Celeriac": celeriac.Celeriac}
    for name, task in app.tasks.items():
        if not name.startswith("celeriac."):
            names.setdefault(name.rsplit(".", 1)[-1], task)
    banner = f"celeriac shell: app {app.main!r}; tasks: {', '.join(sorted(k for k in names if k not in ('app', 'celeriac', 'Celeriac')))}"
    code.interact(banner=banner, local=names, exitmsg="")
