#!/usr/bin/env bash
# Temporal's own server (not the dev server) on the project's PostgreSQL, built once from
# the Go module proxy and cached, for runs that want the real server's persistence.
#
#   deploy/local/temporal-postgres.sh build | up | down | status
#
# build: `go install go.temporal.io/server/cmd/server` and its SQL schema tool at
#        TEMPORAL_SERVER_VERSION into .run/temporal-server/VERSION (about 8 minutes of
#        two cores the first time; the Go toolchain comes with the machine image).
# up:    the databases ONCEONLY_TEMPORAL_PG_DATABASE and ..._visibility (created as the
#        postgres user if missing, owned by the services' role), their schema set up and
#        updated by the schema tool, the server started on ONCEONLY_TEMPORAL_PG_PORT
#        (27233; history, matching and worker on the ports after it, membership +100),
#        then the `default` namespace and the search attributes of infra.sh.
# Postgres must be up (deploy/local/infra.sh up or start postgres). infra.sh runs this
# in place of the dev server with ONCEONLY_TEMPORAL_SERVER=postgres (then the process
# is `temporal` on ONCEONLY_TEMPORAL_PORT, as the dev server would be).
set -euo pipefail

# shellcheck source=deploy/local/infra.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/infra.sh"

TEMPORAL_SERVER_VERSION="${ONCEONLY_TEMPORAL_SERVER_VERSION:-v1.32.1}"
TPG_NAME="${ONCEONLY_TEMPORAL_PG_NAME:-temporal-pg}"
TPG_PORT="${ONCEONLY_TEMPORAL_PG_PORT:-27233}"
TPG_DB="${ONCEONLY_TEMPORAL_PG_DATABASE:-temporal}"
TPG_USER="${ONCEONLY_TEMPORAL_PG_USER:-onceonly}"
TPG_PASSWORD="${ONCEONLY_TEMPORAL_PG_PASSWORD:-onceonly}"
# Shared by every instance, like the broker's jars: built once per version.
TPG_BIN="$REPO/.run/temporal-server/$TEMPORAL_SERVER_VERSION"
TPG_RUN="$RUN/$TPG_NAME"
TPG_LOG="$LOGS/$TPG_NAME.log"
TEMPORAL_ADDRESS="127.0.0.1:$TPG_PORT"
TEMPORAL_LOG="$TPG_LOG"

tpg_build() {
    [[ -x "$TPG_BIN/server" && -x "$TPG_BIN/sql" ]] && return 0
    command -v go >/dev/null || die_with_log temporal-postgres "no Go toolchain (go) on PATH: the server is built from go.temporal.io/server"
    say "temporal-postgres: building go.temporal.io/server $TEMPORAL_SERVER_VERSION (once; several minutes)"
    mkdir -p "$TPG_BIN.tmp"
    GOBIN="$TPG_BIN.tmp" GOFLAGS=-mod=mod go install \
        "go.temporal.io/server/cmd/server@$TEMPORAL_SERVER_VERSION" \
        "go.temporal.io/server/cmd/tools/sql@$TEMPORAL_SERVER_VERSION" \
        >>"$LOGS/temporal-server-build.log" 2>&1 </dev/null ||
        die_with_log temporal-postgres "go install failed" "$LOGS/temporal-server-build.log"
    rm -rf "$TPG_BIN"
    mv "$TPG_BIN.tmp" "$TPG_BIN"
}

# The schema files ship in the module's source, which the build left in the module cache.
tpg_schema_dir() {
    local dir
    dir="$(go env GOMODCACHE)/go.temporal.io/server@$TEMPORAL_SERVER_VERSION/schema/postgresql/v12"
    [[ -d "$dir" ]] || GOFLAGS=-mod=mod go mod download "go.temporal.io/server@$TEMPORAL_SERVER_VERSION" >/dev/null
    echo "$dir"
}

tpg_sql() {
    "$TPG_BIN/sql" --plugin postgres12 --ep 127.0.0.1 -p "$PG_PORT" -u "$TPG_USER" \
        --pw "$TPG_PASSWORD" "$@"
}

tpg_databases() {
    local db schema dir
    schema="$(tpg_schema_dir)"
    for db in "$TPG_DB:temporal" "${TPG_DB}_visibility:visibility"; do
        dir="${db#*:}"
        db="${db%%:*}"
        if ! as_postgres psql -p "$PG_PORT" -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
            as_postgres psql -p "$PG_PORT" -qc "CREATE DATABASE \"$db\" OWNER \"$TPG_USER\"" >>"$TPG_LOG" 2>&1 ||
                die_with_log temporal-postgres "could not create database $db" "$TPG_LOG"
            tpg_sql --db "$db" setup-schema -v 0.0 >>"$TPG_LOG" 2>&1 ||
                die_with_log temporal-postgres "schema set-up of $db failed" "$TPG_LOG"
        fi
        # To the module's newest version (a no-op when it is there already).
        tpg_sql --db "$db" update-schema -d "$schema/$dir/versioned" >>"$TPG_LOG" 2>&1 ||
            die_with_log temporal-postgres "schema update of $db failed" "$TPG_LOG"
    done
}

tpg_config() {
    local p="$TPG_PORT"
    mkdir -p "$TPG_RUN"
    sed -e "s|@DB@|$TPG_DB|g" -e "s|@PG_PORT@|$PG_PORT|g" -e "s|@USER@|$TPG_USER|g" \
        -e "s|@PASSWORD@|$TPG_PASSWORD|g" -e "s|@PORT@|$p|g" -e "s|@PORT_HTTP@|$((p + 10))|g" \
        -e "s|@PORT_HISTORY@|$((p + 1))|g" -e "s|@PORT_MATCHING@|$((p + 2))|g" \
        -e "s|@PORT_WORKER@|$((p + 6))|g" -e "s|@PORT_MEMBERSHIP_FRONTEND@|$((p + 100))|g" \
        -e "s|@PORT_MEMBERSHIP_HISTORY@|$((p + 101))|g" \
        -e "s|@PORT_MEMBERSHIP_MATCHING@|$((p + 102))|g" \
        -e "s|@PORT_MEMBERSHIP_WORKER@|$((p + 106))|g" \
        -e "s|@DYNAMIC_CONFIG@|$REPO/deploy/temporal/dynamic-config.yaml|g" \
        "$REPO/deploy/temporal/server-postgres.yaml.template" >"$TPG_RUN/config.yaml"
}

tpg_health() { temporal_cli operator cluster health 2>/dev/null | grep -q SERVING; }

tpg_up() {
    if running_pid "$TPG_NAME" >/dev/null; then
        tpg_health && return 0
    else
        local port
        for port in "$TPG_PORT" "$((TPG_PORT + 1))" "$((TPG_PORT + 2))" "$((TPG_PORT + 6))"; do
            port_listening "$port" &&
                die_with_log temporal-postgres "port $port is already taken by: $(port_owner "$port")"
        done
        tpg_build
        postgres_ready || die_with_log temporal-postgres "PostgreSQL does not answer on port $PG_PORT: start it first (deploy/local/infra.sh start postgres)"
        tpg_databases
        tpg_config
        say "temporal-postgres: starting Temporal $TEMPORAL_SERVER_VERSION on $TEMPORAL_ADDRESS (PostgreSQL databases $TPG_DB, ${TPG_DB}_visibility)"
        launch "$TPG_NAME" "$TPG_LOG" "$TPG_BIN/server" --config-file "$TPG_RUN/config.yaml" \
            --allow-no-auth start
    fi
    local deadline=$((SECONDS + TEMPORAL_START_TIMEOUT))
    until tpg_health; do
        running_pid "$TPG_NAME" >/dev/null || die_with_log temporal-postgres "the server exited during start-up" "$TPG_LOG"
        ((SECONDS < deadline)) || die_with_log temporal-postgres "not serving on $TEMPORAL_ADDRESS within ${TEMPORAL_START_TIMEOUT}s" "$TPG_LOG"
        sleep 0.5
    done
    # The namespace and search attributes the dev server gets from its flags.
    temporal_cli operator namespace describe --namespace default >/dev/null 2>&1 ||
        temporal_cli operator namespace create --namespace default --retention 72h >>"$TPG_LOG" 2>&1 || true
    until temporal_answers; do
        ((SECONDS < deadline)) || die_with_log temporal-postgres "the search attributes are not registered" "$TPG_LOG"
        sleep 1
    done
    say "temporal-postgres: ready on $TEMPORAL_ADDRESS (pid $(read_pid "$TPG_NAME"))"
}

tpg_down() {
    running_pid "$TPG_NAME" >/dev/null || { rm -f "$PIDS/$TPG_NAME.pid"; say "temporal-postgres: not running"; return 0; }
    stop_group "$TPG_NAME" "$STOP_TIMEOUT"
}

case "${1:-}" in
build) tpg_build ;;
up) tpg_up ;;
down) tpg_down ;;
status)
    if pid="$(running_pid "$TPG_NAME")" && tpg_health; then
        echo "$TPG_NAME  running  pid $pid  $TEMPORAL_ADDRESS  (serving; PostgreSQL $TPG_DB)"
    else
        echo "$TPG_NAME  not serving"
        exit 3
    fi
    ;;
*) echo "usage: $0 build | up | down | status" >&2; exit 2 ;;
esac
