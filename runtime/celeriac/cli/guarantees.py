"""``celeriac revoke`` and ``celeriac dlq list|requeue|purge``: revocation and dead letters.

Registered on the main command group by ``cli/group.py``. Speaks only the app's transport API
(the ``DeadLetters`` role of ``celeriac.backends.base``); no Redis here.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TYPE_CHECKING

import click

from celeriac.cli.errors import handle_errors

if TYPE_CHECKING:
    from celeriac.cli.group import Ctx





@click.command()
@click.argument("task_ids", nargs=-1, required=True)
@click.option("--terminate", is_flag=True, help="Also stop the task if it is running (state REVOKED).")
@click.option("--signal", "signal_name", default="SIGTERM", show_default=True,
              help="Recorded with the command (tasks are stopped by an exception raised inside them).")
@click.pass_obj
@handle_errors
def revoke(obj: Ctx, task_ids: tuple[str, ...], terminate: bool, signal_name: str) -> None:
    """Revoke tasks: they never start, on any worker (for result_expires seconds)."""
    obj.app.control.revoke(list(task_ids), terminate=terminate, signal=signal_name)
    what = "revoked and terminated" if terminate else "revoked"
    for task_id in task_ids:
        click.echo(f"{task_id}: {what}")


@click.group()
def dlq() -> None:
    """The dead-letter stream of each queue: list, requeue, purge."""


def _queues(obj: Ctx, queue: str | None) -> list[str]:
    if queue:
        return [q.strip() for q in queue.split(",") if q.strip()]
    return sorted(set(obj.app.broker.known_queues()) | set(obj.app.router.consumed_queues()))


@dlq.command("list")
@click.option("-Q", "--queues", "queue", help="Comma-separated queues (default: every known queue).")
@click.option("--limit", default=100, show_default=True, help="Most entries shown per queue.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
@handle_errors
def dlq_list(obj: Ctx, queue: str | None, limit: int, as_json: bool) -> None:
    """Show dead letters: queue, entry id, task id, deliveries, reason and history."""
    total = 0
    for q in _queues(obj, queue):
        for d in obj.app.broker.dead_letters(q, limit):
            total += 1
            if as_json:
                click.echo(json.dumps({"queue": d.queue, "message_id": d.message_id, "task_id": d.task_id,
                                       "deliveries": d.deliveries, "reason": d.reason, "time": d.time,
                                       "history": list(d.history), "content_type": d.content_type,
                                       "size": len(d.body)}))
                continue
            when = dt.datetime.fromtimestamp(d.time, dt.UTC).isoformat(timespec="seconds") if d.time else "-"
            click.echo(f"{d.queue} {d.message_id} task={d.task_id or '-'} deliveries={d.deliveries} at={when}")
            click.echo(f"    reason: {d.reason}")
            for line in d.history:
                click.echo(f"    history: {line}")
    if not total and not as_json:
        click.echo("no dead letters")


@dlq.command("requeue")
@click.option("-Q", "--queues", "queue", help="Comma-separated queues (default: every known queue).")
@click.argument("message_ids", nargs=-1)
@click.pass_obj
@handle_errors
def dlq_requeue(obj: Ctx, queue: str | None, message_ids: tuple[str, ...]) -> None:
    """Put dead letters back on their queue (all, or the given entry ids) with a fresh count."""
    requeue = obj.app.broker.dead_letter_requeue
    for q in _queues(obj, queue):
        n = requeue(q, list(message_ids) or None)
        if n:
            click.echo(f"requeued {n} message(s) on {q}")


@dlq.command("purge")
@click.option("-Q", "--queues", "queue", help="Comma-separated queues (default: every known queue).")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@click.argument("message_ids", nargs=-1)
@click.pass_obj
@handle_errors
def dlq_purge(obj: Ctx, queue: str | None, force: bool, message_ids: tuple[str, ...]) -> None:
    """Drop dead letters (all, or the given entry ids)."""
    purge = obj.app.broker.dead_letter_purge
    names = _queues(obj, queue)
    if not force and sys.stdin.isatty():
        click.confirm(f"Drop dead letters of {', '.join(names)}?", abort=True)
    for q in names:
        n = purge(q, list(message_ids) or None)
        if n:
            click.echo(f"purged {n} dead letter(s) from {q}")
