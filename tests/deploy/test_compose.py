"""docker-compose.yml and deploy/docker/ against the local bring-up and the settings.

There is no Docker here: these tests read the files and compare them with what
deploy/local runs (Procfile, env, infra.sh, deploy/kafka) and with what the services read
(their settings classes), so that a new process, a renamed variable or a typo fails here
instead of in somebody's container.
"""

from __future__ import annotations

import importlib
import inspect
import re
import shlex
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic_settings import BaseSettings

from onceonly.platform.secrets import FILE_SUFFIX, development_materials, secret_fields

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "deploy" / "docker" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
PROCFILE = REPO / "deploy" / "local" / "Procfile"
LOCAL_ENV = REPO / "deploy" / "local" / "env"
INFRA_SH = REPO / "deploy" / "local" / "infra.sh"
KAFKA_TEMPLATE = REPO / "deploy" / "kafka" / "server.properties.template"
SECRETS_SH = REPO / "deploy" / "docker" / "secrets.sh"

# ARCHITECTURE.md: the four services' ports, the Temporal UI, the trace viewer, Prometheus
# and Grafana (deploy/observability); and the infrastructure on the same host ports as
# deploy/local, for tools and tests on the host.
PUBLISHED_PORTS = {
    "intake-api": {8000},
    "workflow-api": {8001},
    "tracking-api": {8002},
    "notify": {8003},
    "temporal": {7233},
    "temporal-ui": {8233},
    "jaeger": {16686},
    "prometheus": {9090},
    "grafana": {3000},
    "postgres": {5432},
    "kafka": {9092},
}
# The HTTP services: compose service -> the settings prefix of its host/port fields.
API_SERVICES = {
    "intake-api": "INTAKE",
    "workflow-api": "WORKFLOW_API",
    "tracking-api": "TRACKING",
    "notify": "NOTIFY",
}
# Containers of the services' image that are not Procfile processes.
IMAGE_INFRASTRUCTURE = {"temporal-setup"}
TEMPORAL_SCHEMA = REPO / "deploy" / "docker" / "temporal-schema.sh"
OTEL_COLLECTOR = REPO / "deploy" / "observability" / "otel-collector.yaml"

_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


# --- readers -----------------------------------------------------------------------------


@cache
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(document, dict), "docker-compose.yml is not a mapping"
    return document


def services() -> dict[str, dict[str, Any]]:
    found = compose().get("services")
    assert isinstance(found, dict) and found, "docker-compose.yml has no services"
    return found


def procfile() -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in PROCFILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, command = line.split(":", 1)
        entries[name.strip()] = command.strip()
    assert entries, "deploy/local/Procfile lists no process"
    return entries


def local_env() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in LOCAL_ENV.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, value = line.split("=", 1)
        values[key.strip()] = value
    assert values, "deploy/local/env sets no variable"
    return values


def interpolate(value: str) -> str:
    """The value compose would use when none of the referenced variables is set."""
    return _INTERPOLATION.sub(lambda m: m.group(2) or "", value).replace("$$", "$")


def environment(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {str(key): "" if value is None else str(value) for key, value in raw.items()}


def argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def normalised(command: list[str]) -> list[str]:
    """`.venv/bin/onceonly-intake api` (Procfile) and `onceonly-intake api` (PATH) agree."""
    program = command[0]
    if PurePosixPath(program).parent.name == "bin":
        program = PurePosixPath(program).name
    return [program, *command[1:]]


def published(service: dict[str, Any]) -> list[tuple[int, int]]:
    """(host port, container port) of each published port, short or long syntax."""
    pairs = []
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            pairs.append((int(entry["published"]), int(entry["target"])))
            continue
        parts = str(entry).split("/")[0].split(":")
        container = int(parts[-1])
        host = int(parts[-2]) if len(parts) >= 2 else container
        pairs.append((host, container))
    return pairs


def uses_app_image(service: dict[str, Any]) -> bool:
    build = service.get("build")
    return isinstance(build, dict) and build.get("dockerfile") == "deploy/docker/Dockerfile"


def python_services() -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in services().items() if name in procfile()}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in raw.items()}


def healthcheck_text(service: dict[str, Any]) -> str:
    test = (service.get("healthcheck") or {}).get("test") or []
    return " ".join(test) if isinstance(test, list) else str(test)


@cache
def settings_variables() -> dict[str, Any]:
    """ONCEONLY_* variable -> default, over every settings class of every package."""
    variables: dict[str, Any] = {}
    modules = sorted(REPO.glob("libs/*/src/onceonly/*/settings.py"))
    modules += sorted(REPO.glob("services/*/src/onceonly/*/settings.py"))
    for path in modules:
        module = importlib.import_module(f"onceonly.{path.parent.name}.settings")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if not issubclass(cls, BaseSettings) or cls is BaseSettings:
                continue
            prefix = str(cls.model_config.get("env_prefix", ""))
            for name, field in cls.model_fields.items():
                variables[f"{prefix}{name}".upper()] = field.default
            for name in secret_fields(cls):  # may be given as the file that holds it
                variables[f"{prefix}{name}{FILE_SUFFIX}".upper()] = None
    # The discovery itself must work, or every check below would pass vacuously.
    assert {"ONCEONLY_DATABASE_URL", "ONCEONLY_INTAKE_PORT", "ONCEONLY_NOTIFY_HOST"} <= set(
        variables
    )
    return variables


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, rest = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    return instructions


# --- the compose file --------------------------------------------------------------------


def test_every_service_has_an_image_or_a_build_that_exists() -> None:
    for name, service in services().items():
        assert service.get("image") or service.get("build"), f"{name}: no image and no build"
        build = service.get("build")
        if build is not None:
            build = {"context": build} if isinstance(build, str) else build
            context = REPO / build.get("context", ".")
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name


def test_the_python_processes_share_one_image() -> None:
    app = [svc for svc in services().values() if uses_app_image(svc)]
    assert {svc["build"]["context"] for svc in app} == {"."}
    assert len({svc.get("image") for svc in app}) == 1, "one image name, built once"
    for name, service in python_services().items():
        assert uses_app_image(service), f"{name} does not run from deploy/docker/Dockerfile"


def test_every_depends_on_target_exists_and_can_become_healthy() -> None:
    for name, service in services().items():
        for target, condition in depends_on(service).items():
            assert target in services(), f"{name} depends on unknown service {target}"
            if condition == "service_healthy":
                assert healthcheck_text(services()[target]), f"{target} has no healthcheck"


def test_every_procfile_process_runs_in_compose_with_the_same_command() -> None:
    for name, command in procfile().items():
        assert name in services(), f"Procfile process {name} has no compose service"
        assert normalised(argv(services()[name]["command"])) == normalised(argv(command)), name


def test_no_python_process_runs_in_compose_that_the_procfile_does_not_know() -> None:
    extra = {name for name, svc in services().items() if uses_app_image(svc)} - set(procfile())
    assert extra <= IMAGE_INFRASTRUCTURE, f"not in deploy/local/Procfile: {sorted(extra)}"


def test_python_services_start_after_the_infrastructure_and_restart() -> None:
    for name, service in python_services().items():
        after = depends_on(service)
        for infra in ("postgres", "kafka", "temporal"):
            assert after.get(infra) == "service_healthy", f"{name} does not wait for {infra}"
        # The namespace and its search attributes exist before a worker starts.
        assert after.get("temporal-setup") == "service_completed_successfully", name
        assert service.get("restart") == "unless-stopped", name


def test_every_local_env_variable_is_set_for_every_python_service() -> None:
    expected = set(local_env())
    for name, service in python_services().items():
        missing = expected - set(environment(service))
        assert not missing, f"{name} lacks {sorted(missing)} (deploy/local/env)"


def test_local_values_that_do_not_name_a_host_are_the_same() -> None:
    # Addresses differ by design (service names instead of 127.0.0.1), and so does the
    # trace exporter (Jaeger instead of none); everything else is as locally.
    # The environment too: reachable from other containers, compose is not development.
    differ = {
        "ONCEONLY_ENVIRONMENT",
        "ONCEONLY_DATABASE_URL",
        "ONCEONLY_KAFKA_BOOTSTRAP",
        "ONCEONLY_TEMPORAL_ADDRESS",
        "OTEL_TRACES_EXPORTER",
    }
    for name, service in python_services().items():
        env = environment(service)
        for key, value in local_env().items():
            if key not in differ:
                assert interpolate(env[key]) == interpolate(value), f"{name}: {key}"


def test_every_onceonly_variable_in_compose_is_a_settings_field() -> None:
    known = set(settings_variables())
    used: set[str] = set()
    for service in services().values():
        used |= {key for key in environment(service) if key.startswith("ONCEONLY_")}
    used |= {
        m.group(1)
        for m in _INTERPOLATION.finditer(COMPOSE.read_text(encoding="utf-8"))
        if m.group(1).startswith("ONCEONLY_")
    }
    assert used, "compose sets no ONCEONLY_ variable at all"
    unknown = used - known
    assert not unknown, f"no settings field reads {sorted(unknown)}"


def test_connections_point_at_the_compose_services() -> None:
    postgres = services()["postgres"]
    kafka_env = environment(services()["kafka"])
    temporal = services()["temporal"]
    for name, service in python_services().items():
        env = {key: interpolate(value) for key, value in environment(service).items()}

        database = urlsplit(env["ONCEONLY_DATABASE_URL"])
        assert database.hostname == "postgres" and database.port == 5432, name
        assert database.username == environment(postgres)["POSTGRES_USER"], name
        assert database.password == environment(postgres)["POSTGRES_PASSWORD"], name
        assert database.path == "/" + environment(postgres)["POSTGRES_DB"], name

        # Kafka: an in-network listener, advertised under the address the services use.
        bootstrap = env["ONCEONLY_KAFKA_BOOTSTRAP"]
        host, port = bootstrap.rsplit(":", 1)
        assert host == "kafka", name
        advertised = {}  # address -> listener name
        for item in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(","):
            listener_name, address = item.split("://", 1)
            advertised[address] = listener_name
        listener = advertised.get(bootstrap)
        assert listener, f"{name}: {bootstrap} is not an advertised Kafka listener"
        assert f"{listener}://:{port}" in kafka_env["KAFKA_LISTENERS"].split(","), name

        host, port = env["ONCEONLY_TEMPORAL_ADDRESS"].rsplit(":", 1)
        assert host == "temporal" and (7233, int(port)) in published(temporal), name


def test_api_services_listen_on_all_interfaces_and_publish_their_port() -> None:
    defaults = settings_variables()
    for name, prefix in API_SERVICES.items():
        env = environment(services()[name])
        port = int(env[f"ONCEONLY_{prefix}_PORT"])
        assert env[f"ONCEONLY_{prefix}_HOST"] == "0.0.0.0", name
        # The port the code defaults to, the one compose sets, and the one published agree.
        assert port == defaults[f"ONCEONLY_{prefix}_PORT"], name
        assert published(services()[name]) == [(port, port)], name
        health = healthcheck_text(services()[name])
        assert "urllib" in health and f"http://127.0.0.1:{port}/health" in health, name


def test_published_ports_match_the_architecture() -> None:
    ports = {name: {host for host, _ in published(svc)} for name, svc in services().items()}
    assert {name: found for name, found in ports.items() if found} == PUBLISHED_PORTS


def test_secrets_are_docker_secrets_and_never_development_keys() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    published = [value for value in development_materials() if value in text]
    assert not published, "docker-compose.yml holds a published development key"
    declared = compose()["secrets"]
    written = set(re.findall(r"^write (\S+) ", SECRETS_SH.read_text(), re.M))
    assert written == set(declared), "deploy/docker/secrets.sh writes other files"
    for secret in declared.values():
        assert secret["file"] == f"./.run/docker-secrets/{PurePosixPath(secret['file']).name}"
    for name, service in python_services().items():
        env = environment(service)
        # Reachable from other containers: the services refuse development keys here.
        assert env["ONCEONLY_ENVIRONMENT"] not in {"development", ""}, name
        mounted = set(service.get("secrets", []))
        files = {key: value for key, value in env.items() if key.endswith(FILE_SUFFIX)}
        assert files, f"{name} reads no key from a file"
        for key, path in files.items():
            assert key.removesuffix(FILE_SUFFIX) not in env, f"{name}: {key} and its value"
            assert path.startswith("/run/secrets/"), f"{name}: {key}"
            assert PurePosixPath(path).name in mounted, f"{name}: {path} is not mounted"


def test_traces_go_through_the_collector_to_jaeger_under_a_name_per_process() -> None:
    assert str(services()["jaeger"]["image"]).startswith("jaegertracing/jaeger:2.")
    collector = services()["otel-collector"]
    assert str(collector["image"]).startswith("otel/opentelemetry-collector-contrib:")
    config = yaml.safe_load(OTEL_COLLECTOR.read_text(encoding="utf-8"))
    assert any(
        str(v).startswith("./deploy/observability/otel-collector.yaml:")
        for v in collector["volumes"]
    )
    receiver = config["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"] and "batch" in pipeline["processors"]
    [exporter] = pipeline["exporters"]
    assert urlsplit("//" + config["exporters"][exporter]["endpoint"]).hostname == "jaeger"
    names = []
    for name, service in python_services().items():
        env = environment(service)
        assert env["OTEL_TRACES_EXPORTER"] == "otlp", name
        endpoint = urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert (endpoint.hostname, endpoint.port) == ("otel-collector", 4318), name
        assert receiver.endswith(f":{endpoint.port}"), name
        names.append(env.get("OTEL_SERVICE_NAME"))
    assert all(names) and len(set(names)) == len(names), names


def test_temporal_runs_on_the_compose_postgres_with_its_schema_set_up_first() -> None:
    postgres = environment(services()["postgres"])
    temporal = services()["temporal"]
    env = environment(temporal)
    assert str(temporal["image"]).startswith("temporalio/server:")
    assert env["DB"] == "postgres12" and env["POSTGRES_SEEDS"] == "postgres"
    assert (env["POSTGRES_USER"], env["POSTGRES_PWD"]) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
    )
    assert depends_on(temporal) == {"temporal-schema": "service_completed_successfully"}
    schema = services()["temporal-schema"]
    # The admin tools of the server's own version hold the matching schema files.
    version = str(temporal["image"]).split(":")[1]
    assert schema["image"] == f"temporalio/admin-tools:{version}"
    assert environment(schema)["POSTGRES_SEEDS"] == "postgres"
    assert depends_on(schema) == {"postgres": "service_healthy"}
    script = TEMPORAL_SCHEMA.read_text(encoding="utf-8")
    for database, kind in ((env["DBNAME"], "temporal"), (env["VISIBILITY_DBNAME"], "visibility")):
        assert f"{database}:{kind}" in script
    assert "update-schema" in script and "set -eu" in script
    assert f"{TEMPORAL_SCHEMA.relative_to(REPO)}" in " ".join(map(str, schema["volumes"]))


def test_temporal_setup_registers_the_search_attributes_and_seeds_the_registry() -> None:
    from onceonly.workflow.search_attributes import declared

    block = re.search(r"TEMPORAL_SEARCH_ATTRIBUTES=\((.*?)\)", INFRA_SH.read_text(), re.S)
    assert block, "TEMPORAL_SEARCH_ATTRIBUTES not found in deploy/local/infra.sh"
    local = {item.split("=")[0]: item.split("=")[1] for item in block.group(1).split()}
    # What the command registers is what the local dev server is given.
    assert declared() == local
    setup = services()["temporal-setup"]
    assert uses_app_image(setup)
    command = " ".join(argv(setup["command"]))
    assert "namespace create --namespace default" in command
    assert "onceonly-workflow register-search-attributes" in command
    assert "onceonly-workflow seed-registry" in command
    assert depends_on(setup) == {"postgres": "service_healthy", "temporal": "service_healthy"}
    assert environment(setup)["ONCEONLY_TEMPORAL_ADDRESS"] == "temporal:7233"
    ui = services()["temporal-ui"]
    assert environment(ui)["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert published(ui) == [(8233, 8080)]


def test_kafka_is_configured_as_the_local_broker() -> None:
    kafka = services()["kafka"]
    assert kafka["image"] == "apache/kafka:4.1.1"
    env = environment(kafka)
    assert env.get("CLUSTER_ID"), "the image formats KRaft storage with CLUSTER_ID"
    for line in KAFKA_TEMPLATE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#") or "@" in line:
            continue  # placeholders are addresses and paths, which differ by design
        key, value = line.split("=", 1)
        variable = "KAFKA_" + key.upper().replace(".", "_")
        if key == "listener.security.protocol.map":
            assert set(value.split(",")) <= set(env[variable].split(",")), key
        else:
            assert env.get(variable) == value, f"{variable} differs from {KAFKA_TEMPLATE.name}"
    assert "kafka-broker-api-versions.sh" in healthcheck_text(kafka)


def test_postgres_is_15_with_the_local_role_and_databases() -> None:
    postgres = services()["postgres"]
    assert str(postgres["image"]).split(":")[1].split(".")[0] == "15"
    assert "pg_isready" in healthcheck_text(postgres)
    init = [v for v in postgres.get("volumes", []) if "docker-entrypoint-initdb.d" in str(v)]
    assert init, "no init script: onceonly_test would be missing"
    source = REPO / str(init[0]).split(":")[0]
    assert "CREATE DATABASE onceonly_test" in source.read_text(encoding="utf-8")


def test_bind_mounted_files_exist() -> None:
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else str(volume).split(":")[0]
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name}: {source} does not exist"


# --- the image ---------------------------------------------------------------------------


def test_dockerfile_copies_only_what_exists_and_is_in_the_build_context() -> None:
    assert DOCKERFILE.is_file()
    allowed = {
        line[1:].strip().rstrip("/")
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.startswith("!")
    }
    sources = []
    for keyword, args in dockerfile_instructions():
        words = shlex.split(args)
        if keyword != "COPY" or any(w.startswith("--from") for w in words):
            continue  # copies between stages come from the image, not the repository
        sources += [w for w in words if not w.startswith("--")][:-1]
    assert sources, "the Dockerfile copies nothing from the repository"
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"
        top = PurePosixPath(source.rstrip("/")).parts[0]
        assert top in allowed, f"COPY {source}: excluded by .dockerignore"


def test_dockerfile_builds_protos_and_runs_without_dev_tools_as_a_non_root_user() -> None:
    instructions = dockerfile_instructions()
    args = dict(a.split("=", 1) for kw, a in instructions if kw == "ARG" and "=" in a)
    assert args.get("PYTHON_IMAGE", "").startswith("python:3.11-slim")
    python = (REPO / ".python-version").read_text().strip()
    assert args["PYTHON_IMAGE"].startswith(f"python:{python}")
    stages = [i for i, (kw, _) in enumerate(instructions) if kw == "FROM"]
    assert len(stages) >= 2, "multi-stage: build, then runtime"
    runs = " ".join(a for kw, a in instructions if kw == "RUN")
    assert "grpc_tools.protoc" in runs and "--python_out=libs/schemas/src" in runs
    assert "uv sync --frozen --all-packages --no-dev" in runs
    final = instructions[stages[-1] :]
    users = [a for kw, a in final if kw == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    path = [a for kw, a in final if kw == "ENV" and "PATH=/app/.venv/bin:" in a]
    assert path, "the runtime stage must put /app/.venv/bin first on PATH"


@pytest.mark.parametrize("name", sorted(API_SERVICES))
def test_api_healthcheck_is_valid_python(name: str) -> None:
    test = services()[name]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    compile(test[3], f"{name} healthcheck", "exec")
