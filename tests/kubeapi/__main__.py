"""``python -m tests.kubeapi --port N``: the emulator standalone, for poking at by hand."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from .fixture import KubeAPI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.kubeapi", description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--crds", nargs="*", default=[], help="CRD YAML files to install")
    parser.add_argument("--workdir", default=None, help="where to write the kubeconfig")
    args = parser.parse_args(argv)
    api = KubeAPI(workdir=args.workdir, host=args.host, port=args.port).start()
    if args.crds:
        api.install_crds([Path(p) for p in args.crds])
    print(f"serving on {api.url}\nexport KUBECONFIG={api.kubeconfig}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    done.wait()
    api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
