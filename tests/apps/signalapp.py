"""An app whose receivers log every worker life-cycle signal to ``$SIGNAL_LOG`` (one line
each: ``name key=value...``), for tests that run a real ``celeriac worker``."""

from __future__ import annotations

import logging
import os
from typing import Any

from celeriac import Celeriac, signals

app = Celeriac("signalapp")


@app.task(name="signalapp.add")
def add(x: int, y: int) -> int:
    return x + y


def _log(name: str, **fields: Any) -> None:
    with open(os.environ["SIGNAL_LOG"], "a", encoding="utf-8") as fh:
        fh.write(" ".join([name, f"pid={os.getpid()}", *(f"{k}={v}" for k, v in sorted(fields.items()))]) + "\n")


@signals.celeryd_init.connect
def on_celeryd_init(sender: Any, instance: Any, conf: Any, options: Any, **_: Any) -> None:
    _log("celeryd_init", sender=sender, conf=type(conf).__name__, pool=options["pool"])


@signals.worker_init.connect
def on_worker_init(sender: Any, **_: Any) -> None:
    _log("worker_init", sender=type(sender).__name__)


@signals.worker_process_init.connect
def on_process_init(sender: Any, **_: Any) -> None:
    _log("worker_process_init", sender=sender)


@signals.worker_ready.connect
def on_ready(sender: Any, **_: Any) -> None:
    _log("worker_ready")


@signals.worker_shutting_down.connect
def on_shutting_down(sender: Any, sig: Any, how: Any, exitcode: Any, **_: Any) -> None:
    _log("worker_shutting_down", sender=sender, sig=sig, how=how, exitcode=exitcode)


@signals.worker_shutdown.connect
def on_shutdown(sender: Any, **_: Any) -> None:
    _log("worker_shutdown", sender=type(sender).__name__)


@signals.setup_logging.connect
def on_setup_logging(sender: Any, loglevel: Any, logfile: Any, format: Any, colorize: Any, **_: Any) -> None:
    _log("setup_logging", loglevel=loglevel)
    logging.basicConfig(level=loglevel)


@signals.celeryd_after_setup.connect
def on_after_setup(sender: Any, instance: Any, conf: Any, **_: Any) -> None:
    _log("celeryd_after_setup", sender=sender)


@signals.worker_process_shutdown.connect
def on_process_shutdown(sender: Any, pid: Any, exitcode: Any, **_: Any) -> None:
    _log("worker_process_shutdown", exitcode=exitcode)
