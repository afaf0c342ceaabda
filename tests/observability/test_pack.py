"""The ops pack of deploy/observability, read without a running system: every rule file
and dashboard parses, the alerts hold what promtool and Alertmanager expect of them, the
two scrape configurations cover every process of the Procfile at the ports
deploy/local/env gives them, docker-compose.yml mounts what Grafana and Prometheus read,
and every `onceonly_*` metric the pack names is defined in the code.
(test_metrics_exported.py checks the names against a running system.)"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY, generate_latest

from tests.observability.pack import (
    COMPOSE_CONFIG,
    DASHBOARDS,
    JOB_PORT_VARIABLES,
    LOCAL_CONFIG,
    PROCFILE,
    PROMETHEUS,
    PROMETHEUS_OWN,
    PROVISIONING,
    REPO,
    RULES,
    TEMPORAL_SDK_JOB,
    alert_rules,
    dashboard_files,
    load_yaml,
    local_ports,
    named_metrics,
    panels,
    procfile,
    rule_files,
    scrape_targets,
    uses,
)
from tests.observability.promql import PromQLSyntaxError, family, metric_names

OPERATIONS = REPO / "docs" / "operations.md"
COMPOSE = REPO / "docker-compose.yml"
# Prometheus durations: one or more number-unit pairs, largest unit first.
DURATION = re.compile(r"^(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$")
SEVERITIES = {"critical", "warning"}
RULE_KEYS = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
# What an annotation template may use besides text.
TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.S)
TEMPLATE_BODY = re.compile(
    r"^\s*\$(value|labels\.[a-z_]+)(\s*\|\s*(humanize|humanizeDuration|humanizePercentage))?\s*$"
)


def is_duration(value: object) -> bool:
    return isinstance(value, str) and value not in ("", "0") and bool(DURATION.match(value))


def github_anchors(markdown: Path) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown file."""
    anchors = set()
    for line in markdown.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


# --- alert rules -------------------------------------------------------------------------


def test_every_rule_file_parses_into_named_groups() -> None:
    assert rule_files(), "no rule file in deploy/observability/prometheus/rules"
    names = []
    for path in rule_files():
        document = load_yaml(path)
        assert set(document) == {"groups"}, path.name
        for group in document["groups"]:
            assert group.get("name") and group.get("rules"), f"{path.name}: {group}"
            names.append(group["name"])
    assert len(names) == len(set(names)), f"group names repeat: {names}"


def test_every_alert_has_expr_for_severity_and_summary() -> None:
    alerts = [rule for _, rule in alert_rules() if "alert" in rule]
    assert len(alerts) >= 10
    for rule in alerts:
        name = rule["alert"]
        assert re.fullmatch(r"OnceOnly[A-Z][A-Za-z]+", name), name
        assert set(rule) <= RULE_KEYS, f"{name}: unknown keys {set(rule) - RULE_KEYS}"
        assert isinstance(rule.get("expr"), str) and rule["expr"].strip(), f"{name}: no expr"
        assert "for" in rule and (rule["for"] == "0m" or is_duration(rule["for"])), name
        assert rule.get("labels", {}).get("severity") in SEVERITIES, f"{name}: severity"
        annotations = rule.get("annotations", {})
        assert str(annotations.get("summary", "")).strip(), f"{name}: no summary"
        assert str(annotations.get("description", "")).strip(), f"{name}: no description"
    names = [rule["alert"] for rule in alerts]
    assert len(names) == len(set(names)), "alert names repeat"


def test_alert_expressions_read_metrics_and_ranges_are_durations() -> None:
    for path, rule in alert_rules():
        expr = rule["expr"]
        assert metric_names(expr), f"{path.name} {rule['alert']}: reads no metric"
        for window in re.findall(r"\[([^\]]+)\]", expr):
            assert is_duration(window), f"{rule['alert']}: range [{window}]"
        # A range shorter than two scrapes (15 s) gives rate() and increase() nothing.
        for window in re.findall(r"\[(\d+)s\]", expr):
            assert int(window) >= 30, f"{rule['alert']}: [{window}s]"


def test_annotation_templates_use_only_value_and_labels_of_the_result() -> None:
    for _, rule in alert_rules():
        expr = rule["expr"]
        # Labels an aggregation keeps (`by (a, b)`); without aggregation, any label.
        kept = {
            label.strip()
            for group in re.findall(r"\bby\s*\(([^)]*)\)", expr)
            for label in group.split(",")
        }
        aggregated = bool(re.search(r"\b(sum|max|min|avg|count)\b", expr))
        for text in rule["annotations"].values():
            for body in TEMPLATE.findall(str(text)):
                assert TEMPLATE_BODY.match(body), f"{rule['alert']}: {{{{{body}}}}}"
                label = re.search(r"\$labels\.([a-z_]+)", body)
                if label and aggregated and "histogram_quantile" not in expr:
                    assert label.group(1) in kept, f"{rule['alert']}: $labels.{label.group(1)}"


def test_every_alert_has_a_runbook_section_in_operations_md() -> None:
    anchors = github_anchors(OPERATIONS)
    for _, rule in alert_rules():
        runbook = rule["annotations"].get("runbook", "")
        path, _, anchor = runbook.partition("#")
        assert path == "docs/operations.md", f"{rule['alert']}: runbook {runbook!r}"
        assert anchor in anchors, f"{rule['alert']}: no section #{anchor} in docs/operations.md"


# --- dashboards --------------------------------------------------------------------------


def dashboard(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), path.name
    return document


def test_the_four_dashboards_parse_with_unique_uids_and_titles() -> None:
    files = {path.name for path in dashboard_files()}
    assert files == {"system.json", "kafka-lag.json", "temporal.json", "supervision.json"}
    uids = [dashboard(path)["uid"] for path in dashboard_files()]
    titles = [dashboard(path)["title"] for path in dashboard_files()]
    assert len(set(uids)) == len(uids) and len(set(titles)) == len(titles)
    for path in dashboard_files():
        document = dashboard(path)
        assert isinstance(document.get("schemaVersion"), int), path.name
        assert "id" not in document or document["id"] is None, f"{path.name}: a fixed id"
        assert "onceonly" in document.get("tags", []), path.name


def test_panels_have_queries_on_the_provisioned_data_source_and_fit_the_grid() -> None:
    datasources = load_yaml(PROVISIONING / "datasources" / "prometheus.yml")["datasources"]
    [source] = datasources
    for path in dashboard_files():
        ids = []
        for panel in panels(dashboard(path)):
            ids.append(panel["id"])
            grid = panel["gridPos"]
            assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel
            if panel["type"] == "row":
                continue
            where = f"{path.name}: {panel['title']}"
            assert panel["datasource"] == {"type": "prometheus", "uid": source["uid"]}, where
            assert panel["targets"], f"{where}: no query"
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == source["uid"], where
                assert metric_names(target["expr"]), f"{where}: reads no metric"
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids repeat"


def test_every_expression_is_readable() -> None:
    for use in uses():
        try:
            metric_names(use.expression)
        except PromQLSyntaxError as exc:
            pytest.fail(f"{use.where}: {exc}")


def test_promql_reader_knows_functions_keywords_and_label_lists() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (service, le) (rate(a_seconds_bucket{status=~"5.."}'
        "[$__rate_interval]))) / on (service) group_left (route) b > bool 1"
        " or (c unless c offset 1h) and topk(3, max without (instance) (d))"
    )
    assert metric_names(expr) == {"a_seconds_bucket", "b", "c", "d"}
    assert family("a_seconds_bucket") == "a_seconds" and family("up") == "up"
    with pytest.raises(PromQLSyntaxError):
        metric_names("sum(rate(x[5m])")


# --- what the pack names -----------------------------------------------------------------


def source_literals() -> str:
    paths = [*REPO.glob("libs/*/src/**/*.py"), *REPO.glob("services/*/src/**/*.py")]
    return "\n".join(path.read_text(encoding="utf-8") for path in paths)


def test_every_onceonly_metric_named_is_defined_in_the_code() -> None:
    code = source_literals()
    for name, where in named_metrics().items():
        if name in PROMETHEUS_OWN or not name.startswith("onceonly_"):
            continue
        defined = f'"{name}"' in code or f'"{family(name)}"' in code
        assert defined, f"{name} (read by {where[0]}) is not defined in libs/ or services/"


def test_every_other_metric_named_comes_from_prometheus_the_sdk_or_the_process() -> None:
    process_metrics = {
        line.split()[2]
        for line in generate_latest(REGISTRY).decode().splitlines()
        if line.startswith("# TYPE")
    }
    for name in named_metrics():
        if name in PROMETHEUS_OWN or name.startswith(("onceonly_", "temporal_")):
            continue
        assert name in process_metrics, f"{name}: not a metric of prometheus_client's collectors"


# --- scrape configurations ---------------------------------------------------------------


def test_both_scrape_configurations_have_the_same_jobs_rules_and_ports() -> None:
    compose, local = load_yaml(COMPOSE_CONFIG), load_yaml(LOCAL_CONFIG)
    assert compose["rule_files"] == local["rule_files"] == ["rules/*.yml"]
    assert compose["global"] == local["global"]
    compose_targets, local_targets = scrape_targets(COMPOSE_CONFIG), scrape_targets(LOCAL_CONFIG)
    assert list(compose_targets) == list(local_targets)
    for job, target in local_targets.items():
        host, port = target.rsplit(":", 1)
        assert host == "127.0.0.1", job
        assert compose_targets[job].rsplit(":", 1)[1] == port, job


def test_every_procfile_process_is_scraped_at_its_port_of_deploy_local_env() -> None:
    jobs = scrape_targets(LOCAL_CONFIG)
    assert set(jobs) == set(JOB_PORT_VARIABLES)
    assert set(procfile()) | {TEMPORAL_SDK_JOB} == set(jobs), PROCFILE
    ports = local_ports()
    for job, target in jobs.items():
        variable = JOB_PORT_VARIABLES[job]
        assert int(target.rsplit(":", 1)[1]) == ports[variable], f"{job}: {variable}"
    assert len(set(jobs.values())) == len(jobs), "two jobs scrape one port"


def test_compose_targets_are_the_containers_of_the_processes() -> None:
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    for job, target in scrape_targets(COMPOSE_CONFIG).items():
        host, port = target.rsplit(":", 1)
        container = "workflow-worker" if job == TEMPORAL_SDK_JOB else job
        assert host == container and host in services, job
        environment = {key: str(value) for key, value in services[host]["environment"].items()}
        assert environment.get(JOB_PORT_VARIABLES[job]) == port, f"{job}: port in compose"


def test_compose_mounts_the_pack_where_prometheus_and_grafana_read_it() -> None:
    services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    prometheus, grafana = services["prometheus"], services["grafana"]
    assert "./deploy/observability/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    mounts = dict(volume.rsplit(":", 2)[:2] for volume in grafana["volumes"] if ":" in volume)
    assert mounts["./deploy/observability/grafana/provisioning"] == "/etc/grafana/provisioning"
    provider = load_yaml(PROVISIONING / "dashboards" / "onceonly.yml")["providers"][0]
    assert mounts["./deploy/observability/grafana/dashboards"] == provider["options"]["path"]
    [source] = load_yaml(PROVISIONING / "datasources" / "prometheus.yml")["datasources"]
    assert source["url"] == "http://prometheus:9090"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/system.json"
    assert (DASHBOARDS / "system.json").is_file() and (RULES / "onceonly.yml").is_file()


# --- promtool, where it is installed -----------------------------------------------------


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
@pytest.mark.parametrize(
    "command",
    [
        ["check", "config", "prometheus.yml"],
        ["check", "config", "prometheus.local.yml"],
        # The alerts fire when they should, with the labels and annotations expected.
        ["test", "rules", "tests/onceonly_test.yml"],
    ],
    ids=" ".join,
)
def test_promtool(command: list[str]) -> None:
    done = subprocess.run(
        ["promtool", *command], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
