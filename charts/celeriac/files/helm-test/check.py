"""`helm test`: run a task through the installed system and check its result.

1. A worker in this pod consumes a queue of its own; a task sent through the release's
   broker (CELERIAC_BROKER_URL from its Secret) must come back with its result.
2. With CHECK_OPERATOR=1, a Task object is created through the Kubernetes API; the operator
   must enqueue it and report state SUCCESS and the result in its status.
Exit 0 on success; any failure exits non-zero with one line saying what was not seen.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from typing import Any

from celeriac import Celeriac

TIMEOUT = float(os.environ.get("CHECK_TIMEOUT", "120"))


def fail(message: str) -> None:
    print(f"helm test FAILED: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def through_operator(queue: str, token: str) -> None:
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:  # outside a pod (the chart's own tests): KUBECONFIG
        config.load_kube_config()
    namespace = os.environ["POD_NAMESPACE"]
    api = client.CustomObjectsApi()
    body = {
        "apiVersion": "celeriac.dev/v1alpha1",
        "kind": "Task",
        "metadata": {"generateName": "helm-test-"},
        "spec": {"task": "helmtest.echo", "args": [token], "queue": queue},
    }
    created = api.create_namespaced_custom_object("celeriac.dev", "v1alpha1", namespace, "tasks", body)
    name = created["metadata"]["name"]
    try:
        deadline = time.monotonic() + TIMEOUT
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            obj = api.get_namespaced_custom_object("celeriac.dev", "v1alpha1", namespace, "tasks", name)
            status = obj.get("status") or {}
            if status.get("state") in ("SUCCESS", "FAILURE", "REVOKED", "REJECTED"):
                break
            time.sleep(1)
        if status.get("state") != "SUCCESS":
            fail(f"Task {name}: state {status.get('state')!r} after {TIMEOUT:.0f}s (status {status})")
        result = status.get("result")
        if result not in (token, json.dumps(token)):
            fail(f"Task {name}: result {result!r}, expected {token!r}")
        print(f"Task {name} (through the operator): SUCCESS, result {result!r}", flush=True)
    finally:
        api.delete_namespaced_custom_object("celeriac.dev", "v1alpha1", namespace, "tasks", name)


def main() -> None:
    queue = f"helm-test-{uuid.uuid4().hex[:12]}"
    here = os.path.dirname(os.path.abspath(__file__))
    worker = subprocess.Popen(
        ["celeriac", "-A", "helmtest", "worker", "-P", "threads", "-c", "1", "-Q", queue,
         "--loglevel", "warning"],
        cwd=here,
    )
    app = Celeriac("helm-test", set_as_current=False)
    try:
        token = uuid.uuid4().hex
        started = time.monotonic()
        got = app.send_task("helmtest.echo", args=[token], queue=queue).get(timeout=TIMEOUT)
        if got != token:
            fail(f"task result {got!r}, expected {token!r}")
        print(f"task through the broker: result back in {time.monotonic() - started:.2f}s", flush=True)
        if os.environ.get("CHECK_OPERATOR") == "1":
            through_operator(queue, uuid.uuid4().hex)
    finally:
        app.close()
        worker.terminate()
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
    print("helm test passed", flush=True)


if __name__ == "__main__":
    main()
