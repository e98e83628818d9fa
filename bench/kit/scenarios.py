"""The benchmark scenarios, written once against the :class:`adapters.base.Adapter` API.

Why it exists: every system must be measured by the same code with the same method, so a
scenario is a function ``(adapter, kind, sizes, ctx) -> list[Figure]`` that knows nothing
about any queue library. Method, in short:

* ``enqueue`` — wall time around ``enqueue_one(n)`` / ``enqueue_batch(n)``; no workers.
* ``throughput`` — enqueue ``n`` no-ops first (untimed), then start the workers; the rate
  is ``n / (last task end - first task start)`` from the timestamps the tasks record
  (``peers/benchprogress.py``), so worker start-up is excluded and no log line is read.
  Run twice: results stored, results not stored.
* ``memory`` — after the results-stored drain: RSS of the worker process trees (psutil)
  and Redis ``used_memory`` (total and growth over the flushed baseline).
* ``latency`` — ``roundtrip()`` ``n`` times in sequence on an idle worker, after a warm-up.
* ``mixed`` — ``n`` tasks sleeping seeded-random 1-20 ms, drained like ``throughput``.
* ``reference`` — raw redis-py on the same server: sequential PING, sequential LPUSH,
  pipelined LPUSH; the ceiling any Redis-backed queue works under.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import redis
from adapters.base import Adapter

from kit import procs
from kit.sizes import Sizes


@dataclass(frozen=True)
class Figure:
    """One measured number."""

    scenario: str
    figure: str
    value: float
    unit: str
    #: "higher" or "lower": which direction is better
    better: str
    #: tasks (or operations) the figure was measured over
    n: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Context:
    """What a scenario may use besides the adapter."""

    redis_url: str
    #: where py-spy SVGs go; ``None`` disables profiling
    profile_dir: Path | None = None
    #: whether the throughput scenario also reports the memory figures
    with_memory: bool = False

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)


class ScenarioError(RuntimeError):
    """A run that produced no usable figure (timeout, worker died, ...)."""


def _flush(ctx: Context) -> None:
    client = ctx.client()
    try:
        client.flushall()
    finally:
        client.close()


def _used_memory(ctx: Context) -> int:
    client = ctx.client()
    try:
        return int(client.info("memory")["used_memory"])
    finally:
        client.close()


def _preload(adapter: Adapter, n: int, *, results: bool) -> None:
    if not adapter.enqueue_batch(n, results=results):
        adapter.enqueue_one(n, results=results)


def _size(adapter: Adapter, kind: str, wanted: int) -> int:
    cap = adapter.drain_cap(kind)
    return wanted if cap is None else min(wanted, cap)


def _drain(adapter: Adapter, kind: str, n: int, sizes: Sizes, *, profile_svg: Path | None = None
           ) -> tuple[float, bool]:
    """Start workers on a preloaded queue; return (tasks/s, complete?). Workers stay up."""
    adapter.start_workers(kind, profile_svg=profile_svg)
    progress = adapter.wait_drained(n, sizes.drain_timeout_s)
    if progress.count == 0:
        raise ScenarioError(f"no task finished within {sizes.drain_timeout_s:.0f}s "
                            f"(workers alive: {adapter.workers_alive()})")
    return progress.count / progress.elapsed_s, progress.count >= n


def run_enqueue(adapter: Adapter, kind: str, sizes: Sizes, ctx: Context) -> list[Figure]:
    figures: list[Figure] = []
    n = sizes.enqueue
    for figure, call in (
        ("one_by_one", lambda: adapter.enqueue_one(n, results=True)),
        ("one_by_one_noresult", lambda: adapter.enqueue_one(n, results=False)),
        ("batched", lambda: adapter.enqueue_batch(n, results=True)),
    ):
        _flush(ctx)
        started = time.perf_counter()
        supported = call()
        elapsed = time.perf_counter() - started
        if supported is not False:
            figures.append(Figure("enqueue", figure, n / elapsed, "tasks/s", "higher", n))
    _flush(ctx)
    return figures


def run_throughput(adapter: Adapter, kind: str, sizes: Sizes, ctx: Context,
                   *, memory_only: bool = False) -> list[Figure]:
    figures: list[Figure] = []
    n = _size(adapter, kind, sizes.throughput)
    variants = (True,) if memory_only else (True, False)
    for results in variants:
        _flush(ctx)
        baseline = _used_memory(ctx)
        _preload(adapter, n, results=results)
        svg = None
        if ctx.profile_dir is not None and results and not memory_only:
            svg = ctx.profile_dir / f"profile-{adapter.name}-{kind}.svg"
        try:
            rate, complete = _drain(adapter, kind, n, sizes, profile_svg=svg)
            name = "results" if results else "no_results"
            if not memory_only:
                figures.append(Figure("throughput", name if complete else f"{name}_partial",
                                      rate, "tasks/s", "higher", n))
            if results and (ctx.with_memory or memory_only):
                time.sleep(0.2)  # let result writes and acks settle
                rss = procs.tree_rss_bytes(adapter.worker_pids())
                used = _used_memory(ctx)
                figures += [
                    Figure("memory", "worker_rss", rss / 2**20, "MiB", "lower", n),
                    Figure("memory", "redis_used", used / 2**20, "MiB", "lower", n),
                    Figure("memory", "redis_growth", (used - baseline) / 2**20, "MiB", "lower", n),
                ]
        finally:
            adapter.stop_workers()
    _flush(ctx)
    return figures


def run_memory(adapter: Adapter, kind: str, sizes: Sizes, ctx: Context) -> list[Figure]:
    return run_throughput(adapter, kind, sizes, ctx, memory_only=True)


def _percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 100))))
    return sorted_values[rank - 1]


def run_latency(adapter: Adapter, kind: str, sizes: Sizes, ctx: Context) -> list[Figure]:
    _flush(ctx)
    adapter.start_workers(kind)
    try:
        adapter.roundtrip(60.0)  # first one waits for worker start-up
        for _ in range(sizes.latency_warmup):
            adapter.roundtrip(10.0)
        samples: list[float] = []
        for _ in range(sizes.latency):
            started = time.perf_counter()
            adapter.roundtrip(10.0)
            samples.append((time.perf_counter() - started) * 1000.0)
    finally:
        adapter.stop_workers()
        _flush(ctx)
    samples.sort()
    n = len(samples)
    return [
        Figure("latency", "p50", _percentile(samples, 50), "ms", "lower", n),
        Figure("latency", "p99", _percentile(samples, 99), "ms", "lower", n),
        Figure("latency", "p999", _percentile(samples, 99.9), "ms", "lower", n),
        Figure("latency", "mean", sum(samples) / n, "ms", "lower", n),
    ]


def mixed_durations(n: int, seed: int) -> list[int]:
    """The seeded 1-20 ms sleep durations every system gets."""
    rng = random.Random(seed)
    return [rng.randint(1, 20) for _ in range(n)]


def run_mixed(adapter: Adapter, kind: str, sizes: Sizes, ctx: Context) -> list[Figure]:
    _flush(ctx)
    durations = mixed_durations(sizes.mixed, sizes.seed)[: _size(adapter, kind, sizes.mixed)]
    adapter.enqueue_sleeps(durations)
    try:
        rate, complete = _drain(adapter, kind, len(durations), sizes)
    finally:
        adapter.stop_workers()
        _flush(ctx)
    name = "sleep_1_20ms" if complete else "sleep_1_20ms_partial"
    return [Figure("mixed", name, rate, "tasks/s", "higher", len(durations))]


def mixed_ideal_rate(sizes: Sizes, slots: int = 16) -> float:
    """Tasks/s that ``slots`` perfectly busy slots would reach on the mixed durations."""
    durations = mixed_durations(sizes.mixed, sizes.seed)
    return slots / (sum(durations) / len(durations) / 1000.0)


def run_reference(sizes: Sizes, ctx: Context) -> list[Figure]:
    """Raw redis-py round trips on the benchmark's Redis (no adapter)."""
    _flush(ctx)
    client = ctx.client()
    figures: list[Figure] = []
    try:
        n = sizes.reference
        started = time.perf_counter()
        for _ in range(n):
            client.ping()
        figures.append(Figure("reference", "ping_sequential", n / (time.perf_counter() - started),
                              "ops/s", "higher", n))
        started = time.perf_counter()
        for i in range(n):
            client.lpush("bench:ref", i)
        figures.append(Figure("reference", "lpush_sequential", n / (time.perf_counter() - started),
                              "ops/s", "higher", n))
        client.delete("bench:ref")
        started = time.perf_counter()
        for _ in range(sizes.pipelines):
            pipe = client.pipeline(transaction=False)
            for i in range(sizes.pipeline):
                pipe.lpush("bench:ref", i)
            pipe.execute()
        total = sizes.pipelines * sizes.pipeline
        figures.append(Figure("reference", f"lpush_pipelined_{sizes.pipeline}", total / (time.perf_counter() - started),
                              "ops/s", "higher", total))
    finally:
        client.close()
        _flush(ctx)
    return figures


#: Scenario name → function taking (adapter, kind, sizes, ctx).
ADAPTER_SCENARIOS: dict[str, Callable[[Adapter, str, Sizes, Context], list[Figure]]] = {
    "enqueue": run_enqueue,
    "throughput": run_throughput,
    "memory": run_memory,
    "latency": run_latency,
    "mixed": run_mixed,
}
