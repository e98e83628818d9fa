"""Logging set-up for the command line (the library itself never configures logging)."""

from __future__ import annotations

import json
import logging
import logging.config
import time
from typing import Any

PLAIN_FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s] %(message)s"  #: Celery's layout


class JSONFormatter(logging.Formatter):
    """One JSON object per line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "process": record.processName,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(out)


def configure(level: str = "INFO", *, json_format: bool = False, logfile: str | None = None) -> None:
    """Send logs to stderr (or ``logfile``) at ``level`` (plain, or JSON lines).

    When a receiver is connected to the ``setup_logging`` signal, it is called instead and
    logging is left to it (as Celery does)."""
    from celeriac import signals

    level = level.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError(f"unknown log level {level!r}")
    if signals.setup_logging.receivers:
        signals.setup_logging.send(None, loglevel=getattr(logging, level), logfile=logfile,
                                   format=PLAIN_FORMAT, colorize=False)
        return
    handler: dict[str, Any] = ({"class": "logging.FileHandler", "formatter": "default", "filename": logfile}
                               if logfile else {"class": "logging.StreamHandler", "formatter": "default",
                                                "stream": "ext://sys.stderr"})
    formatter: dict[str, Any] = (
        {"()": JSONFormatter} if json_format else {"format": PLAIN_FORMAT}
    )
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"stderr": handler},
        "root": {"level": level, "handlers": ["stderr"]},
    })
