"""``celeriac operator``: run the operator (leader election, probes, metrics, kopf).

Why it exists: the runtime's CLI finds this command through the ``celeriac.commands``
entry point group, so the runtime never imports the operator. This module wires what is
per process: the probe and metrics servers, the leader Lease, and kopf itself, started
only while this replica leads (a standby watches nothing and writes nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from typing import Any

import click
import kopf
from prometheus_client import start_http_server

from celeriac_operator import health as health_mod
from celeriac_operator import metrics
from celeriac_operator.context import Context
from celeriac_operator.kube import Kube
from celeriac_operator.leader import Elector, LeaseSettings
from celeriac_operator.settings import OperatorConfig

logger = logging.getLogger(__name__)


@click.command("operator")
@click.option("-n", "--namespace", help="Serve this namespace only (default: every namespace).")
@click.option("-A", "--all-namespaces", is_flag=True, help="Serve every namespace (the default).")
@click.option("--metrics-port", type=int, help="Serve Prometheus metrics on this port.")
@click.option("--metrics-bind", default="0.0.0.0", show_default=True)
@click.option("--health-port", type=int, help="Serve /livez and /readyz on this port.")
@click.option("--health-bind", default="0.0.0.0", show_default=True)
@click.option("--peering-priority", type=int, default=0, show_default=True,
              help="Standby order for taking the Lease over (higher goes first).")
@click.option("--leader-election/--no-leader-election", default=True, show_default=True,
              help="Hold a coordination.k8s.io Lease; off: always active (one replica only).")
@click.option("--lease-name", default="celeriac-operator", show_default=True)
@click.option("--lease-namespace", help="Namespace of the Lease (default: --namespace, POD_NAMESPACE, or default).")
@click.option("--lease-duration", type=float, default=15.0, show_default=True,
              help="Seconds without renewal after which a standby takes over.")
@click.option("--api-qps", type=float, help="Status patches and Events per second (default 100).")
@click.option("--api-burst", type=int, help="Burst of status patches and Events (default 200).")
@click.option("--log-level", default="INFO", show_default=True)
@click.pass_context
def operator(ctx: click.Context, namespace: str | None, all_namespaces: bool, metrics_port: int | None,
             metrics_bind: str, health_port: int | None, health_bind: str, peering_priority: int,
             leader_election: bool, lease_name: str, lease_namespace: str | None, lease_duration: float,
             api_qps: float | None, api_burst: int | None, log_level: str) -> None:
    """Run the Kubernetes operator for Task, Schedule and WorkerPool resources."""
    if namespace and all_namespaces:
        raise click.UsageError("--namespace and --all-namespaces are exclusive")
    if not logging.getLogger().handlers:
        logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    broker = ctx.find_root().params.get("broker")
    config = OperatorConfig.from_env(broker_url=broker, namespace=namespace, api_qps=api_qps,
                                     api_burst=api_burst)
    lease = LeaseSettings(
        namespace=lease_namespace or namespace or os.environ.get("POD_NAMESPACE") or "default",
        name=lease_name, duration_s=lease_duration, renew_s=max(0.5, lease_duration / 3),
        retry_s=max(0.25, min(2.0, lease_duration / 5)), priority=peering_priority)
    code = asyncio.run(run(config, lease=lease if leader_election else None, metrics_port=metrics_port,
                           metrics_bind=metrics_bind, health_port=health_port, health_bind=health_bind))
    ctx.exit(code)


async def run(config: OperatorConfig, *, lease: LeaseSettings | None, metrics_port: int | None = None,
              metrics_bind: str = "0.0.0.0", health_port: int | None = None,
              health_bind: str = "0.0.0.0") -> int:
    """The operator process: 0 after a clean stop, 1 after losing the Lease."""
    health = health_mod.Health()
    memo = kopf.Memo(config=config)
    stop = asyncio.Event()
    ready = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    metrics.LEADER.set(0)
    if metrics_port is not None:
        start_http_server(metrics_port, addr=metrics_bind, registry=metrics.REGISTRY)
    kube = Kube.from_environment(threads=2)
    elector = Elector(kube, lease) if lease is not None else None

    def is_ready() -> bool:
        if health.role == "leader":
            context = memo.get("celeriac")
            return ready.is_set() and isinstance(context, Context) and context.broker_ok
        if health.role == "standby" and elector is not None and lease is not None:
            return bool(elector.last_ok) and time.monotonic() - elector.last_ok < 2 * lease.duration_s
        return False

    health.ready = is_ready
    runner = await health_mod.serve(health, port=health_port, host=health_bind) if health_port else None
    beat = asyncio.create_task(_beat(health))
    code = 0
    try:
        if elector is not None:
            health.role = "standby"
            acquiring = asyncio.create_task(elector.acquire())
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({acquiring, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                acquiring.cancel()
                return 0
            stopping.cancel()
        health.role = "leader"
        metrics.LEADER.set(1)
        kopf_stop = memo["stop_flag"] = asyncio.Event()
        running = asyncio.create_task(kopf.operator(
            standalone=True, clusterwide=config.namespace is None,
            namespaces=[config.namespace] if config.namespace else (),
            memo=memo, stop_flag=kopf_stop, ready_flag=ready,
        ))
        waits: set[asyncio.Task[Any]] = {running, asyncio.create_task(stop.wait())}
        holding = asyncio.create_task(elector.hold()) if elector is not None else None
        if holding is not None:
            waits.add(holding)
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if holding is not None and holding in done:
            code = 1  # lost the Lease: stop, and let Kubernetes restart us as a standby
        kopf_stop.set()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(running, 30)
        for task in waits:
            task.cancel()
        if running in done and running.exception() is not None:
            logger.error("kopf stopped: %s", running.exception())
            code = 1
    finally:
        metrics.LEADER.set(0)
        if elector is not None:
            await elector.release()
        beat.cancel()
        if runner is not None:
            await runner.cleanup()
        kube.close()
    return code


async def _beat(health: health_mod.Health) -> None:
    while True:
        health.beat()
        await asyncio.sleep(1.0)
