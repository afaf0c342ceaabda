#!/usr/bin/env bash
# A local Apache Kafka cluster of three KRaft nodes (each a broker and a controller voter)
# on 127.0.0.1, from the same jars as the single broker of infra.sh, for runs that kill
# one broker at a time under load (replication factor 3, min.insync.replicas 2).
#
#   deploy/local/kafka-cluster.sh up | down | status | bootstrap
#   deploy/local/kafka-cluster.sh start|stop N      (N = 1, 2 or 3)
#
# Ports: ONCEONLY_KAFKA_CLUSTER_PORT (29092) and up: node N serves clients on
# base + 2(N-1) and its controller on the next port. State in $RUN/kafka-cluster/N;
# pid files kafka-N in $RUN/pids (ONCEONLY_RUN_DIR moves both, as for infra.sh).
set -euo pipefail

# The broker's toolchain and jars (kafka_toolchain, kafka_libs, kafka_java, KAFKA_DEPLOY).
# shellcheck source=deploy/local/infra.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/infra.sh"

NODES=(1 2 3)
BASE_PORT="${ONCEONLY_KAFKA_CLUSTER_PORT:-29092}"
CLUSTER_RUN="$RUN/kafka-cluster"
CLUSTER_LOG="$LOGS/kafka-cluster.log"

node_port() { echo $((BASE_PORT + 2 * ($1 - 1))); }
node_controller_port() { echo $(($(node_port "$1") + 1)); }
node_dir() { echo "$CLUSTER_RUN/$1"; }
bootstrap() {
    local n out=()
    for n in "${NODES[@]}"; do out+=("127.0.0.1:$(node_port "$n")"); done
    (IFS=,; echo "${out[*]}")
}
voters() {
    local n out=()
    for n in "${NODES[@]}"; do out+=("$n@127.0.0.1:$(node_controller_port "$n")"); done
    (IFS=,; echo "${out[*]}")
}

# The brokers the cluster reports unfenced, as node ids, one a line.
cluster_brokers() {
    "$PY" - "$(bootstrap)" <<'PY' 2>/dev/null
import asyncio, sys
from aiokafka.admin import AIOKafkaAdminClient

async def main() -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=3000)
    await admin.start()
    try:
        cluster = await asyncio.wait_for(admin.describe_cluster(), 5)
        for broker in cluster["brokers"]:
            print(broker["node_id"])
    finally:
        await admin.close()

asyncio.run(asyncio.wait_for(main(), 10))
PY
}

configure_node() {
    local n="$1" dir config
    dir="$(node_dir "$n")"
    config="$dir/server.properties"
    mkdir -p "$dir/data"
    sed -e "s|@NODE_ID@|$n|g" -e "s|@VOTERS@|$(voters)|g" \
        -e "s|@PORT@|$(node_port "$n")|g" -e "s|@CONTROLLER_PORT@|$(node_controller_port "$n")|g" \
        -e "s|@DATA_DIR@|$dir/data|g" \
        "$KAFKA_DEPLOY/cluster.properties.template" >"$config.tmp"
    mv "$config.tmp" "$config"
    # Every node formatted once with the cluster's one id.
    if [[ ! -f "$dir/data/meta.properties" ]]; then
        kafka_java kafka.tools.StorageTool format -t "$(cat "$CLUSTER_RUN/cluster.id")" \
            -c "$config" >>"$CLUSTER_LOG" 2>&1 ||
            die_with_log kafka-cluster "StorageTool format of node $n failed" "$CLUSTER_LOG"
    fi
}

launch_node() {
    local n="$1" port
    running_pid "kafka-$n" >/dev/null && return 0
    for port in "$(node_port "$n")" "$(node_controller_port "$n")"; do
        port_listening "$port" &&
            die_with_log kafka-cluster "port $port is already taken by: $(port_owner "$port")"
    done
    configure_node "$n"
    say "kafka-cluster: starting node $n on 127.0.0.1:$(node_port "$n")"
    launch "kafka-$n" "$LOGS/kafka-$n.log" java -Xms192m -Xmx384m \
        -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$KAFKA_DEPLOY/log4j2.xml" \
        -cp "$KAFKA_LIBS/*" kafka.Kafka "$(node_dir "$n")/server.properties"
}

# wait_brokers N...: until each node named is an unfenced broker of the cluster.
wait_brokers() {
    local deadline=$((SECONDS + KAFKA_START_TIMEOUT)) n listed missing
    while :; do
        listed="$(cluster_brokers || true)"
        missing=()
        for n in "$@"; do grep -qx "$n" <<<"$listed" || missing+=("$n"); done
        ((${#missing[@]} == 0)) && break
        for n in "${missing[@]}"; do
            running_pid "kafka-$n" >/dev/null ||
                die_with_log kafka-cluster "node $n exited during start-up" "$LOGS/kafka-$n.log"
        done
        ((SECONDS < deadline)) ||
            die_with_log kafka-cluster "node(s) ${missing[*]} not in the cluster within ${KAFKA_START_TIMEOUT}s" "$LOGS/kafka-${missing[0]}.log"
        sleep 1
    done
    say "kafka-cluster: node(s) $* up; bootstrap $(bootstrap)"
}

cluster_up() {
    kafka_toolchain
    kafka_libs
    mkdir -p "$CLUSTER_RUN"
    if [[ ! -f "$CLUSTER_RUN/cluster.id" ]]; then
        kafka_java kafka.tools.StorageTool random-uuid 2>>"$CLUSTER_LOG" | tail -n1 >"$CLUSTER_RUN/cluster.id"
        [[ -s "$CLUSTER_RUN/cluster.id" ]] || die_with_log kafka-cluster "no cluster id" "$CLUSTER_LOG"
    fi
    local n
    for n in "${NODES[@]}"; do launch_node "$n"; done
    wait_brokers "${NODES[@]}"
}

stop_node() {
    local n="$1"
    running_pid "kafka-$n" >/dev/null || { rm -f "$PIDS/kafka-$n.pid"; say "kafka-cluster: node $n not running"; return 0; }
    stop_group "kafka-$n" "$STOP_TIMEOUT"
}

node_arg() {
    [[ "${1:-}" =~ ^[123]$ ]] || { echo "usage: $0 start|stop 1|2|3" >&2; exit 2; }
}

case "${1:-}" in
up) cluster_up ;;
# All at once: stopped one after the other, the last nodes wait for a controller quorum
# that is gone before they give up their controlled shutdown.
down)
    for n in "${NODES[@]}"; do stop_node "$n" & done
    wait
    ;;
start) node_arg "${2:-}" && { launch_node "$2"; wait_brokers "$2"; } ;;
stop) node_arg "${2:-}" && stop_node "$2" ;;
status)
    for n in "${NODES[@]}"; do
        if pid="$(running_pid "kafka-$n")"; then echo "kafka-$n  running  pid $pid  127.0.0.1:$(node_port "$n")"; else echo "kafka-$n  stopped"; fi
    done
    echo "unfenced brokers: $(cluster_brokers | sort | paste -sd, -)"
    ;;
bootstrap) bootstrap ;;
*) echo "usage: $0 up | down | status | bootstrap | start|stop 1|2|3" >&2; exit 2 ;;
esac
