"""The Kubernetes manifests validate against the Kubernetes schemas (offline, kubernetes-validate)
and have the shape production needs: probes, resources, budgets, autoscaling, closed ingress."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from workflows.search import ALL as SEARCH_ATTRIBUTES

K8S = Path(__file__).parents[2] / "deploy" / "kubernetes"
VERSION = "1.30.0"
HELM_VALUES = {K8S / "temporal" / "values.yaml"}


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p not in HELM_VALUES)


def documents() -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in manifest_files():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found.append((path, doc))
    return found


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in documents() if doc["kind"] == kind]


def named(kind: str, name: str) -> dict[str, Any]:
    [doc] = [d for d in of_kind(kind) if d["metadata"]["name"] == name]
    return doc


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_every_manifest_validates_strictly(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        if doc:
            kubernetes_validate.validate(doc, VERSION, strict=True)


def test_the_validator_would_catch_a_mistake() -> None:
    broken = named("Deployment", "hub-api")
    broken = yaml.safe_load(yaml.safe_dump(broken))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}  # misspelt
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSION, strict=True)


def containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    return result


HUB_DEPLOYMENTS = [
    "hub-api",
    "hub-worker",
    "hub-worker-providers",
    "hub-worker-provider-paysim",
]


@pytest.mark.parametrize("name", HUB_DEPLOYMENTS)
def test_hub_deployments_probe_budget_and_scale(name: str) -> None:
    deployment = named("Deployment", name)
    [container] = containers(deployment)
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert not container["image"].endswith(":latest") and ":" in container["image"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"configMapRef": {"name": "hub-config"}} in container["envFrom"]
    assert {"secretRef": {"name": "hub-secrets"}} in container["envFrom"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert any(
        p["spec"]["selector"]["matchLabels"] == selector for p in of_kind("PodDisruptionBudget")
    )
    [hpa] = [
        h for h in of_kind("HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"] == name
    ]
    assert hpa["spec"]["minReplicas"] >= 2
    assert deployment["spec"]["replicas"] >= 2


def test_workers_get_longer_than_their_shutdown_grace() -> None:
    config = named("ConfigMap", "hub-config")["data"]
    grace = float(config["HUB_WORKER_SHUTDOWN_GRACE_S"])
    for name in HUB_DEPLOYMENTS[1:]:
        pod = named("Deployment", name)["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] > grace
        [container] = pod["containers"]
        assert container["args"][0] == "worker" and container["args"][1] == "--queues"
        assert config["HUB_METRICS_PORT"] == str(container["ports"][0]["containerPort"])


def test_worker_pools_cover_the_hub_queue_and_every_provider_queue() -> None:
    queues = {containers(named("Deployment", n))[0]["args"][2] for n in HUB_DEPLOYMENTS[1:]}
    assert named("ConfigMap", "hub-config")["data"]["HUB_TASK_QUEUE"] in queues
    assert "provider-*" in queues


def test_a_migration_job_runs_mph_migrate() -> None:
    job = named("Job", "hub-migrate")
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_only_the_api_is_reachable_from_outside() -> None:
    policies = {p["metadata"]["name"]: p for p in of_kind("NetworkPolicy")}
    deny = policies["default-deny-ingress"]["spec"]
    assert deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny
    outside = []  # policies letting in traffic from outside the namespace, besides monitoring
    for name, policy in policies.items():
        for rule in policy["spec"].get("ingress", []):
            for peer in rule.get("from", []):
                source = peer.get("namespaceSelector", {}).get("matchLabels", {})
                if source.get("kubernetes.io/metadata.name") not in (None, "monitoring"):
                    outside.append((name, source["kubernetes.io/metadata.name"]))
    assert ("hub-api-from-ingress", "ingress-nginx") in outside
    assert all(
        name in ("hub-api-from-ingress", "jaeger-from-collector-and-operators")
        for name, _ in outside
    )
    [ingress] = of_kind("Ingress")
    backends = {
        path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == {"hub-api"}
    services = [
        s for s in of_kind("Service") if s["spec"].get("type") in ("LoadBalancer", "NodePort")
    ]
    assert services == []


def test_no_secret_values_are_shipped() -> None:
    assert of_kind("Secret") == []
    config = named("ConfigMap", "hub-config")["data"]
    for key in ("HUB_DATABASE_URL", "HUB_TOKEN_SECRET", "HUB_OPERATOR_BOOTSTRAP_KEY"):
        assert key not in config


def test_temporal_setup_creates_the_hub_search_attributes() -> None:
    job = named("Job", "temporal-hub-setup")
    script = "".join(job["spec"]["template"]["spec"]["containers"][0]["args"])
    kinds = {"KEYWORD": "Keyword", "KEYWORD_LIST": "KeywordList", "BOOL": "Bool"}
    for key in SEARCH_ATTRIBUTES:
        assert f"{key.name}:{kinds[key.indexed_value_type.name]}" in script


def test_helm_values_parse_and_use_sql_persistence() -> None:
    values = yaml.safe_load((K8S / "temporal" / "values.yaml").read_text())
    persistence = values["server"]["config"]["persistence"]
    assert persistence["default"]["sql"]["driver"] == "postgres12"
    assert persistence["visibility"]["sql"]["existingSecret"] == "temporal-db"


def test_tls_ends_at_the_ingress_and_plain_http_is_redirected() -> None:
    [ingress] = of_kind("Ingress")
    covered = {host for tls in ingress["spec"]["tls"] for host in tls["hosts"]}
    assert {rule["host"] for rule in ingress["spec"]["rules"]} <= covered
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/ssl-redirect"] == "true"
    assert annotations["nginx.ingress.kubernetes.io/force-ssl-redirect"] == "true"


def test_processes_that_call_providers_mount_their_tls_files() -> None:
    for name in ("hub-api", "hub-worker-providers", "hub-worker-provider-paysim"):
        pod = named("Deployment", name)["spec"]["template"]["spec"]
        [volume] = [v for v in pod["volumes"] if v["name"] == "provider-tls"]
        assert volume["secret"] == {"secretName": "hub-provider-tls", "optional": True}
        mounts = {m["name"]: m for m in containers(named("Deployment", name))[0]["volumeMounts"]}
        assert mounts["provider-tls"]["mountPath"] == "/etc/hub/providers"


def test_the_staging_simulator_serves_https() -> None:
    [sim] = containers(named("Deployment", "hub-sim"))
    assert "--tls-cert" in sim["args"] and "--tls-key" in sim["args"]
    assert sim["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
