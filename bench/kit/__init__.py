"""Plumbing shared by the benchmark harness and its per-run child (``runone.py``).

Why it exists: the scenarios, the process handling and the reporting are the same for
every system under test, so they live here once; nothing in this package imports a task
queue library. Adapters (``bench/adapters``) are the only place that does.
"""

from __future__ import annotations
