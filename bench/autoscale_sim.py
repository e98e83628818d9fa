"""WorkerPool autoscaling against KEDA + HPA, in a seeded discrete-event simulation.

Why: the WorkerPool claims to scale workers better than the usual KEDA setup (a Redis list
scaler feeding an HPA). This file checks the claim on the operator's own decision function
(``celeriac_operator.decide.scaling.desired_replicas``, imported, not copied) and, side by
side, the KEDA + HPA rule as their documentation defines it:

* KEDA polls the list every ``pollingInterval`` (30 s) and sees **list length only**: messages
  a worker has prefetched or is running are invisible to it. At zero it activates (0 -> 1)
  when the length exceeds ``activationListLength`` (0); it returns to zero once no poll saw
  the trigger active for ``cooldownPeriod`` (300 s).
* From one replica up the HPA decides, every 15 s (its default sync period; KEDA's metrics
  adapter reads the list afresh for each request, so this side is not held to 30 s):
  ``desired = ceil(metric / target)`` (an AverageValue external metric), unchanged while
  ``|metric / (target * current) - 1| <= 0.1`` (the tolerance), scale-up limited per 15 s to
  the larger of +4 pods and +100 % (the default scale-up policies), scale-down to the
  highest recommendation of the last 300 s (the default scale-down stabilization window),
  never below one replica.
* On scale-down the ReplicaSet picks pods without knowing what they run: not-ready pods
  first, then the newest. A picked pod gets SIGTERM: it stops fetching, hands back what it
  prefetched, and running tasks that are not done within the grace period are killed
  (counted as *interrupted*; they run again later).

The WorkerPool side polls every ``pollIntervalSeconds``, counts waiting + in flight
(prefetched and running), wakes on the first message to an empty queue at zero replicas
(an event, not the next poll), and before lowering replicas sets the pod deletion cost from
what each pod runs, so the ReplicaSet removes idle pods first; the decision removes no more
pods than are idle at that moment.

Both sides run the same workers (same concurrency, prefetch, pod start delay, grace period)
on the same arrivals and service times. Reported per trace: pod-seconds (cost: from pod
creation to its exit), queue wait p50/p95/p99 (arrival to the start of the run that
completed), time from the first message to the first running task when the pool had no pod
(cold start, mean over such episodes), and tasks interrupted by scale-down.

Run: ``python bench/autoscale_sim.py`` (seeded, deterministic, a few seconds). ``--markdown``
prints the table for bench/RESULTS.md; ``--seed`` and ``--check`` (exit 1 unless the goal
holds on every trace: pod-seconds <= KEDA's, p95 wait <= half KEDA's, zero interrupted).
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import sys
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "operator"))

from celeriac_operator.decide.scaling import (
    AutoscalingSpec,
    History,
    Observation,
    desired_replicas,
    wake_from_zero,
)

#: Worker slots per pod (``-c``), the same on both sides.
CONCURRENCY = 4
#: Messages a pod holds beyond its running ones (prefetch), the same on both sides.
PREFETCH = CONCURRENCY
#: Seconds a SIGTERMed pod may drain before it is killed (terminationGracePeriodSeconds).
GRACE_S = 30.0
#: Pod start delay range (scheduling, image present, Python import, broker connect).
START_DELAY_S = (8.0, 15.0)
#: Operator: seconds from a task-sent event to the scale patch (event read + API call).
EVENT_LATENCY_S = 0.2
#: Upper bound of replicas on both sides.
MAX_REPLICAS = 50

#: KEDA + HPA as documented (ScaledObject defaults; HPA default behavior and tolerance).
KEDA_POLL_S = 30.0
HPA_SYNC_S = 15.0
KEDA_COOLDOWN_S = 300.0
KEDA_ACTIVATION = 0
KEDA_TOLERANCE = 0.1
HPA_DOWN_WINDOW_S = 300.0
HPA_UP_PODS = 4
HPA_UP_PERCENT = 100
#: listLength target (per replica) for KEDA and targetBacklogPerReplica for the WorkerPool.
TARGET_PER_REPLICA = CONCURRENCY

#: The WorkerPool spec the simulation runs (the CRD defaults but for max and the target).
POOL_SPEC = AutoscalingSpec(
    min_replicas=0,
    max_replicas=MAX_REPLICAS,
    target_backlog_per_replica=TARGET_PER_REPLICA,
)


# --------------------------------------------------------------------------- workload


@dataclass
class Task:
    arrival: float
    service: float
    start: float | None = None
    done: float | None = None
    token: int = 0


def service_times(rng: random.Random) -> Iterator[float]:
    """Mostly short tasks (lognormal, median 1 s) and a 2 % tail of 20-120 s reports."""
    while True:
        if rng.random() < 0.02:
            yield rng.uniform(20.0, 120.0)
        else:
            yield rng.lognormvariate(0.0, 0.7)


def _poisson(
    rng: random.Random, rate: Callable[[float], float], start: float, end: float, peak: float
) -> list[float]:
    """Arrival times of a non-homogeneous Poisson process (thinning)."""
    out: list[float] = []
    t = start
    while True:
        t += rng.expovariate(peak)
        if t >= end:
            return out
        if rng.random() * peak <= rate(t):
            out.append(t)


def trace_steady(rng: random.Random) -> list[float]:
    return _poisson(rng, lambda t: 2.0, 0.0, 3600.0, 2.0)


def trace_bursty(rng: random.Random) -> list[float]:
    # 60 s at 8/s, then 240 s at 0.2/s, repeated for an hour.
    return _poisson(rng, lambda t: 8.0 if t % 300.0 < 60.0 else 0.2, 0.0, 3600.0, 8.0)


def trace_spike(rng: random.Random) -> list[float]:
    base = _poisson(rng, lambda t: 0.5, 0.0, 3600.0, 0.5)
    spike = sorted(rng.uniform(1200.0, 1210.0) for _ in range(2000))
    return sorted(base + spike)


def trace_diurnal(rng: random.Random) -> list[float]:
    # A day compressed into two hours: 0.1/s at night, 4/s at noon.
    def rate(t: float) -> float:
        return 0.1 + 3.9 * (0.5 - 0.5 * math.cos(2 * math.pi * t / 7200.0))

    return _poisson(rng, rate, 0.0, 7200.0, 4.0)


def trace_idle_burst(rng: random.Random) -> list[float]:
    # Idle, then 500 tasks in 5 s; three times, 20 minutes apart.
    out: list[float] = []
    for start in (900.0, 2100.0, 3300.0):
        out += [rng.uniform(start, start + 5.0) for _ in range(500)]
    return sorted(out)


TRACES: dict[str, Callable[[random.Random], list[float]]] = {
    "steady": trace_steady,
    "bursty": trace_bursty,
    "spike": trace_spike,
    "diurnal": trace_diurnal,
    "idle-then-burst": trace_idle_burst,
}


# --------------------------------------------------------------------------- cluster


@dataclass
class Pod:
    name: int
    created: float
    ready_at: float
    ready: bool = False
    draining: bool = False
    gone: bool = False
    running: set[int] = field(default_factory=set)
    prefetched: deque[int] = field(default_factory=deque)
    last_take: float = 0.0

    @property
    def held(self) -> int:
        return len(self.running) + len(self.prefetched)


@dataclass
class Result:
    pod_seconds: float
    waits: list[float]
    cold_starts: list[float]
    interrupted: int
    max_replicas: int
    tasks: int

    def pct(self, q: float) -> float:
        if not self.waits:
            return 0.0
        s = sorted(self.waits)
        return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


class Sim:
    """One autoscaler, one trace: pods, a FIFO queue, prefetching workers, the ReplicaSet."""

    def __init__(
        self, arrivals: list[float], services: list[float], seed: int, scaler: str
    ) -> None:
        self.tasks = [Task(a, s) for a, s in zip(arrivals, services, strict=True)]
        self.rng = random.Random(seed)
        self.scaler = scaler
        self.heap: list[tuple[float, int, str, int, int]] = []
        self.seq = 0
        self.now = 0.0
        self.queue: deque[int] = deque()
        self.pods: dict[int, Pod] = {}
        self.next_pod = 0
        self.replicas = 0  # the Deployment's spec.replicas
        self.pod_seconds = 0.0
        self.interrupted = 0
        self.max_seen = 0
        self.cold_start_at: float | None = None
        self.cold_starts: list[float] = []
        # WorkerPool decision state
        self.history = History()
        # KEDA/HPA state
        self.keda_last_active: float | None = None
        self.hpa_recs: list[tuple[float, int]] = []
        self._pod_of: dict[int, int] = {}  # task -> pod holding it

    # -- event plumbing
    def at(self, t: float, kind: str, a: int = 0, b: int = 0) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, kind, a, b))

    def run(self) -> Result:
        for i, task in enumerate(self.tasks):
            self.at(task.arrival, "arrive", i)
        end = self.tasks[-1].arrival if self.tasks else 0.0
        self.at(0.0, "poll")
        while self.heap:
            t, _, kind, a, b = heapq.heappop(self.heap)
            if kind in ("poll", "hpa") and t > end and self._settled():
                continue  # stop polling once everything is done and scaled back to zero
            self.now = t
            getattr(self, "_on_" + kind)(a, b)
        waits = [task.start - task.arrival for task in self.tasks if task.start is not None]
        assert all(task.done is not None for task in self.tasks), "a task never finished"
        return Result(
            self.pod_seconds,
            waits,
            self.cold_starts,
            self.interrupted,
            self.max_seen,
            len(self.tasks),
        )

    def _settled(self) -> bool:
        return not self.queue and not self.pods and all(t.done for t in self.tasks)

    # -- workload events
    def _on_arrive(self, i: int, _: int) -> None:
        empty = not self.queue
        self.queue.append(i)
        if not self.pods and self.cold_start_at is None:
            self.cold_start_at = self.now
        if self.scaler == "pool" and empty and self.replicas == 0:
            self.at(self.now + EVENT_LATENCY_S, "wake")
        self._dispatch()

    def _on_finish(self, i: int, token: int) -> None:
        task = self.tasks[i]
        if task.token != token or task.done is not None:
            return  # that run was interrupted
        task.done = self.now
        pod = self.pods[self._pod_of[i]]
        pod.running.discard(i)
        self._start_prefetched(pod)
        if pod.draining and not pod.running:
            self._exit(pod)
        self._dispatch()

    def _on_ready(self, name: int, _: int) -> None:
        pod = self.pods.get(name)
        if pod is None or pod.gone:
            return
        pod.ready = True
        pod.last_take = self.now
        self._dispatch()

    def _on_kill(self, name: int, _: int) -> None:
        pod = self.pods.get(name)
        if pod is None or pod.gone:
            return
        for i in sorted(pod.running, key=lambda j: self.tasks[j].arrival, reverse=True):
            self.interrupted += 1
            self.tasks[i].token += 1
            self.tasks[i].start = None
            self.queue.appendleft(i)
        pod.running.clear()
        self._exit(pod)
        self._dispatch()

    # -- workers
    def _dispatch(self) -> None:
        while self.queue:
            free = [
                p
                for p in self.pods.values()
                if p.ready and not p.draining and p.held < CONCURRENCY + PREFETCH
            ]
            if not free:
                return
            pod = min(free, key=lambda p: (p.last_take, p.name))  # longest-waiting consumer
            i = self.queue.popleft()
            pod.last_take = self.now
            self._pod_of[i] = pod.name
            pod.prefetched.append(i)
            self._start_prefetched(pod)

    def _start_prefetched(self, pod: Pod) -> None:
        while pod.prefetched and len(pod.running) < CONCURRENCY and not pod.gone:
            i = pod.prefetched.popleft()
            task = self.tasks[i]
            task.start = self.now
            pod.running.add(i)
            if self.cold_start_at is not None:
                self.cold_starts.append(self.now - self.cold_start_at)
                self.cold_start_at = None
            self.at(self.now + task.service, "finish", i, task.token)

    def _exit(self, pod: Pod) -> None:
        pod.gone = True
        self.pod_seconds += self.now - pod.created
        del self.pods[pod.name]

    # -- the Deployment / ReplicaSet
    def _live(self) -> list[Pod]:
        return [p for p in self.pods.values() if not p.draining]

    def scale_to(self, n: int) -> None:
        live = self._live()
        if n > len(live):
            for _ in range(n - len(live)):
                name = self.next_pod
                self.next_pod += 1
                delay = self.rng.uniform(*START_DELAY_S)
                self.pods[name] = Pod(name, self.now, self.now + delay)
                self.at(self.now + delay, "ready", name)
        elif n < len(live):
            if self.scaler == "pool":
                # pod-deletion-cost = what the pod runs now: idle pods cheapest.
                def rank(p: Pod) -> tuple[int, int, float]:
                    return (int(p.ready), p.held, -p.created)
            else:

                def rank(p: Pod) -> tuple[int, int, float]:
                    return (int(p.ready), 0, -p.created)

            for pod in sorted(live, key=rank)[: len(live) - n]:
                self._terminate(pod)
        self.replicas = n
        self.max_seen = max(self.max_seen, len(self._live()))

    def _terminate(self, pod: Pod) -> None:
        pod.draining = True
        for i in reversed(pod.prefetched):  # hand back what was fetched but not started
            self.queue.appendleft(i)
        pod.prefetched.clear()
        if not pod.running:
            self._exit(pod)
        else:
            self.at(self.now + GRACE_S, "kill", pod.name)
        self._dispatch()

    # -- autoscalers
    def _on_poll(self, _: int, __: int) -> None:
        if self.scaler == "pool":
            self._pool_poll()
            self.at(self.now + POOL_SPEC.poll_interval_s, "poll")
        else:
            self._keda_poll()
            self.at(self.now + KEDA_POLL_S, "poll")

    def _on_wake(self, _: int, __: int) -> None:
        if self.replicas == 0 and self.queue:
            d = wake_from_zero(POOL_SPEC, self.history, self.now, backlog=len(self.queue))
            self.history = d.history
            self.scale_to(d.desired)

    def _pool_poll(self) -> None:
        live = self._live()
        held = sum(p.held for p in self.pods.values())
        oldest = self.now - self.tasks[self.queue[0]].arrival if self.queue else None
        obs = Observation(
            backlog=len(self.queue) + held,
            in_flight=held,
            oldest_wait_s=oldest,
            current_replicas=self.replicas,
            ready_replicas=sum(1 for p in live if p.ready),
            idle_replicas=sum(1 for p in live if not p.running),  # as the controller counts
        )
        d = desired_replicas(obs, POOL_SPEC, self.history, self.now)
        self.history = d.history
        if d.desired != self.replicas:
            self.scale_to(d.desired)

    def _keda_poll(self) -> None:
        """KEDA's own loop: activation (0 -> 1) and, after the cooldown, back to zero."""
        length = len(self.queue)  # LLEN: blind to prefetched and running messages
        active = length > KEDA_ACTIVATION
        if active:
            self.keda_last_active = self.now
        if self.replicas == 0:
            if active:
                self.scale_to(1)
                self.at(self.now + HPA_SYNC_S, "hpa")
        elif (
            not active
            and self.keda_last_active is not None
            and self.now - self.keda_last_active >= KEDA_COOLDOWN_S
        ):
            self.hpa_recs.clear()
            self.scale_to(0)

    def _on_hpa(self, _: int, __: int) -> None:
        """The HPA's loop (1..max): metric from KEDA's adapter, fresh on each sync."""
        cur = self.replicas
        if cur == 0:
            return  # KEDA owns 0 <-> 1; the next activation restarts this loop
        self.at(self.now + HPA_SYNC_S, "hpa")
        length = len(self.queue)
        ratio = length / (TARGET_PER_REPLICA * cur)
        raw = cur if abs(ratio - 1.0) <= KEDA_TOLERANCE else math.ceil(length / TARGET_PER_REPLICA)
        raw = max(1, raw)
        self.hpa_recs = [(t, r) for t, r in self.hpa_recs if t > self.now - HPA_DOWN_WINDOW_S]
        self.hpa_recs.append((self.now, raw))
        desired = raw
        if desired < cur:
            desired = min(cur, max(r for _, r in self.hpa_recs))
        if desired > cur:
            step = max(HPA_UP_PODS, cur * HPA_UP_PERCENT // 100)
            desired = min(desired, cur + step)
        desired = max(1, min(MAX_REPLICAS, desired))
        if desired != cur:
            self.scale_to(desired)


# --------------------------------------------------------------------------- report


def run_all(seed: int) -> list[tuple[str, Result, Result]]:
    rows = []
    for k, (name, make) in enumerate(TRACES.items()):
        arrivals = make(random.Random(seed * 1000 + k))
        gen = service_times(random.Random(seed * 1000 + 500 + k))
        services = [next(gen) for _ in arrivals]
        keda = Sim(arrivals, services, seed + k, "keda").run()
        pool = Sim(arrivals, services, seed + k, "pool").run()
        rows.append((name, keda, pool))
    return rows


def goal_met(keda: Result, pool: Result) -> bool:
    return (
        pool.pod_seconds <= keda.pod_seconds
        and pool.pct(0.95) <= keda.pct(0.95) / 2
        and pool.interrupted == 0
    )


def table(rows: list[tuple[str, Result, Result]]) -> str:
    head = (
        "| trace | scaler | tasks | pod-s | wait p50 s | wait p95 s | wait p99 s "
        "| cold start s (n) | interrupted | max pods | goal |"
    )
    lines = [head, "|" + "---|" * 11]
    for name, keda, pool in rows:
        for label, r in (("KEDA+HPA", keda), ("WorkerPool", pool)):
            cold = (
                f"{sum(r.cold_starts) / len(r.cold_starts):.1f} ({len(r.cold_starts)})"
                if r.cold_starts
                else "-"
            )
            goal = ("met" if goal_met(keda, pool) else "MISSED") if r is pool else ""
            lines.append(
                f"| {name} | {label} | {r.tasks} | {r.pod_seconds:.0f} | {r.pct(0.5):.2f} "
                f"| {r.pct(0.95):.2f} | {r.pct(0.99):.2f} | {cold} | {r.interrupted} "
                f"| {r.max_replicas} | {goal} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--markdown", action="store_true", help="print only the table")
    ap.add_argument("--check", action="store_true", help="exit 1 unless the goal holds")
    args = ap.parse_args(argv)
    rows = run_all(args.seed)
    if not args.markdown:
        print(
            f"seed {args.seed}; concurrency {CONCURRENCY}, prefetch {PREFETCH}, grace "
            f"{GRACE_S:g}s, pod start {START_DELAY_S[0]:g}-{START_DELAY_S[1]:g}s"
        )
    print(table(rows))
    ok = all(goal_met(k, p) for _, k, p in rows)
    if args.check and not ok:
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
