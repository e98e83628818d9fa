"""The ``celeriac`` command: worker, call, result, queues, purge (and more as they come).

Every failure is one clear line on stderr and a non-zero exit; tracebacks only with
``--loglevel debug``.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from celeriac.app import Celeriac
from celeriac.cli.errors import fail, handle_errors
from celeriac.cli.plugins import PluginGroup
from celeriac.errors import CeleriacError


def load_app(spec: str | None) -> Celeriac:
    """Find the app in ``module``, ``module:attr`` or ``module.attr``, as Celery's ``-A``."""
    if not spec:
        spec = os.environ.get("CELERIAC_APP")
    if not spec:
        raise click.UsageError("no app given: use -A/--app MODULE (or set CELERIAC_APP)")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if "." in module_name and not attr:
            parent, _, attr = module_name.rpartition(".")
            module = importlib.import_module(parent)
        else:
            raise click.UsageError(f"cannot import app module {module_name!r}: {exc}") from exc
    if attr:
        app = getattr(module, attr, None)
        if isinstance(app, Celeriac):
            return app
        raise click.UsageError(f"{spec!r}: {attr!r} is not a Celeriac app")
    for name in ("app", "celeriac", "celery"):
        found = getattr(module, name, None)
        if isinstance(found, Celeriac):
            return found
    for value in vars(module).values():
        if isinstance(value, Celeriac):
            return value
    raise click.UsageError(f"no Celeriac app found in module {module_name!r}")


class Ctx:
    def __init__(self, app_spec: str | None, broker: str | None) -> None:
        self.app_spec = app_spec
        self.broker = broker
        self._app: Celeriac | None = None

    @property
    def app(self) -> Celeriac:
        if self._app is None:
            if self.app_spec or os.environ.get("CELERIAC_APP"):
                self._app = load_app(self.app_spec)
            else:
                self._app = Celeriac("celeriac-cli", set_as_current=False)
            if self.broker:
                self._app.conf.broker_url = self.broker
                self._app._invalidate()
        return self._app





def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("celeriac")
    except PackageNotFoundError:
        return "dev"


@click.group(cls=PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "--version", prog_name="celeriac", message="%(prog)s %(version)s")
@click.option("-A", "--app", "app_spec", envvar="CELERIAC_APP", help="Module holding the app (module[:attr]).")
@click.option("-b", "--broker", help="Broker URL (overrides broker_url).")
@click.pass_context
def main(ctx: click.Context, app_spec: str | None, broker: str | None) -> None:
    """celeriac: a distributed task queue in the spirit of Celery."""
    ctx.obj = Ctx(app_spec, broker)


def _worker_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("-A", "--app", "app_spec", help="Module holding the app."),
        click.option("-c", "--concurrency", type=int, help="Processes/threads/coroutines."),
        click.option("-P", "--pool", type=click.Choice(["prefork", "threads", "asyncio", "solo", "gevent", "eventlet"])),
        click.option("-Q", "--queues", help="Comma-separated queues to consume."),
        click.option("-l", "--loglevel", default="INFO", show_default=True,
                     type=click.Choice(["debug", "info", "warning", "error", "critical"], case_sensitive=False)),
        click.option("-n", "--hostname", help="Worker name (default celeriac@%h; %h host, %n short host, %d domain)."),
        click.option("-B", "--beat", "embed_beat", is_flag=True,
                     help="Also run a beat in this worker (a process of its own; safe with others: lease)."),
        click.option("--autoscale", help="MAX,MIN prefork children, grown while messages wait, shrunk when idle."),
        click.option("-E", "--task-events", is_flag=True, help="Send task events (worker_send_task_events)."),
        click.option("-O", "optimization", type=click.Choice(["fair", "default"]),
                     help="fair (the prefork default): a child fetches only when idle; default: each child "
                          "holds worker_prefetch_multiplier messages."),
        click.option("-f", "--logfile", help="Log to this file instead of stderr."),
        click.option("--pidfile", help="Write the worker's pid here (refuses to start if it names a live process)."),
        click.option("--detach", is_flag=True, help="Run in the background (needs --logfile and --pidfile)."),
        click.option("--prefetch-multiplier", type=int, help="Messages held per process/slot."),
        click.option("--shutdown-timeout", type=float, help="Seconds running tasks get after SIGTERM."),
        click.option("--log-json", is_flag=True, help="Log JSON lines."),
        click.option("--metrics-port", type=int, help="Serve Prometheus /metrics on this port."),
        click.option("--metrics-bind", help="Address of the /metrics server (default worker_metrics_bind: 0.0.0.0)."),
        click.option("--health-port", type=int, help="Serve /livez and /readyz on this port (worker_health_port)."),
        click.option("--health-bind", help="Address of the health server (default worker_health_bind: 0.0.0.0)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@main.command()
@_worker_options
@click.pass_obj
def worker(obj: Ctx, app_spec: str | None, concurrency: int | None, pool: str | None, queues: str | None,
           loglevel: str, hostname: str | None, embed_beat: bool, autoscale: str | None, task_events: bool,
           optimization: str | None, logfile: str | None, pidfile: str | None, detach: bool,
           prefetch_multiplier: int | None,
           shutdown_timeout: float | None, log_json: bool, metrics_port: int | None, metrics_bind: str | None,
           health_port: int | None, health_bind: str | None) -> None:
    """Start a worker."""
    from celeriac import logs
    from celeriac.cli import daemon
    from celeriac.worker.worker import Worker

    if app_spec:
        obj.app_spec = app_spec
    if not (obj.app_spec or os.environ.get("CELERIAC_APP")):
        fail("no app given: a worker runs the tasks of an app; use `celeriac -A MODULE worker` "
             "(or set CELERIAC_APP)")
    scale = daemon.parse_autoscale(autoscale) if autoscale else None
    if detach:
        daemon.detach(logfile, pidfile)
    conf = obj.app.conf  # the app first: its ``setup_logging`` receivers take over logging
    logs.configure(loglevel, json_format=log_json, logfile=logfile)
    if task_events:
        conf.worker_send_task_events = True
    pid_lock = daemon.PidFile(pidfile) if pidfile else None
    if pid_lock is not None:
        pid_lock.acquire()
    if metrics_port is not None:
        conf.worker_metrics_port = metrics_port
    if metrics_bind is not None:
        conf.worker_metrics_bind = metrics_bind
    if health_port is not None:
        conf.worker_health_port = health_port
    if health_bind is not None:
        conf.worker_health_bind = health_bind
    try:
        w = Worker(obj.app, queues=[q.strip() for q in queues.split(",") if q.strip()] if queues else None,
                   pool=pool, concurrency=scale[0] if scale and not concurrency else concurrency,
                   hostname=hostname, prefetch_multiplier=prefetch_multiplier, shutdown_timeout=shutdown_timeout,
                   optimization=optimization, autoscale=scale, embed_beat=embed_beat)
        code = w.start()
    except (CeleriacError, ValueError) as exc:
        fail(str(exc))
        return
    finally:
        if pid_lock is not None:
            pid_lock.release()
    sys.exit(code)


@main.command()
@click.pass_obj
@handle_errors
def report(obj: Ctx) -> None:
    """What to paste into a bug report: versions, platform, transports, changed settings."""
    click.echo(obj.app.bugreport(), nl=False)


def _json_arg(value: str | None, what: str, kind: type) -> Any:
    if value is None:
        return kind()
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"{what} must be JSON: {exc}") from None
    if not isinstance(parsed, kind):
        raise click.BadParameter(f"{what} must be a JSON {'array' if kind is list else 'object'}")
    return parsed


@main.command()
@click.argument("name")
@click.option("-a", "--args", "args_json", help="Positional arguments as a JSON array.")
@click.option("-k", "--kwargs", "kwargs_json", help="Keyword arguments as a JSON object.")
@click.option("--countdown", type=float)
@click.option("--eta", help="ISO-8601 time to run at.")
@click.option("--expires", type=float, help="Seconds after which the task is not run.")
@click.option("-Q", "--queue")
@click.option("--priority", type=click.IntRange(0, 9))
@click.option("--wait", is_flag=True, help="Wait for the result and print it.")
@click.option("--timeout", type=float, default=30.0, show_default=True)
@click.pass_obj
@handle_errors
def call(obj: Ctx, name: str, args_json: str | None, kwargs_json: str | None, countdown: float | None,
         eta: str | None, expires: float | None, queue: str | None, priority: int | None, wait: bool,
         timeout: float) -> None:
    """Send task NAME; prints its id."""
    options: dict[str, Any] = {k: v for k, v in {"countdown": countdown, "eta": eta, "expires": expires,
                                                   "queue": queue, "priority": priority}.items() if v is not None}
    result = obj.app.send_task(name, _json_arg(args_json, "--args", list), _json_arg(kwargs_json, "--kwargs", dict),
                               **options)
    click.echo(result.id)
    if wait:
        click.echo(json.dumps(result.get(timeout=timeout, propagate=False), default=repr))


@main.command()
@click.argument("task_id")
@click.option("--wait/--no-wait", default=False, help="Wait until the task is ready.")
@click.option("--timeout", type=float, default=30.0)
@click.pass_obj
@handle_errors
def result(obj: Ctx, task_id: str, wait: bool, timeout: float) -> None:
    """Show the state and result of TASK_ID."""
    res = obj.app.AsyncResult(task_id)
    if wait:
        res.get(timeout=timeout, propagate=False)
    state = res.state
    value = res.result
    click.echo(f"state: {state}")
    if isinstance(value, BaseException):
        click.echo(f"error: {type(value).__name__}: {value}")
        if res.traceback:
            click.echo(res.traceback.rstrip())
    else:
        click.echo(f"result: {json.dumps(value, default=repr)}")


@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
@handle_errors
def queues(obj: Ctx, as_json: bool) -> None:
    """Depth of every known queue."""
    app = obj.app
    names = sorted(set(app.broker.known_queues()) | set(app.router.consumed_queues()))
    rows = list(app.queue_stats(names).values())  # one round trip for them all
    if as_json:
        click.echo(json.dumps([{"queue": s.queue, "ready": s.ready, "delayed": s.delayed, "due": s.due,
                                "in_flight": s.in_flight, "dead": s.dead, "depth": s.depth,
                                "waiting": s.waiting, "waiting_by_priority": s.waiting_by_priority,
                                "oldest_wait_s": s.oldest_wait_s, "consumers": s.consumers,
                                "backlog": s.backlog} for s in rows]))
        return
    click.echo(f"{'QUEUE':<24} {'READY':>8} {'IN-FLIGHT':>9} {'DELAYED':>8} {'DEAD':>6} {'CONSUMERS':>9}")
    for s in rows:
        click.echo(f"{s.queue:<24} {s.ready + s.due:>8} {s.in_flight:>9} {s.delayed:>8} {s.dead:>6} "
                   f"{s.consumers:>9}")


@main.command()
@click.option("-Q", "--queues", "queue_names", required=True, help="Comma-separated queues to empty.")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
@handle_errors
def purge(obj: Ctx, queue_names: str, force: bool) -> None:
    """Drop every waiting message of the given queues."""
    names = [q.strip() for q in queue_names.split(",") if q.strip()]
    if not force and sys.stdin.isatty():
        click.confirm(f"Purge all waiting messages of {', '.join(names)}?", abort=True)
    from celeriac.cli.status import progress

    for q in progress(names, description="purging"):
        n = obj.app.broker.purge(q)
        click.echo(f"purged {n} message(s) from {q}")


from celeriac.cli import beat as _beat_cli  # noqa: E402 (registered after main is defined)

main.add_command(_beat_cli.beat)
main.add_command(_beat_cli.schedule)

from celeriac.cli import guarantees as _guarantees_cli  # noqa: E402

main.add_command(_guarantees_cli.revoke)
main.add_command(_guarantees_cli.dlq)

from celeriac.cli import observe as _observe_cli  # noqa: E402
from celeriac.cli import status as _status_cli  # noqa: E402

for _command in (_observe_cli.events, _observe_cli.inspect, _observe_cli.control, _observe_cli.task,
                 _status_cli.status):
    main.add_command(_command)

from celeriac.cli import multi as _multi_cli  # noqa: E402

main.add_command(_multi_cli.multi)
main.add_command(_multi_cli.shell)
