"""Run ONE scenario for ONE system and worker kind, then print its figures as JSON.

Why it exists: the harness runs every (system, kind, scenario, rep) in a fresh child
process, so one system's imports, globals, event loops or leaked connections can never
affect the next, and a hung run can be killed as a whole process group (its workers
included, they share the child's group). Not meant to be run by hand, but it can be:

    bench/.venv-peers/bin/python bench/runone.py --system celery --kind prefork \
        --scenario latency --redis-url redis://127.0.0.1:PORT/0 --quick

The last stdout line starting with ``BENCH-RESULT`` carries the JSON result.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path

_BENCH = Path(__file__).resolve().parent
for _path in (_BENCH, _BENCH / "peers"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from kit import scenarios  # noqa: E402
from kit.sizes import FULL, QUICK, Sizes  # noqa: E402

#: Prefix of the stdout line the harness parses.
RESULT_PREFIX = "BENCH-RESULT "


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", required=True)
    parser.add_argument("--kind", default="-")
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes-json", help="override sizes (JSON object of Sizes fields)")
    parser.add_argument("--log-dir", type=Path, default=_BENCH / "out" / "logs")
    parser.add_argument("--profile-dir", type=Path)
    parser.add_argument("--with-memory", action="store_true")
    return parser.parse_args(argv)


def _sizes(args: argparse.Namespace) -> Sizes:
    base = QUICK if args.quick else FULL
    if not args.sizes_json:
        return base
    fields = {k: type(getattr(base, k))(v) for k, v in json.loads(args.sizes_json).items()}
    return Sizes(**{**base.__dict__, **fields})


def run(args: argparse.Namespace) -> dict[str, object]:
    sizes = _sizes(args)
    # peer task modules read the URL at import time, on the producer side too
    os.environ["BENCH_REDIS_URL"] = args.redis_url
    ctx = scenarios.Context(redis_url=args.redis_url, profile_dir=args.profile_dir,
                            with_memory=args.with_memory)
    if args.scenario == "reference":
        figures = scenarios.run_reference(sizes, ctx)
        import redis
        return {"version": f"redis-py {redis.__version__}", "figures": [f.as_dict() for f in figures]}

    import adapters
    adapter = adapters.load(args.system)(redis_url=args.redis_url, log_dir=args.log_dir)
    try:
        scenario = scenarios.ADAPTER_SCENARIOS[args.scenario]
        figures = scenario(adapter, args.kind, sizes, ctx)
        return {"version": adapter.version(), "figures": [f.as_dict() for f in figures]}
    finally:
        adapter.stop_workers()
        adapter.close()


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    args.log_dir.mkdir(parents=True, exist_ok=True)
    try:
        payload = run(args)
        payload["ok"] = True
    except Exception as exc:
        traceback.print_exc()
        payload = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "figures": []}
    sys.stdout.write(RESULT_PREFIX + json.dumps(payload) + "\n")
    sys.stdout.flush()
    return 0 if payload["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
