"""``celeriac status``: one screen a person reads at a glance, and a progress helper for
long CLI operations (purge, dead-letter requeue).

Workers come from the worker registry (``WorkerRegistry.workers``), queues from ``queue_stats``, throughput from the recent
``task-succeeded``/``task-failed`` events. What it must not do: write to the broker.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sized
from typing import TYPE_CHECKING, Any, TypeVar

import click

from celeriac import events as ev
from celeriac.errors import CeleriacError

if TYPE_CHECKING:
    from rich.console import RenderableType

    from celeriac.app import Celeriac
    from celeriac.cli.group import Ctx

T = TypeVar("T")
THROUGHPUT_WINDOW_S = 60.0  #: tasks per second are averaged over this many seconds of events
EVENTS_SCANNED = 5000  #: newest events read for throughput


def _recent_events(app: Celeriac, limit: int) -> list[dict[str, Any]]:
    """About the ``limit`` newest events (one read: an XREVRANGE on Redis)."""
    try:
        items = app.broker.recent_events(limit)
    except CeleriacError:
        return []
    return [ev.normalize(e) for _eid, e in items]


def workers_of(app: Celeriac) -> list[dict[str, Any]]:
    """One row per worker host name (prefork children summed)."""
    procs = app.broker.workers()
    rows: dict[str, dict[str, Any]] = {}
    for p in procs:
        host = str(p.get("hostname"))
        row = rows.setdefault(host, {"hostname": host, "pool": p.get("pool"), "concurrency": p.get("concurrency"),
                                     "processes": 0, "processed": 0, "in_flight": 0, "active": 0,
                                     "heartbeat": 0.0, "queues": p.get("queues")})
        row["processes"] += 1
        for key in ("processed", "in_flight", "active"):
            row[key] += int(p.get(key) or 0)
        row["heartbeat"] = max(row["heartbeat"], float(p.get("heartbeat") or 0))
    return sorted(rows.values(), key=lambda r: r["hostname"])


def throughput(recent: list[dict[str, Any]], now: float) -> dict[str, float]:
    """Finished tasks per second by queue over the last window."""
    counts: dict[str, int] = defaultdict(int)
    oldest = now
    for e in recent:
        ts = e.get("timestamp")
        if e.get("type") in ("task-succeeded", "task-failed") and isinstance(ts, float) \
                and now - ts <= THROUGHPUT_WINDOW_S:
            counts[str(e.get("queue") or "")] += 1
            oldest = min(oldest, ts)
    span = max(1.0, min(THROUGHPUT_WINDOW_S, now - oldest))
    return {q: n / span for q, n in counts.items()}


def render(app: Celeriac) -> RenderableType:
    from rich.console import Group
    from rich.table import Table

    now = time.time()
    recent = _recent_events(app, EVENTS_SCANNED)
    workers = Table(title="Workers", title_justify="left", expand=False)
    for col in ("worker", "pool", "procs", "processed", "in flight", "active", "last heartbeat"):
        workers.add_column(col, justify="left" if col in ("worker", "pool") else "right")
    rows = workers_of(app)
    for w in rows:
        age = now - w["heartbeat"] if w["heartbeat"] else None
        workers.add_row(w["hostname"], f"{w['pool']} x{w['concurrency']}", str(w["processes"]),
                        str(w["processed"]), str(w["in_flight"]), str(w["active"]),
                        f"{age:.1f}s ago" if age is not None else "-")
    if not rows:
        workers.add_row("(no live worker)", "", "", "", "", "", "")
    queues = Table(title="Queues", title_justify="left")
    for col in ("queue", "depth", "ready", "in flight", "delayed", "dead", "oldest", "tasks/s"):
        queues.add_column(col, justify="left" if col == "queue" else "right")
    rates = throughput(recent, now)
    names = sorted(set(app.broker.known_queues()) | set(app.router.consumed_queues()))
    for q, s in app.queue_stats(names).items():
        queues.add_row(q, str(s.depth), str(s.ready + s.due), str(s.in_flight), str(s.delayed),
                       str(s.dead), f"{s.oldest_age_s:.1f}s" if s.oldest_age_s is not None else "-",
                       f"{rates.get(q, 0.0):.1f}")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    from rich.text import Text

    return Group(Text(f"celeriac status  {stamp}  broker {app.broker_url.split('@')[-1]}"), workers, queues)


@click.command()
@click.option("--watch", is_flag=True, help="Refresh in place until Ctrl-C.")
@click.option("-n", "--interval", type=float, default=2.0, show_default=True, help="Seconds between refreshes.")
@click.option("--iterations", type=int, help="With --watch: stop after this many refreshes.")
@click.pass_obj
def status(obj: Ctx, watch: bool, interval: float, iterations: int | None) -> None:
    """Workers and queues at a glance."""
    from rich.console import Console
    from rich.live import Live

    console = Console()
    try:
        if not watch:
            console.print(render(obj.app))
            return
        done = 0
        with Live(render(obj.app), console=console, refresh_per_second=4, screen=False) as live:
            while iterations is None or done < iterations:
                time.sleep(interval)
                live.update(render(obj.app))
                done += 1
    except CeleriacError as exc:
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(1) from exc
    except KeyboardInterrupt:
        return


def progress(items: Iterable[T], *, total: int | None = None, description: str = "working",
             transient: bool = False) -> Iterator[T]:
    """Iterate ``items`` while a rich progress bar (on stderr) shows how far it got.

    For long CLI operations: ``for q in progress(queues, description="purging"): ...``.
    Quiet when stderr is not a terminal.
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    if not console.is_terminal:
        yield from items
        return
    if total is None and isinstance(items, Sized):
        total = len(items)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=transient) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)


def counting(fn: Callable[[T], int], items: Iterable[T], *, description: str) -> int:
    """Run ``fn`` on each item with a progress bar; returns the sum of what it returned."""
    return sum(fn(item) for item in progress(list(items), description=description))
