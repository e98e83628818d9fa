"""celeriac's Kubernetes operator (kopf): Task, Schedule and WorkerPool custom resources.

Importing the package registers every handler, so ``kopf run -m celeriac_operator`` and
``celeriac operator`` serve the same thing. It uses only the public API of the
``celeriac`` package (an import-linter contract checks it).
"""

from __future__ import annotations

from celeriac_operator.handlers import lifecycle, schedules, tasks, workerpools

__all__ = ["lifecycle", "schedules", "tasks", "workerpools"]
