"""The ``celeriac beat`` and ``celeriac schedule ...`` commands.

Why it exists: keeps the beat's click code out of ``cli/group.py`` (which only registers these
commands). What it must not do: hold scheduling logic; it calls ``Beat`` and
``app.schedules``.
"""

from __future__ import annotations

import json
import signal
import sys
from typing import TYPE_CHECKING, Any

import click

from celeriac.errors import CeleriacError

if TYPE_CHECKING:
    from celeriac.cli.group import Ctx

_LEVELS = click.Choice(["debug", "info", "warning", "error", "critical"], case_sensitive=False)


@click.command()
@click.option("-A", "--app", "app_spec", help="Module holding the app.")
@click.option("-l", "--loglevel", default="INFO", show_default=True, type=_LEVELS)
@click.option("--log-json", is_flag=True, help="Log JSON lines.")
@click.option("--lease-ttl", type=float, default=4.0, show_default=True,
              help="Seconds a dead leader blocks a take-over, at most.")
@click.option("--renew-interval", type=float, default=1.0, show_default=True,
              help="Seconds between lease renewals / take-over attempts.")
@click.option("--no-sync", is_flag=True, help="Do not write beat_schedule into the registry.")
@click.option("--metrics-port", type=int, help="Serve Prometheus /metrics (runs fired/missed) on this port.")
@click.option("--metrics-bind", help="Address of the /metrics server (default beat_metrics_bind: 0.0.0.0).")
@click.option("--health-port", type=int, help="Serve /livez and /readyz on this port (beat_health_port).")
@click.option("--health-bind", help="Address of the health server (default beat_health_bind: 0.0.0.0).")
@click.pass_obj
def beat(obj: Ctx, app_spec: str | None, loglevel: str, log_json: bool, lease_ttl: float,
         renew_interval: float, no_sync: bool, metrics_port: int | None, metrics_bind: str | None,
         health_port: int | None, health_bind: str | None) -> None:
    """Run a beat: fire periodic tasks (several may run; one leads at a time)."""
    from celeriac import logs
    from celeriac.beat.scheduler import Beat

    logs.configure(loglevel, json_format=log_json)
    if app_spec:
        obj.app_spec = app_spec
    server = None
    probes = None
    try:
        conf = obj.app.conf
        if metrics_bind is not None:
            conf.beat_metrics_bind = metrics_bind
        if health_port is not None:
            conf.beat_health_port = health_port
        if health_bind is not None:
            conf.beat_health_bind = health_bind
        b = Beat(obj.app, lease_ttl_s=lease_ttl, renew_s=renew_interval, sync_static=not no_sync)
        if metrics_port is not None:
            from celeriac import metrics

            server = metrics.serve(metrics_port, extra=[metrics.BeatCollector(b)], bind=conf.beat_metrics_bind)
        if conf.beat_health_port is not None:
            from celeriac.health import HealthServer

            probes = HealthServer(conf.beat_health_port, b.live, b.ready, bind=conf.beat_health_bind)

        def on_signal(signum: int, frame: Any) -> None:
            b.stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        b.run()
    except (CeleriacError, ValueError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    finally:
        if server is not None:
            server.close()
        if probes is not None:
            probes.close()
        obj.app.close()


@click.group()
def schedule() -> None:
    """List and change periodic tasks in the registry (a running beat sees changes at once)."""


def _run(fn: Any) -> Any:
    try:
        return fn()
    except (CeleriacError, ValueError, TypeError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)


@schedule.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_(obj: Ctx, as_json: bool) -> None:
    """Every entry with its schedule and state."""
    from celeriac.beat.records import iso

    rows = _run(lambda: obj.app.schedules.list())
    data = [
        {
            "name": s.entry.name, "task": s.entry.task, "schedule": s.entry.schedule.to_spec(),
            "timezone": s.entry.timezone, "enabled": s.entry.enabled,
            "concurrency_policy": s.entry.concurrency_policy, "source": s.source,
            "last_run": iso(s.state.last_run), "next_run": iso(s.state.next_run),
            "last_task_id": s.state.last_task_id, "run_count": s.state.run_count,
            "missed_count": s.state.missed_count,
        }
        for s in rows
    ]
    if as_json:
        click.echo(json.dumps(data))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="schedules")
    for col in ("name", "task", "schedule", "enabled", "policy", "last run", "next run", "runs", "missed"):
        table.add_column(col)
    for d in data:
        table.add_row(
            str(d["name"]), str(d["task"]), json.dumps(d["schedule"]) + (f" {d['timezone']}" if d["timezone"] else ""),
            "yes" if d["enabled"] else "paused", str(d["concurrency_policy"]), str(d["last_run"] or "-"),
            str(d["next_run"] or "-"), str(d["run_count"]), str(d["missed_count"]),
        )
    Console(width=200).print(table)


@schedule.command()
@click.argument("name")
@click.argument("task")
@click.option("--cron", help="Cron expression, e.g. '*/5 * * * *'.")
@click.option("--every", "every_s", type=float, help="Interval in seconds.")
@click.option("--at", "at_iso", help="One-off run at this ISO 8601 time.")
@click.option("-a", "--args", "args_json", help="Positional arguments as a JSON array.")
@click.option("-k", "--kwargs", "kwargs_json", help="Keyword arguments as a JSON object.")
@click.option("-Q", "--queue")
@click.option("--priority", type=click.IntRange(0, 9))
@click.option("--expires", type=float, help="Seconds after publishing that a run is dropped.")
@click.option("--timezone", help="IANA zone the cron fields are read in.")
@click.option("--concurrency-policy", type=click.Choice(["allow", "forbid", "replace"]), default="allow")
@click.option("--starting-deadline", type=float, help="Seconds late after which a run is missed.")
@click.option("--replace", is_flag=True, help="Overwrite an existing entry.")
@click.pass_obj
def add(obj: Ctx, name: str, task: str, cron: str | None, every_s: float | None, at_iso: str | None,
        args_json: str | None, kwargs_json: str | None, queue: str | None, priority: int | None,
        expires: float | None, timezone: str | None, concurrency_policy: str,
        starting_deadline: float | None, replace: bool) -> None:
    """Add entry NAME running TASK (one of --cron, --every, --at)."""
    given = [s for s in ({"cron": cron}, {"every": every_s}, {"at": at_iso}) if next(iter(s.values())) is not None]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --cron, --every, --at")
    try:
        args = json.loads(args_json) if args_json else []
        kwargs = json.loads(kwargs_json) if kwargs_json else {}
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"--args/--kwargs must be JSON: {exc}") from None
    options = {k: v for k, v in {"queue": queue, "priority": priority, "expires": expires}.items() if v is not None}
    _run(lambda: obj.app.schedules.add(
        name, task, given[0], args=args, kwargs=kwargs, options=options, timezone=timezone,
        concurrency_policy=concurrency_policy, starting_deadline_s=starting_deadline, replace=replace,
    ))
    click.echo(f"added {name}")


@schedule.command()
@click.argument("name")
@click.pass_obj
def remove(obj: Ctx, name: str) -> None:
    """Remove entry NAME (and its state)."""
    if not _run(lambda: obj.app.schedules.remove(name)):
        click.echo(f"Error: no schedule named {name!r}", err=True)
        sys.exit(1)
    click.echo(f"removed {name}")


@schedule.command()
@click.argument("name")
@click.pass_obj
def pause(obj: Ctx, name: str) -> None:
    """Stop firing NAME (kept with its state)."""
    _run(lambda: obj.app.schedules.pause(name))
    click.echo(f"paused {name}")


@schedule.command()
@click.argument("name")
@click.pass_obj
def resume(obj: Ctx, name: str) -> None:
    """Fire NAME again."""
    _run(lambda: obj.app.schedules.resume(name))
    click.echo(f"resumed {name}")


@schedule.command("run-now")
@click.argument("name")
@click.pass_obj
def run_now(obj: Ctx, name: str) -> None:
    """Publish one run of NAME now; prints the task id."""
    result = _run(lambda: obj.app.schedules.run_now(name))
    click.echo(result.id)
