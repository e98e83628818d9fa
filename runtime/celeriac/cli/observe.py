"""``celeriac events``, ``inspect``, ``control`` and ``task``: the command-line side of
observability (``celeriac status`` lives in ``cli/status.py``).

Registered in ``cli/group.py``; every command speaks to the broker through ``app.broker`` and
``celeriac.control``, never to Redis directly. What it must not do: change tasks or
queues beyond what a control command asks for.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Any

import click

from celeriac import events as ev
from celeriac.cli.errors import fail
from celeriac.errors import CeleriacError

if TYPE_CHECKING:
    from celeriac.cli.group import Ctx



@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--dump", is_flag=True, help="Raw dump (as Celery's dumper): every event kept, then live ones.")
@click.option("--from-start", is_flag=True, help="Tail from the oldest event kept, not from now.")
@click.option("--type", "types", multiple=True, help="Only events of this type (repeatable).")
@click.option("--count", type=int, help="Exit after this many events.")
@click.option("--timeout", type=float, help="Exit after this many seconds.")
@click.pass_obj
def events(obj: Ctx, as_json: bool, dump: bool, from_start: bool, types: tuple[str, ...],
           count: int | None, timeout: float | None) -> None:
    """Tail the events stream live (Ctrl-C to stop)."""
    import time

    backend = obj.app.broker
    deadline = time.monotonic() + timeout if timeout is not None else None

    def stop() -> bool:
        return deadline is not None and time.monotonic() >= deadline

    try:
        source = ev.tail(backend, after_id="0" if from_start or dump else "$", block_s=0.5, stop=stop)
        seen = 0
        for eid, event in source:
            if types and event.get("type") not in types:
                continue
            if as_json:
                click.echo(json.dumps({"id": eid, **event}, default=str))
            elif dump:
                fields = ", ".join(f"{k}={v}" for k, v in event.items() if k not in ("type", "hostname", "timestamp"))
                click.echo(f"{event.get('hostname') or '-'} [{_when(event.get('timestamp'))}] "
                           f"{event.get('type')}: {fields}")
            else:
                click.echo(ev.human(event))
            seen += 1
            if count is not None and seen >= count:
                return
    except CeleriacError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        return


_INSPECT = ("active", "reserved", "scheduled", "registered", "stats", "ping", "revoked", "query_task",
            "active_queues", "clock", "conf", "report")


@click.command()
@click.argument("what", type=click.Choice(_INSPECT))
@click.argument("args", nargs=-1)
@click.option("-d", "--destination", help="Comma-separated worker host names (default: all).")
@click.option("-t", "--timeout", type=float, default=1.0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def inspect(obj: Ctx, what: str, args: tuple[str, ...], destination: str | None, timeout: float,
            as_json: bool) -> None:
    """Ask every live worker, as ``celery inspect``: active, reserved, scheduled, registered
    [ATTR...], stats, ping, revoked, query_task ID..., active_queues, clock, conf, report."""
    from celeriac.control import Inspect

    dest = [d.strip() for d in destination.split(",") if d.strip()] if destination else None
    try:
        answer = getattr(Inspect(obj.app, destination=dest, timeout=timeout), what)(*args)
    except CeleriacError as exc:
        fail(str(exc))
        return
    if not answer:
        fail("no worker replied")
        return
    if as_json:
        click.echo(json.dumps(answer, default=str, indent=2))
        return
    for host, value in sorted(answer.items()):
        click.echo(f"-> {host}: {_summary(what, value)}")
        for line in _lines(what, value):
            click.echo(f"    {line}")
    click.echo(f"{len(answer)} worker(s) replied")


def _summary(what: str, value: Any) -> str:
    if isinstance(value, list):
        return "OK" if value else "- empty -"
    if what == "ping":
        return "OK pong" if value == {"ok": "pong"} else str(value)
    return "OK"


def _lines(what: str, value: Any) -> list[str]:
    if isinstance(value, list):
        if what in ("active", "reserved"):
            return [f"{t.get('name')}[{t.get('id')}] queue={t.get('queue')}" for t in value]
        return [str(v) for v in value]
    if what == "ping":
        return []
    if what == "report" and isinstance(value, dict):
        return str(value.get("ok", "")).splitlines()
    if isinstance(value, dict):
        return json.dumps(value, default=str, indent=2).splitlines()
    return []


_CONTROL = ("shutdown", "pool_grow", "pool_shrink", "add_consumer", "cancel_consumer", "rate_limit")


@click.command()
@click.argument("command", type=click.Choice(_CONTROL))
@click.argument("args", nargs=-1)
@click.option("-d", "--destination", help="Comma-separated worker host names (default: all).")
@click.option("-t", "--timeout", type=float, default=1.0, show_default=True)
@click.pass_obj
def control(obj: Ctx, command: str, args: tuple[str, ...], destination: str | None, timeout: float) -> None:
    """Command the workers: shutdown | pool_grow [N] | pool_shrink [N] | add_consumer QUEUE |
    cancel_consumer QUEUE | rate_limit TASK RATE."""
    from celeriac.control import broadcast, per_worker

    arguments: dict[str, Any] = {}
    try:
        if command in ("pool_grow", "pool_shrink"):
            arguments["n"] = int(args[0]) if args else 1
        elif command in ("add_consumer", "cancel_consumer"):
            (arguments["queue"],) = args
        elif command == "rate_limit":
            arguments["task_name"], arguments["rate_limit"] = args
    except ValueError:
        raise click.UsageError(f"wrong arguments for {command}: {' '.join(args) or '(none)'}") from None
    dest = [d.strip() for d in destination.split(",") if d.strip()] if destination else None
    try:
        replies = broadcast(obj.app, command, arguments, destination=dest, timeout=timeout)
    except CeleriacError as exc:
        fail(str(exc))
        return
    if not replies:
        fail("no worker replied")
    failed = False
    # One line per worker, as Celery prints (a prefork worker's children answer alike).
    for host, answer in sorted(per_worker(replies).items()):
        for one in answer if isinstance(answer, list) else [answer]:
            if isinstance(one, dict) and "error" in one:
                failed = True
                click.echo(f"-> {host}: error: {one['error']}")
            else:
                click.echo(f"-> {host}: {one.get('ok') if isinstance(one, dict) else one}")
    if failed:
        sys.exit(1)


def _when(ts: Any) -> str:
    if not isinstance(ts, int | float):
        return "-"
    return dt.datetime.fromtimestamp(float(ts)).isoformat(sep=" ", timespec="milliseconds")


@click.command()
@click.argument("task_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def task(obj: Ctx, task_id: str, as_json: bool) -> None:
    """The story of one task: states with times, worker, retries, runtime, result, workflow."""
    from celeriac import serialization

    app = obj.app
    try:
        record = app.backend.get_result(task_id)
        history = ev.for_task(app.broker, task_id)
    except CeleriacError as exc:
        fail(str(exc))
        return
    if record is None and not history:
        fail(f"no result and no events for task {task_id} (unknown, expired or never sent)")
        return
    story: dict[str, Any] = {"id": task_id, "events": history}
    if record is not None:
        value: Any = None
        if record.result is not None:
            try:
                value = serialization.loads(record.result, record.content_type,
                                            serialization.accepted(app.conf.accept_content))
            except CeleriacError:
                value = repr(record.result[:200])
        story.update({"state": record.status, "task": record.task, "worker": record.worker,
                      "queue": record.queue, "retries": record.retries, "result": value,
                      "traceback": record.traceback, "date_done": record.date_done,
                      "parent_id": record.parent_id, "root_id": record.root_id, "group": record.group,
                      "children": record.children, **{k: record.extra[k] for k in sorted(record.extra)}})
    else:
        story["state"] = "PENDING"
    if as_json:
        click.echo(json.dumps(story, default=str, indent=2))
        return
    name = story.get("task") or next((e.get("name") for e in history if e.get("name")), "?")
    click.echo(f"task {task_id}  {name}")
    click.echo(f"  state:    {story['state']}")
    for key in ("worker", "queue", "retries", "runtime", "date_started", "parent_id", "root_id", "group"):
        if story.get(key) not in (None, ""):
            value = story[key]
            click.echo(f"  {key + ':':<10}{_when(float(value)) if key == 'date_started' else value}")
    if story.get("date_done"):
        click.echo(f"  done:     {_when(story['date_done'])}")
    if story.get("children"):
        click.echo(f"  children: {', '.join(story['children'])}")
    if history:
        click.echo("  timeline:")
        for e in history:
            detail = ""
            if e.get("runtime") is not None:
                detail = f" runtime={e['runtime']:.4f}s"
            if e.get("exception"):
                detail += f" {e['exception']}"
            click.echo(f"    {_when(e.get('timestamp'))}  {e.get('type'):<15} {e.get('hostname') or ''}{detail}")
    if story["state"] in ("FAILURE", "RETRY", "REVOKED", "REJECTED"):
        click.echo(f"  error:    {story.get('result')}")
        if story.get("traceback"):
            click.echo("  " + str(story["traceback"]).rstrip().replace("\n", "\n  "))
    elif "result" in story:
        click.echo(f"  result:   {json.dumps(story['result'], default=repr)}")
