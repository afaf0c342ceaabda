#!/bin/sh
# Temporal's two databases on the project's PostgreSQL, created and brought to the schema
# of the server image beside it (docker-compose.yml: run once before `temporal`, again on
# every `up`). Runs in temporalio/admin-tools, whose temporal-sql-tool and schema files
# match the server of the same version.
set -eu

SCHEMA=/etc/temporal/schema/postgresql/v12
sql() {
    temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "${DB_PORT:-5432}" \
        -u "$POSTGRES_USER" --pw "$POSTGRES_PWD" "$@"
}

for pair in temporal:temporal temporal_visibility:visibility; do
    db="${pair%%:*}"
    kind="${pair#*:}"
    # First start: the database and its version table. Later starts find both; then
    # only update-schema below may change anything, and it must succeed.
    if sql --db "$db" create 2>/dev/null; then
        sql --db "$db" setup-schema -v 0.0
        echo "$db: created"
    fi
    sql --db "$db" update-schema -d "$SCHEMA/$kind/versioned"
    echo "$db: schema up to date"
done
