"""Leader election on a ``coordination.k8s.io/v1`` Lease: one active operator replica.

Why it exists: several replicas may run (a rolling update, or just two for availability),
but two active ones would each read the events stream, each patch status, and race on the
registry. The active replica holds a Lease and renews it; a standby takes it over once it
has seen no renewal for ``leaseDurationSeconds``. Expiry is judged on the standby's own
clock (when it last saw the record change), not on the timestamps in the record, so clock
skew between nodes does not matter (client-go's rule). A replica that cannot renew in time
stops being active (the operator then exits, and Kubernetes restarts it as a standby).

``--peering-priority`` orders standbys: after an expiry, a standby waits
``(100 - priority) / 100`` seconds (none at 100 or more) before it tries, so the replica
with the highest priority usually wins the takeover.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from celeriac_operator.kube import Conflict, Kube

logger = logging.getLogger(__name__)


@dataclass
class LeaseSettings:
    namespace: str
    name: str = "celeriac-operator"
    identity: str = field(default_factory=lambda: f"{_hostname()}-{uuid.uuid4().hex[:8]}")
    duration_s: float = 15.0
    """``leaseDurationSeconds``: a standby takes over this long after the last renewal."""
    renew_s: float = 5.0
    """How often the leader renews."""
    retry_s: float = 2.0
    """How often a standby looks at the Lease."""
    priority: int = 0


def _hostname() -> str:
    return os.environ.get("POD_NAME") or os.uname().nodename


def _micro_time(instant: float) -> str:
    return datetime.fromtimestamp(instant, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Elector:
    """Acquire, hold and release the Lease."""

    def __init__(self, kube: Kube, settings: LeaseSettings) -> None:
        self.kube = kube
        self.settings = settings
        self.leading = False
        self.last_ok = 0.0
        """Monotonic time of the last successful read or write of the Lease (``/readyz``)."""
        self._lease: dict[str, Any] | None = None
        self._observed_rv: str | None = None
        self._observed_at = 0.0

    def _body(self, lease: dict[str, Any] | None, *, transitions: int, acquire: bool) -> dict[str, Any]:
        now = time.time()
        spec = dict((lease or {}).get("spec") or {})
        spec.update({
            "holderIdentity": self.settings.identity,
            "leaseDurationSeconds": max(1, round(self.settings.duration_s)),
            "renewTime": _micro_time(now),
            "leaseTransitions": transitions,
        })
        if acquire:
            spec["acquireTime"] = _micro_time(now)
        metadata: dict[str, Any] = {"name": self.settings.name, "namespace": self.settings.namespace}
        if lease is not None:
            metadata["resourceVersion"] = (lease.get("metadata") or {}).get("resourceVersion")
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}

    async def try_acquire(self) -> bool:
        """One attempt: True when this replica holds the Lease now."""
        s = self.settings
        lease = await self.kube.read_lease(s.namespace, s.name)
        self.last_ok = time.monotonic()
        if lease is None:
            try:
                self._lease = await self.kube.create_lease(s.namespace, self._body(None, transitions=0, acquire=True))
            except Conflict:
                return False
            return self._won()
        spec = lease.get("spec") or {}
        rv = (lease.get("metadata") or {}).get("resourceVersion")
        if rv != self._observed_rv:
            self._observed_rv, self._observed_at = rv, time.monotonic()
        holder = spec.get("holderIdentity")
        duration = float(spec.get("leaseDurationSeconds") or s.duration_s)
        mine = holder == s.identity
        expired = not holder or time.monotonic() - self._observed_at > duration
        if not mine and not expired:
            return False
        if not mine:
            await asyncio.sleep(max(0.0, (100 - s.priority) / 100.0))
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if mine else 1)
        try:
            self._lease = await self.kube.replace_lease(
                s.namespace, s.name, self._body(lease, transitions=transitions, acquire=not mine))
        except Conflict:
            return False
        return self._won()

    def _won(self) -> bool:
        self.leading = True
        self.last_ok = time.monotonic()
        logger.info("leader: %s holds lease %s/%s", self.settings.identity, self.settings.namespace,
                    self.settings.name)
        return True

    async def acquire(self) -> None:
        """Wait until this replica leads."""
        while True:
            try:
                if await self.try_acquire():
                    return
            except Exception as exc:  # API unavailable: stand by, try again
                logger.warning("lease %s: %s", self.settings.name, exc)
            await asyncio.sleep(self.settings.retry_s)

    async def hold(self) -> None:
        """Renew until the Lease is lost (returns then) or cancelled."""
        s = self.settings
        renewed = time.monotonic()
        while True:
            await asyncio.sleep(s.renew_s)
            try:
                current = await self.kube.read_lease(s.namespace, s.name)
                holder = ((current or {}).get("spec") or {}).get("holderIdentity")
                if current is None or holder != s.identity:
                    logger.error("lease %s taken by %s: stepping down", s.name, holder)
                    self.leading = False
                    return
                spec = current.get("spec") or {}
                self._lease = await self.kube.replace_lease(
                    s.namespace, s.name, self._body(current, transitions=int(spec.get("leaseTransitions") or 0),
                                                    acquire=False))
                renewed = self.last_ok = time.monotonic()
            except Exception as exc:
                logger.warning("lease renewal failed: %s", exc)
                if time.monotonic() - renewed > s.duration_s * 0.8:
                    logger.error("lease %s not renewed in time: stepping down", s.name)
                    self.leading = False
                    return

    async def release(self) -> None:
        """Give the Lease up at a clean exit, so a standby takes over at once."""
        if not self.leading:
            return
        self.leading = False
        s = self.settings
        try:
            current = await self.kube.read_lease(s.namespace, s.name)
            if current is None or (current.get("spec") or {}).get("holderIdentity") != s.identity:
                return
            body = self._body(current, transitions=int((current.get("spec") or {}).get("leaseTransitions") or 0),
                              acquire=False)
            body["spec"]["holderIdentity"] = None
            body["spec"]["leaseDurationSeconds"] = 1
            await self.kube.replace_lease(s.namespace, s.name, body)
        except Exception as exc:
            logger.warning("lease release failed: %s", exc)
