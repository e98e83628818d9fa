"""Benchmark runner: every system x worker kind x scenario x repetition, on one private Redis.

Why it exists: celeriac's claims ("faster than Celery on the same Redis") are only worth
what the comparison is worth, so peers and celeriac are measured by the same scenarios
(``kit/scenarios.py``) through the same adapter interface (``adapters/base.py``), in one
run, against one redis-server that this script starts on a free port and always kills.
Each (system, kind, scenario, rep) runs in a fresh child process (``runone.py``) in its
own process group, killed whole on timeout; Redis is flushed between runs.

Run it with the peers venv (``bench/setup_peers.sh`` creates it)::

    bench/.venv-peers/bin/python bench/harness.py --quick
    bench/.venv-peers/bin/python bench/harness.py --only celery,rq --scenarios throughput,latency --reps 3
    bench/.venv-peers/bin/python bench/harness.py --merge out/a/results.json out/b/results.json

Outputs ``<out>/results.json`` (raw runs + medians) and ``<out>/results.md``, rewritten after
every run so an interrupted run keeps what it measured. Nothing here imports celeriac or a
queue library: adapters are loaded by name and only their children import libraries.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
for _path in (BENCH, BENCH / "peers"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

try:
    import psutil
    import redis  # noqa: F401
except ImportError as _exc:  # pragma: no cover - environment problem
    sys.exit(f"harness: {_exc}. Run bench/setup_peers.sh and use bench/.venv-peers/bin/python.")

import adapters  # noqa: E402
from kit import procs, report, scenarios  # noqa: E402
from kit.redis_server import RedisServer  # noqa: E402
from kit.sizes import FULL, QUICK, Sizes  # noqa: E402

#: Scenarios in the order they run within one system.
ALL_SCENARIOS = ("reference", "enqueue", "throughput", "memory", "latency", "mixed")
#: Pseudo-system name for the reference scenario (raw redis-py).
REFERENCE_SYSTEM = "redis-py"
#: Extra seconds a child gets beyond its scenario's own bounds.
CHILD_SLACK_S = 120.0


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark celeriac and its peers on one private Redis.")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 rep: a smoke run of a few minutes")
    parser.add_argument("--only", help="comma-separated systems (default: every adapter in bench/adapters)")
    parser.add_argument("--scenarios", help=f"comma-separated, from {','.join(ALL_SCENARIOS)} (default: all)")
    parser.add_argument("--kinds", help="comma-separated worker kinds to keep (default: each adapter's own)")
    parser.add_argument("--reps", type=int, help="repetitions (default 3, or 1 with --quick)")
    parser.add_argument("--out", type=Path, default=BENCH / "out", help="output directory (default bench/out)")
    parser.add_argument("--size", action="append", default=[], metavar="FIELD=VALUE",
                        help="override one Sizes field, e.g. --size throughput=5000")
    parser.add_argument("--profile", action="store_true",
                        help="run the throughput workers under py-spy; SVGs go to <out>/profiles")
    parser.add_argument("--redis-server", default="redis-server", help="redis-server binary")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="RESULTS_JSON",
                        help="only merge earlier results.json files into <out>/results.{json,md}")
    return parser.parse_args(argv)


def _sizes(args: argparse.Namespace) -> Sizes:
    base = QUICK if args.quick else FULL
    fields: dict[str, Any] = {}
    for item in args.size:
        key, _, value = item.partition("=")
        if not hasattr(base, key):
            raise SystemExit(f"harness: unknown size field {key!r}")
        fields[key] = type(getattr(base, key))(value)
    return Sizes(**{**base.__dict__, **fields})


def _child_timeout(scenario: str, sizes: Sizes) -> float:
    drains = {"throughput": 2, "memory": 1, "mixed": 1}.get(scenario, 0)
    return CHILD_SLACK_S + 2 * drains * sizes.drain_timeout_s + (300.0 if scenario in ("enqueue", "latency") else 0)


def _meta(args: argparse.Namespace, sizes: Sizes, reps: int, srv: RedisServer) -> dict[str, Any]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "redis_version": srv.version(),
        "reps": reps,
        "quick": bool(args.quick),
        "sizes": sizes.as_dict(),
        "mixed_ideal_16_slots": round(scenarios.mixed_ideal_rate(sizes), 1),
        "profile": bool(args.profile),
        "argv": sys.argv[1:],
        "versions": {},
    }


def _run_child(*, system: str, kind: str, scenario: str, rep: int, srv: RedisServer,
               args: argparse.Namespace, sizes: Sizes, with_memory: bool) -> dict[str, Any]:
    """Run one scenario in a child process group; always returns a run record."""
    log_dir = args.out / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"rep{rep}-{system}-{kind}-{scenario}.log"
    cmd = [sys.executable, str(BENCH / "runone.py"), "--system", system, "--kind", kind,
           "--scenario", scenario, "--redis-url", srv.url, "--log-dir", str(log_dir),
           "--sizes-json", json.dumps(sizes.as_dict())]
    if args.quick:
        cmd.append("--quick")
    if with_memory:
        cmd.append("--with-memory")
    if args.profile and scenario == "throughput":
        (args.out / "profiles").mkdir(parents=True, exist_ok=True)
        cmd += ["--profile-dir", str(args.out / "profiles")]
    record: dict[str, Any] = {"rep": rep, "system": system, "pool": kind, "scenario": scenario,
                              "ok": False, "figures": []}
    record["loadavg_1m"] = round(os.getloadavg()[0], 2)
    started = time.monotonic()
    child = procs.spawn(cmd, log_path=log_path, new_session=True)
    try:
        child.wait(timeout=_child_timeout(scenario, sizes))
    except subprocess.TimeoutExpired:
        record["error"] = f"timed out after {_child_timeout(scenario, sizes):.0f}s (see {log_path})"
    finally:
        procs.kill_group(child)  # the child's workers share its process group
        srv.flush()
    record["wall_s"] = round(time.monotonic() - started, 1)
    if "error" not in record:
        record.update(_parse_result(log_path))
    return record


def _parse_result(log_path: Path) -> dict[str, Any]:
    prefix = "BENCH-RESULT "
    lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.startswith(prefix)]
    if not lines:
        return {"ok": False, "error": f"child printed no result (see {log_path})"}
    data: dict[str, Any] = json.loads(lines[-1][len(prefix):])
    if not data.get("ok"):
        data["error"] = f"{data.get('error', '?')} (see {log_path})"
    return data


def _plan(systems: list[str], scenarios: list[str], kinds_filter: set[str] | None
          ) -> list[tuple[str, str, str, bool]]:
    """(system, kind, scenario, with_memory) in run order for one repetition."""
    plan: list[tuple[str, str, str, bool]] = []
    if "reference" in scenarios:
        plan.append((REFERENCE_SYSTEM, "-", "reference", False))
    fold_memory = "throughput" in scenarios and "memory" in scenarios
    for system in systems:
        cls = adapters.load(system)
        for scenario in scenarios:
            if scenario == "reference" or (scenario == "memory" and fold_memory):
                continue
            for kind in cls.kinds(scenario):
                if kinds_filter and kind not in kinds_filter and kind != "-":
                    continue
                plan.append((system, kind, scenario, scenario == "throughput" and fold_memory))
    return plan


def _summary(record: dict[str, Any]) -> str:
    if not record.get("ok"):
        return f"FAILED: {record.get('error', '?')}"
    return ", ".join(f"{f['figure']}={f['value']:.1f}{f['unit']}" for f in record["figures"])


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    args.out = args.out.resolve()
    if args.merge:
        meta, runs = report.load_runs(args.merge)
        rows = report.write(args.out, meta, runs)
        print(f"harness: merged {len(runs)} runs into {len(rows)} rows -> {args.out / 'results.md'}")
        return 0

    signal.signal(signal.SIGTERM, _terminate)
    sizes = _sizes(args)
    reps = args.reps if args.reps is not None else (1 if args.quick else 3)
    systems = args.only.split(",") if args.only else adapters.available()
    scenarios = args.scenarios.split(",") if args.scenarios else list(ALL_SCENARIOS)
    unknown = [s for s in scenarios if s not in ALL_SCENARIOS]
    if unknown:
        raise SystemExit(f"harness: unknown scenario(s) {unknown}; choose from {ALL_SCENARIOS}")
    missing = [s for s in systems if s not in adapters.available()]
    if missing:
        raise SystemExit(f"harness: no adapter for {missing}; available: {adapters.available()}")
    plan = _plan(systems, scenarios, set(args.kinds.split(",")) if args.kinds else None)
    args.out.mkdir(parents=True, exist_ok=True)

    runs: list[dict[str, Any]] = []
    total = len(plan) * reps
    with RedisServer(binary=args.redis_server, log_path=args.out / "logs" / "redis-server.log") as srv:
        meta = _meta(args, sizes, reps, srv)
        print(f"harness: redis-server {meta['redis_version']} at {srv.url}; {total} runs", flush=True)
        done = 0
        for rep in range(1, reps + 1):
            for system, kind, scenario, with_memory in plan:
                done += 1
                print(f"[{done}/{total}] rep {rep} {system} {kind} {scenario} ...", end=" ", flush=True)
                record = _run_child(system=system, kind=kind, scenario=scenario, rep=rep, srv=srv,
                                    args=args, sizes=sizes, with_memory=with_memory)
                print(f"{record['wall_s']}s {_summary(record)}", flush=True)
                if record.get("version"):
                    meta["versions"][system] = record["version"]
                runs.append(record)
                report.write(args.out, meta, runs)
    rows = report.write(args.out, meta, runs)
    failed = sum(1 for r in runs if not r.get("ok"))
    print(f"harness: {len(runs)} runs ({failed} failed), {len(rows)} rows -> {args.out / 'results.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
