"""deploy/helm/onceonly rendered by Helm (deploy/local/helm.sh) with the small and the
province values, and every object checked against the Kubernetes schemas, strictly
(kubernetes-validate, offline); then against what the services are: one Deployment per
Procfile process with its command, only settings the services read, each service's
required secrets and no other service's, probes, security, disruption budgets and the
preparation jobs run before the services."""

from __future__ import annotations

import copy
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from onceonly.intake.settings import IntakeSettings
from onceonly.notify.settings import NotifySettings
from onceonly.platform.secrets import FILE_SUFFIX
from onceonly.platform.settings import PlatformSettings
from onceonly.tracking.settings import TrackingSettings
from onceonly.workflow.settings import WorkflowSettings
from tests.deploy.test_compose import normalised, procfile, settings_variables

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "onceonly"
VALUES = {"small": [], "province": [CHART / "values-province.yaml"]}
# The oldest Kubernetes the chart declares (Chart.yaml kubeVersion) and the newest schema.
KUBERNETES_VERSIONS = ("1.29.0", kubernetes_validate.utils.latest_version())
SERVICE_SETTINGS: dict[str, type[PlatformSettings]] = {
    "intake": IntakeSettings,
    "workflow": WorkflowSettings,
    "tracking": TrackingSettings,
    "notify": NotifySettings,
}


@cache
def helm() -> str:
    built = subprocess.run(
        [str(REPO / "deploy/local/helm.sh")], capture_output=True, text=True, check=False
    )
    if built.returncode != 0:
        pytest.fail(f"deploy/local/helm.sh could not provide helm: {built.stderr[-800:]}")
    return built.stdout.strip().splitlines()[-1]


@cache
def rendered(size: str) -> tuple[dict[str, Any], ...]:
    options = [arg for path in VALUES[size] for arg in ("-f", str(path))]
    result = subprocess.run(
        [helm(), "template", "onceonly", str(CHART), "--kube-version", "1.32.0", *options],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(size: str, kind: str) -> dict[str, dict[str, Any]]:
    return {
        doc["metadata"]["name"].removeprefix("onceonly-"): doc
        for doc in rendered(size)
        if doc["kind"] == kind
    }


def container(workload: dict[str, Any]) -> dict[str, Any]:
    [only] = workload["spec"]["template"]["spec"]["containers"]
    return only


def env(workload: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container(workload)["env"]}


@pytest.mark.parametrize("size", sorted(VALUES))
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_is_valid_kubernetes(size: str, version: str) -> None:
    kinds = sorted({doc["kind"] for doc in rendered(size)})
    assert kinds == ["Deployment", "Job", "PodDisruptionBudget", "Service", "ServiceAccount"]
    for doc in rendered(size):
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validation_is_strict() -> None:
    deployment = copy.deepcopy(next(iter(of_kind("small", "Deployment").values())))
    container(deployment)["livenesProbe"] = {"httpGet": {"path": "/metrics", "port": "http"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


@pytest.mark.parametrize("size", sorted(VALUES))
def test_one_deployment_per_procfile_process_running_its_command(size: str) -> None:
    deployments = of_kind(size, "Deployment")
    assert set(deployments) == set(procfile())
    for name, command in procfile().items():
        assert container(deployments[name])["args"] == normalised(command.split()), name


@pytest.mark.parametrize("size", sorted(VALUES))
def test_only_settings_the_services_read(size: str) -> None:
    known = settings_variables()
    for kind in ("Deployment", "Job"):
        for name, workload in of_kind(size, kind).items():
            unknown = {v for v in env(workload) if v.startswith("ONCEONLY_") and v not in known}
            assert not unknown, f"{name}: {sorted(unknown)}"
            assert env(workload)["ONCEONLY_ENVIRONMENT"] == "production"


@pytest.mark.parametrize("size", sorted(VALUES))
def test_each_service_gets_its_required_secrets_and_no_other_services(size: str) -> None:
    deployments = of_kind(size, "Deployment")
    for name, deployment in deployments.items():
        service = name.split("-")[0]
        given = {v.removesuffix(FILE_SUFFIX) for v in env(deployment) if v.endswith(FILE_SUFFIX)}
        required = {
            f"ONCEONLY_{secret}".upper() for secret in SERVICE_SETTINGS[service].REQUIRED_SECRETS
        }
        assert required <= given, f"{name} misses {sorted(required - given)}"
        mounted = {
            item["path"]
            for volume in deployment["spec"]["template"]["spec"]["volumes"]
            if "secret" in volume
            for item in volume["secret"]["items"]
        }
        paths = {
            value.rsplit("/", 1)[-1]
            for value in env(deployment).values()
            if value.startswith("/run/secrets/")
        }
        assert paths == mounted, name
    # Least privilege: tracking never holds the key that opens personal data, nor the
    # department API's token keys; only the workflow signs e-licences.
    assert "ONCEONLY_PII_KEYS_FILE" not in env(deployments["tracking-api"])
    assert "ONCEONLY_DEPARTMENT_API_TOKEN_KEYS_FILE" not in env(deployments["notify"])
    signers = {n for n, d in deployments.items() if "ONCEONLY_ELICENCE_SIGNING_KEYS_FILE" in env(d)}
    assert signers == {"workflow-worker", "workflow-bridge", "workflow-api"}
    # Only the agent signs timeline checkpoints; the API verifies with the public keys.
    checkpointers = {
        n
        for n, d in deployments.items()
        if "ONCEONLY_TIMELINE_CHECKPOINT_SIGNING_KEYS_FILE" in env(d)
    }
    assert checkpointers == {"tracking-agent"}
    assert "ONCEONLY_TIMELINE_CHECKPOINT_PUBLIC_KEYS_FILE" in env(deployments["tracking-api"])


@pytest.mark.parametrize("size", sorted(VALUES))
def test_processes_run_locked_down_with_probes_and_budgets(size: str) -> None:
    budgets = of_kind(size, "PodDisruptionBudget")
    services = of_kind(size, "Service")
    for name, deployment in of_kind(size, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        security = container(deployment)["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            assert container(deployment)[probe]["httpGet"]["port"] == "http", (name, probe)
        port = container(deployment)["ports"][0]["containerPort"]
        assert env(deployment)  # every process gets the shared environment
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert budgets[name]["spec"]["selector"]["matchLabels"] == selector
        if container(deployment)["readinessProbe"]["httpGet"]["path"] == "/ready":
            assert services[name]["spec"]["selector"] == selector
            assert services[name]["spec"]["ports"][0]["port"] == port
    assert set(services) == {"intake-api", "workflow-api", "tracking-api", "notify"}


def test_the_province_scales_what_may_be_replicated() -> None:
    small, province = of_kind("small", "Deployment"), of_kind("province", "Deployment")
    replicas = {name: d["spec"]["replicas"] for name, d in province.items()}
    assert replicas["workflow-worker"] > small["workflow-worker"]["spec"]["replicas"]
    assert replicas["intake-api"] > small["intake-api"]["spec"]["replicas"]
    # Two of every process at least (tests/chaos/test_replicated.py proves two).
    assert min(d["spec"]["replicas"] for d in small.values()) == 2
    assert replicas["tracking-agent"] > small["tracking-agent"]["spec"]["replicas"]
    assert env(province["notify"])["ONCEONLY_KAFKA_PARTITIONS"] == "24"
    assert env(province["notify"])["ONCEONLY_KAFKA_MIN_INSYNC_REPLICAS"] == "2"


def test_the_preparation_runs_before_the_services_on_install_and_upgrade() -> None:
    jobs = of_kind("small", "Job")
    assert set(jobs) == {"prepare", "search-attributes"}
    for job in jobs.values():
        annotations = job["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    weights = {n: int(j["metadata"]["annotations"]["helm.sh/hook-weight"]) for n, j in jobs.items()}
    assert weights["prepare"] < weights["search-attributes"]
    assert container(jobs["prepare"])["args"] == ["python", "-m", "onceonly.platform.prepare"]
    assert container(jobs["search-attributes"])["args"] == [
        "onceonly-workflow",
        "register-search-attributes",
    ]
    # The preparation holds the database's URL and Kafka's password (and CA) only.
    prepared = {v for v in env(jobs["prepare"]) if v.endswith(FILE_SUFFIX)}
    assert prepared == {
        "ONCEONLY_DATABASE_URL_FILE",
        "ONCEONLY_KAFKA_SASL_PASSWORD_FILE",
        "ONCEONLY_KAFKA_SSL_CA_FILE",
    }
