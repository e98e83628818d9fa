"""How big each scenario is, for a full run and for ``--quick``.

Why it exists: the sizes decide run time and comparability, so they are named once and
written into ``results.json``; a scenario never hard-codes a count.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Sizes:
    """Task counts and bounds for one harness run."""

    #: tasks sent by one producer, one call at a time and batched
    enqueue: int = 20_000
    #: pre-enqueued no-op tasks drained by the workers
    throughput: int = 20_000
    #: sequential enqueue-and-wait round trips on an idle worker
    latency: int = 1_000
    #: warm-up round trips before latency is measured (also waits for worker start-up)
    latency_warmup: int = 20
    #: tasks sleeping a seeded random 1-20 ms
    mixed: int = 2_000
    #: sequential raw redis-py commands in the reference scenario
    reference: int = 20_000
    #: commands per pipeline in the reference scenario
    pipeline: int = 1_000
    #: pipelines sent in the reference scenario
    pipelines: int = 100
    #: upper bound for one drain (throughput, mixed); a slower system reports a partial rate
    drain_timeout_s: float = 240.0
    #: seed for the mixed scenario's sleep durations
    seed: int = 20_240_601

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


#: Full run.
FULL = Sizes()
#: ``--quick``: the whole peer set in a few minutes; figures are only indicative.
QUICK = Sizes(
    enqueue=1_000, throughput=1_000, latency=100, latency_warmup=5, mixed=200,
    reference=2_000, pipeline=1_000, pipelines=10, drain_timeout_s=60.0,
)
