"""Reads the ops pack of deploy/observability: Prometheus's scrape configurations and
alert rules, Grafana's provisioning and dashboards, and the metric names they use."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.observability.promql import metric_names

REPO = Path(__file__).resolve().parents[2]
OBSERVABILITY = REPO / "deploy" / "observability"
PROMETHEUS = OBSERVABILITY / "prometheus"
# The configuration docker-compose.yml mounts, and the one for the local bring-up.
COMPOSE_CONFIG = PROMETHEUS / "prometheus.yml"
LOCAL_CONFIG = PROMETHEUS / "prometheus.local.yml"
RULES = PROMETHEUS / "rules"
GRAFANA = OBSERVABILITY / "grafana"
DASHBOARDS = GRAFANA / "dashboards"
PROVISIONING = GRAFANA / "provisioning"
PROCFILE = REPO / "deploy" / "local" / "Procfile"
LOCAL_ENV = REPO / "deploy" / "local" / "env"

# Series Prometheus makes itself for every target, and its alerts; no process exports them.
PROMETHEUS_OWN = frozenset(
    {
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
        "ALERTS",
        "ALERTS_FOR_STATE",
    }
)
# The job of the worker's second endpoint: the Temporal SDK's core runtime serves it.
TEMPORAL_SDK_JOB = "workflow-worker-sdk"
# Each scrape job and the variable of deploy/local/env that gives its port: an API's own
# port, or the metrics port of a process without an API.
JOB_PORT_VARIABLES = {
    "intake-api": "ONCEONLY_INTAKE_PORT",
    "intake-relay": "ONCEONLY_RELAY_METRICS_PORT",
    "workflow-api": "ONCEONLY_WORKFLOW_API_PORT",
    "workflow-worker": "ONCEONLY_WORKER_METRICS_PORT",
    TEMPORAL_SDK_JOB: "ONCEONLY_WORKER_TEMPORAL_METRICS_PORT",
    "workflow-bridge": "ONCEONLY_BRIDGE_METRICS_PORT",
    "tracking-api": "ONCEONLY_TRACKING_PORT",
    "tracking-agent": "ONCEONLY_TRACKING_AGENT_METRICS_PORT",
    "notify": "ONCEONLY_NOTIFY_PORT",
}


@dataclass(frozen=True)
class Use:
    """Where an expression is: an alert rule or a dashboard panel."""

    where: str
    expression: str


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rule_files() -> list[Path]:
    return sorted(RULES.glob("*.yml"))


def alert_rules() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in rule_files():
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                yield path, rule


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def uses() -> list[Use]:
    """Every PromQL expression of the alert rules and the dashboards."""
    found = [
        Use(f"{path.name}: {rule.get('alert') or rule.get('record')}", str(rule["expr"]))
        for path, rule in alert_rules()
    ]
    for path in dashboard_files():
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                if "expr" in target:
                    found.append(Use(f"{path.name}: {panel['title']}", target["expr"]))
    return found


def named_metrics() -> dict[str, list[str]]:
    """Every metric name the rules and dashboards read, with where each is read."""
    names: dict[str, list[str]] = {}
    for use in uses():
        for name in metric_names(use.expression):
            names.setdefault(name, []).append(use.where)
    return names


def scrape_targets(config: Path) -> dict[str, str]:
    """job name → its one target (host:port)."""
    jobs = {}
    for job in load_yaml(config)["scrape_configs"]:
        [static] = job["static_configs"]
        [target] = static["targets"]
        jobs[job["job_name"]] = target
    return jobs


def procfile() -> dict[str, str]:
    entries = {}
    for line in PROCFILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries


def local_ports() -> dict[str, int]:
    """The ONCEONLY_*_PORT variables of deploy/local/env that name a port of their own."""
    ports = {}
    for line in LOCAL_ENV.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition("=")
        if key.endswith("_PORT") and value.strip().isdigit() and int(value) > 0:
            ports[key.strip()] = int(value)
    return ports
