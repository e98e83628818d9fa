"""The chart rendered by the real Helm SDK: lint, Kubernetes schemas, security, RBAC, values.

Every value set of ``chart_helpers.VALUE_SETS`` is rendered as ``helm template`` would
(helm-python-sdk: Helm's own Go code), linted strictly, and each object is validated with
``kubernetes-validate`` in strict mode (unknown fields refused) against every Kubernetes
minor the chart claims (Chart.yaml kubeVersion >= 1.29, up to the newest schemas the
package has). Objects of other operators' CRDs (ServiceMonitor, PodMonitor,
PrometheusRule) have no such schema and are checked by shape here.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from chart_helpers import (
    CHART,
    EXTERNAL_URL,
    NAMESPACE,
    RELEASE,
    VALUE_SETS,
    by_kind,
    load_chart,
    one,
    pod_specs,
    render,
    render_raw,
    values,
)

kubernetes_validate = pytest.importorskip("kubernetes_validate")
helm = pytest.importorskip("helm_python")

MIN_KUBE = (1, 29)
OTHER_OPERATORS_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
FULL = f"{RELEASE}-celeriac"


def kube_versions() -> list[str]:
    found = {tuple(int(p) for p in v.split(".")[:2]) for v in kubernetes_validate.utils.all_versions()}
    return [f"{a}.{b}" for a, b in sorted(found) if (a, b) >= MIN_KUBE]


def test_chart_metadata_claims_the_versions_tested() -> None:
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert meta["apiVersion"] == "v2"
    assert meta["kubeVersion"] == f">={MIN_KUBE[0]}.{MIN_KUBE[1]}.0-0"
    assert meta["appVersion"]
    assert len(kube_versions()) >= 5, kube_versions()


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_lint_is_clean(name: str) -> None:
    report = helm.lint(str(CHART), values(name), strict=True, namespace=NAMESPACE,
                       kube_version=f"v{MIN_KUBE[0]}.{MIN_KUBE[1]}.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"] and not problems, report


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_object_validates_strictly(name: str) -> None:
    objects = render(values(name))
    assert objects
    checked = 0
    for version in kube_versions():
        for obj in objects:
            where = f"{obj['kind']}/{obj['metadata']['name']} on Kubernetes {version}"
            try:
                kubernetes_validate.validate(obj, version, strict=True)
                checked += 1
            except kubernetes_validate.SchemaNotFoundError:
                assert obj["kind"] in OTHER_OPERATORS_KINDS | {"WorkerPool"}, where
            except kubernetes_validate.ValidationError as exc:
                path = ".".join(str(p) for p in exc.path)
                pytest.fail(f"{where}: {path}: {exc.message}")
    assert checked >= len(kube_versions())


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_pod_is_locked_down(name: str) -> None:
    """Restricted Pod Security on every pod; resources on every container; probes on every
    long-running container (the helm test pod runs once: no probes)."""
    objects = render(values(name))
    pods = pod_specs(objects)
    assert pods
    for where, meta, spec in pods:
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True, where
        assert psc["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert psc.get("runAsUser", 0) != 0, where
        is_operator = "-operator" in where and where.startswith("Deployment/")
        is_test = meta.get("annotations", {}).get("helm.sh/hook") == "test"
        if not is_operator and not (is_test and spec.get("serviceAccountName")):
            assert spec["automountServiceAccountToken"] is False, where
        assert "hostNetwork" not in spec and "hostPID" not in spec, where
        writable = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
        writable |= {t["metadata"]["name"] for o in objects if o["kind"] == "StatefulSet"
                     for t in o["spec"].get("volumeClaimTemplates", [])}
        for c in spec["containers"] + spec.get("initContainers", []):
            cwhere = f"{where} container {c['name']}"
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, cwhere
            assert sc["readOnlyRootFilesystem"] is True, cwhere
            assert sc["capabilities"]["drop"] == ["ALL"], cwhere
            assert not sc["capabilities"].get("add"), cwhere
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, cwhere
            assert sc.get("privileged", False) is False, cwhere
            res = c["resources"]
            assert res["requests"]["cpu"] and res["requests"]["memory"], cwhere
            assert res["limits"]["memory"], cwhere
            if not is_test:
                assert c.get("livenessProbe") and c.get("readinessProbe"), cwhere
            for mount in c.get("volumeMounts", []):
                if not mount.get("readOnly"):
                    assert mount["name"] in writable, f"{cwhere}: {mount['name']} is writable"
            # /tmp is writable for everything that runs the image (HOME=/tmp).
            assert any(m["mountPath"] == "/tmp" for m in c.get("volumeMounts", [])), cwhere


def test_operator_deployment_command_probes_and_replicas() -> None:
    objects = render(values("external-redis"))
    dep = one(objects, "Deployment", f"{FULL}-operator")
    assert dep["spec"]["replicas"] == 2
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["args"][:1] == ["operator"]
    assert "--metrics-port" in c["args"] and c["args"][c["args"].index("--metrics-port") + 1] == "9090"
    assert c["args"][c["args"].index("--health-port") + 1] == "8080"
    assert c["args"][c["args"].index("--namespace") + 1] == NAMESPACE
    assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "health"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"metrics": 9090, "health": 8080}
    broker = next(e for e in c["env"] if e["name"] == "CELERIAC_BROKER_URL")
    assert broker["valueFrom"]["secretKeyRef"] == {"name": f"{FULL}-broker", "key": "broker-url"}
    assert pod["serviceAccountName"] == f"{FULL}-operator"
    assert one(objects, "PodDisruptionBudget", f"{FULL}-operator")["spec"]["minAvailable"] == 1
    assert one(objects, "Service", f"{FULL}-operator-metrics")["spec"]["ports"][0]["port"] == 9090
    cluster = render(values("cluster-wide"))
    args = one(cluster, "Deployment", f"{FULL}-operator")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--all-namespaces" in args and "--namespace" not in args


def test_beat_deployment() -> None:
    objects = render(values("external-redis"))
    dep = one(objects, "Deployment", f"{FULL}-beat")
    assert dep["spec"]["replicas"] == 2
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    assert c["args"][0] == "beat"
    assert c["args"][c["args"].index("--health-port") + 1] == "8001"
    assert c["args"][c["args"].index("--metrics-port") + 1] == "9808"
    assert one(objects, "PodDisruptionBudget", f"{FULL}-beat")["spec"]["minAvailable"] == 1
    with_app = render({**values("external-redis"), "app": "myapp.tasks"})
    args = one(with_app, "Deployment", f"{FULL}-beat")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--app") + 1] == "myapp.tasks"
    minimal = render(values("minimal"))
    assert not [o for o in minimal if "beat" in o["metadata"]["name"]]
    assert not by_kind(minimal, "PodDisruptionBudget")  # one operator replica: no PDB


def test_scheduling_values_reach_the_pods() -> None:
    objects = render(values("scheduling"))
    op = one(objects, "Deployment", f"{FULL}-operator")["spec"]["template"]
    assert op["metadata"]["labels"]["team"] == "platform"
    assert op["spec"]["priorityClassName"] == "system-cluster-critical"
    assert op["spec"]["tolerations"][0]["key"] == "dedicated"
    assert op["spec"]["topologySpreadConstraints"][0]["maxSkew"] == 1
    assert "podAntiAffinity" in op["spec"]["affinity"]  # spreadReplicas when affinity is empty
    assert op["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert op["spec"]["containers"][0]["image"] == "ghcr.io/celeriac/celeriac@sha256:" + "a" * 64
    beat = one(objects, "Deployment", f"{FULL}-beat")["spec"]["template"]
    assert "nodeAffinity" in beat["spec"]["affinity"] and "podAntiAffinity" not in beat["spec"]["affinity"]
    assert beat["metadata"]["annotations"]["example.com/note"] == "x"
    redis = one(objects, "StatefulSet", f"{FULL}-redis")["spec"]["template"]
    assert redis["metadata"]["labels"]["team"] == "data"
    assert redis["spec"]["nodeSelector"] == {"disk": "ssd"}
    # Extra pod labels never enter the selectors (which are immutable).
    for dep in by_kind(objects, "Deployment") + by_kind(objects, "StatefulSet"):
        assert "team" not in dep["spec"]["selector"]["matchLabels"]


def rules_of(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] in ("Role", "ClusterRole")]


def test_rbac_is_least_privilege_and_namespaced_by_default() -> None:
    objects = render(values("external-redis"))
    assert not by_kind(objects, "ClusterRole") and not by_kind(objects, "ClusterRoleBinding")
    granted: dict[tuple[str, str], set[str]] = {}
    for role in rules_of(objects):
        if role["metadata"]["name"].endswith("-test"):
            continue
        assert role["metadata"]["namespace"] == NAMESPACE
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"], rule
            assert "*" not in rule["apiGroups"], rule
            for group in rule["apiGroups"]:
                for res in rule["resources"]:
                    granted.setdefault((group, res), set()).update(rule["verbs"])
    assert granted == {
        ("celeriac.dev", "tasks"): {"get", "list", "watch", "create", "patch", "delete"},
        ("celeriac.dev", "schedules"): {"get", "list", "watch", "patch"},
        ("celeriac.dev", "workerpools"): {"get", "list", "watch", "patch"},
        ("celeriac.dev", "tasks/status"): {"get", "patch"},
        ("celeriac.dev", "schedules/status"): {"get", "patch"},
        ("celeriac.dev", "workerpools/status"): {"get", "patch"},
        ("celeriac.dev", "workerpools/scale"): {"get", "patch", "update"},
        ("celeriac.dev", "workerpools/finalizers"): {"update"},
        ("apps", "deployments"): {"get", "list", "watch", "create", "patch", "update", "delete"},
        ("", "pods"): {"get", "list", "watch", "patch"},
        ("", "events"): {"create", "patch"},
        ("events.k8s.io", "events"): {"create", "patch"},
        ("coordination.k8s.io", "leases"): {"get", "list", "watch", "create", "update", "patch"},
    }
    # Secrets are never readable by the operator: the broker URL comes in its environment.
    assert ("", "secrets") not in granted
    sa = one(objects, "ServiceAccount", f"{FULL}-operator")
    assert sa["automountServiceAccountToken"] is False  # mounted by the operator's pod only
    for binding in by_kind(objects, "RoleBinding"):
        assert binding["subjects"][0]["namespace"] == NAMESPACE


def test_cluster_wide_rbac() -> None:
    objects = render(values("cluster-wide"))
    (cr,) = by_kind(objects, "ClusterRole")
    (crb,) = by_kind(objects, "ClusterRoleBinding")
    assert crb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                              "name": cr["metadata"]["name"]}
    resources = {r for rule in cr["rules"] for r in rule["resources"]}
    assert "leases" not in resources  # leader election stays in the release namespace
    assert {"tasks", "workerpools", "deployments", "pods", "namespaces"} <= resources
    leader = one(objects, "Role", f"{FULL}-operator-leader")
    assert leader["rules"][0]["resources"] == ["leases"]


def test_broker_secret_per_source() -> None:
    import base64

    ext = render(values("external-redis"))
    secret = one(ext, "Secret", f"{FULL}-broker")
    assert base64.b64decode(secret["data"]["broker-url"]).decode() == EXTERNAL_URL
    assert not by_kind(ext, "StatefulSet")

    existing = render(values("existing-secret"))
    assert not by_kind(existing, "Secret")
    env = one(existing, "Deployment", f"{FULL}-operator")["spec"]["template"]["spec"]["containers"][0]["env"]
    ref = next(e for e in env if e["name"] == "CELERIAC_BROKER_URL")["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "my-broker", "key": "url"}

    bundled = render(values("bundled-redis"))
    password = base64.b64decode(one(bundled, "Secret", f"{FULL}-redis")["data"]["redis-password"]).decode()
    assert re.fullmatch(r"[A-Za-z0-9]{32}", password)
    url = base64.b64decode(one(bundled, "Secret", f"{FULL}-broker")["data"]["broker-url"]).decode()
    assert url == f"redis://:{password}@{FULL}-redis.{NAMESPACE}.svc:6379/0"
    fixed = render({"redis": {"enabled": True, "auth": {"password": "pw-1"}}})
    url = base64.b64decode(one(fixed, "Secret", f"{FULL}-broker")["data"]["broker-url"]).decode()
    assert url.startswith("redis://:pw-1@")


def test_bundled_redis_statefulset() -> None:
    objects = render(values("bundled-redis"))
    sts = one(objects, "StatefulSet", f"{FULL}-redis")
    (c,) = sts["spec"]["template"]["spec"]["containers"]
    assert c["image"].startswith("docker.io/library/redis:7")
    args = c["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
    assert sts["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 999
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "8Gi"
    assert {"/data", "/tmp"} == {m["mountPath"] for m in c["volumeMounts"]}
    assert c["startupProbe"] and c["livenessProbe"] and c["readinessProbe"]
    assert one(objects, "Service", f"{FULL}-redis")["spec"]["ports"][0]["port"] == 6379


def test_monitoring_off_by_default_and_wrapping_the_monitoring_files() -> None:
    assert not [o for o in render(values("external-redis"))
                if o["kind"] in OTHER_OPERATORS_KINDS or "dashboard" in o["metadata"]["name"]]
    objects = render(values("monitoring-on"))
    sm = one(objects, "ServiceMonitor", FULL)
    assert sm["metadata"]["labels"]["release"] == "prom"
    selected = [s for s in by_kind(objects, "Service")
                if all(s["metadata"]["labels"].get(k) == v
                       for k, v in sm["spec"]["selector"]["matchLabels"].items())]
    assert {s["metadata"]["name"] for s in selected} == {f"{FULL}-operator-metrics", f"{FULL}-beat-metrics"}
    assert all(s["spec"]["ports"][0]["name"] == sm["spec"]["endpoints"][0]["port"] for s in selected)
    assert sm["spec"]["endpoints"][0]["honorLabels"] is True  # pool series keep their namespace
    pm = one(objects, "PodMonitor", f"{FULL}-workers")
    assert pm["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    # The PrometheusRule carries every group of rules/*.yaml, unchanged.
    groups = []
    for path in sorted((CHART / "rules").glob("*.yaml")):
        groups += yaml.safe_load(path.read_text()).get("groups", [])
    assert one(objects, "PrometheusRule", FULL)["spec"]["groups"] == groups
    # One ConfigMap per dashboard, with the sidecar's label, holding the JSON as is.
    boards = sorted((CHART / "dashboards").glob("*.json"))
    maps = [o for o in by_kind(objects, "ConfigMap") if o["metadata"]["labels"].get("grafana_dashboard") == "1"]
    assert len(maps) == len(boards)
    for board in boards:
        (cm,) = [m for m in maps if board.name in m["data"]]
        assert json.loads(cm["data"][board.name]) == json.loads(board.read_text())
        assert cm["data"][board.name] == board.read_text().rstrip("\n")


def test_helm_test_hook_pod() -> None:
    objects = render(values("external-redis"))
    pod = one(objects, "Pod", f"{FULL}-test")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    cm = one(objects, "ConfigMap", f"{FULL}-test")
    assert set(cm["data"]) == {"check.py", "helmtest.py"}
    assert pod["spec"]["containers"][0]["command"] == ["python", "/scripts/check.py"]
    role = one(objects, "Role", f"{FULL}-test")
    assert role["rules"] == [{"apiGroups": ["celeriac.dev"], "resources": ["tasks"],
                              "verbs": ["create", "get", "delete"]}]
    off = render({**values("external-redis"), "tests": {"enabled": False}})
    assert not by_kind(off, "Pod")


def test_default_values_need_a_broker() -> None:
    with pytest.raises(helm.HelmError, match=r"set exactly one of broker\.url, broker\.existingSecret"):
        render_raw({})
    with pytest.raises(helm.HelmError, match="set exactly one of"):
        render_raw({"broker": {"url": EXTERNAL_URL}, "redis": {"enabled": True}})


@pytest.mark.parametrize(("vals", "message"), [
    ({"replicaCount": 3}, "additional properties 'replicaCount' not allowed"),
    ({"operator": {"replicas": "two"}}, "/operator/replicas"),
    ({"operator": {"replicas": 0}}, "/operator/replicas"),
    ({"beat": {"replicas": -1}}, "/beat/replicas"),
    ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    ({"broker": {"url": "amqp://guest@rabbit//"}}, "/broker/url"),
    ({"redis": {"enabled": "yes"}}, "/redis/enabled"),
    ({"redis": {"auth": {"password": "has spaces"}}}, "/redis/auth/password"),
    ({"podSecurityContext": {"runAsNonRoot": False}}, "/podSecurityContext/runAsNonRoot"),
    ({"containerSecurityContext": {"allowPrivilegeEscalation": True}}, "allowPrivilegeEscalation"),
    ({"containerSecurityContext": {"privileged": True}}, "privileged"),
    ({"metrics": {"serviceMonitor": {"interval": "often"}}}, "/metrics/serviceMonitor/interval"),
    ({"rbac": {"clusterwide": True}}, "additional properties 'clusterwide' not allowed"),
    ({"app": "not a module"}, "/app"),
])
def test_bad_values_are_refused_with_a_message(vals: dict[str, Any], message: str) -> None:
    with load_chart() as chart, pytest.raises(helm.HelmValuesError) as refused:
        chart.validate_schema(vals)
    assert message in str(refused.value)
    # Rendering (what install does) refuses them too.
    with pytest.raises(helm.HelmError):
        render_raw({**values("external-redis"), **vals})


def test_good_value_sets_pass_the_schema() -> None:
    with load_chart() as chart:
        for name in VALUE_SETS:
            chart.validate_schema(values(name))


def test_values_yaml_documents_every_key_the_schema_knows() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    assert schema["additionalProperties"] is False
    assert set(defaults) <= set(schema["properties"])
    assert set(schema["properties"]) - set(defaults) <= {"global"}
    text = (CHART / "values.yaml").read_text()
    assert len(re.findall(r"^\s*#", text, re.M)) > 40  # documented, not bare


@pytest.mark.parametrize("name", ["external-redis", "cluster-wide"])
def test_container_args_are_options_of_the_real_commands(name: str) -> None:
    """The operator's and the beat's args parse with the real CLIs (a misspelt or removed
    option fails here, not in a CrashLoopBackOff)."""
    from click.testing import CliRunner

    from celeriac.cli import main
    from celeriac_operator.cli import operator

    objects = render({**values(name), "app": "myapp"})
    runner = CliRunner()
    for component, command, prefix in (("operator", operator, 1), ("beat", main, 0)):
        args = container_of(one(objects, "Deployment", f"{FULL}-{component}"))["args"]
        done = runner.invoke(command, [*args[prefix:], "--help"])
        assert done.exit_code == 0, f"{component} {args}: {done.output}"


def container_of(dep: dict[str, Any]) -> dict[str, Any]:
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    return dict(c)


def test_operator_env_gives_worker_pools_the_chart_image_and_broker_secret(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables the chart sets on the operator are the ones it reads for every
    WorkerPool's pods (image, pull policy, broker Secret and key)."""
    from celeriac_operator.handlers.workerpools import pod_defaults

    vals = {"broker": {"existingSecret": "my-broker", "existingSecretKey": "url"},
            "image": {"repository": "registry.example.com/tasks", "tag": "2.0", "pullPolicy": "Always"}}
    env = container_of(one(render(vals), "Deployment", f"{FULL}-operator"))["env"]
    for var in env:
        if var["name"].startswith("CELERIAC_OPERATOR_"):
            monkeypatch.setenv(var["name"], var["value"])
    d = pod_defaults()
    assert (d.image, d.image_pull_policy, d.broker_secret, d.broker_secret_key) == (
        "registry.example.com/tasks:2.0", "Always", "my-broker", "url")
