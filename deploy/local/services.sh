#!/usr/bin/env bash
# The Python service processes of Once-Only, as listed in deploy/local/Procfile.
#
#   deploy/local/services.sh up | down | status
#   deploy/local/services.sh start|stop|restart NAME     (NAME from the Procfile)
#
# Each process runs from the repository root in its own session/process group (setsid),
# with the variables of deploy/local/env (the caller's environment wins), output appended
# to .run/logs/NAME.log and its pid in .run/pids/NAME.pid. A process whose pid file names
# a live process is not started twice. `up` waits until each service's
# GET http://127.0.0.1:PORT/health answers 200 {"status": "ok"}; those endpoints report
# their service's background processes through heartbeats, so 200 means the whole service
# is ready. A process that dies while we wait is reported at once, with its log tail.
set -euo pipefail

# shellcheck source=deploy/local/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

PROCFILE="${ONCEONLY_PROCFILE:-$DEPLOY_LOCAL/Procfile}"
ENV_FILE="${ONCEONLY_ENV_FILE:-$DEPLOY_LOCAL/env}"
START_TIMEOUT="${ONCEONLY_SERVICES_START_TIMEOUT:-120}"
STOP_TIMEOUT="${ONCEONLY_SERVICES_STOP_TIMEOUT:-20}"
INFRA_NAMES=" postgres kafka kafka-1 kafka-2 kafka-3 temporal " # pid files in .run/pids that are not ours here

cd "$REPO"

# --- environment -------------------------------------------------------------------------
# Export KEY=VALUE defaults; a variable already set wins. Values may use ${NAME} and
# ${NAME:-default} (expanded here); command substitution is refused.
load_env() {
    [[ -f "$ENV_FILE" ]] || return 0
    local line key value n=0
    while IFS= read -r line || [[ -n "$line" ]]; do
        n=$((n + 1))
        [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
        if [[ ! "$line" =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
            die_with_log services "$ENV_FILE line $n is not KEY=VALUE: $line"
        fi
        key="${BASH_REMATCH[1]}"
        value="${BASH_REMATCH[2]}"
        [[ -n "${!key+set}" ]] && continue
        # shellcheck disable=SC2016 # the literal characters are what we refuse
        if [[ "$value" == *'$('* || "$value" == *'`'* ]]; then
            die_with_log services "$ENV_FILE line $n: command substitution is not allowed"
        fi
        eval "value=\"$value\""
        export "$key=$value"
    done <"$ENV_FILE"
}

# --- Procfile ----------------------------------------------------------------------------
NAMES=()
declare -A COMMANDS=()

load_procfile() {
    [[ -f "$PROCFILE" ]] || die_with_log services "no Procfile at $PROCFILE"
    local line name n=0
    while IFS= read -r line || [[ -n "$line" ]]; do
        n=$((n + 1))
        [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
        if [[ ! "$line" =~ ^([A-Za-z0-9_-]+):[[:space:]]*(.+)$ ]]; then
            die_with_log services "$PROCFILE line $n is not 'name: command': $line"
        fi
        name="${BASH_REMATCH[1]}"
        NAMES+=("$name")
        COMMANDS[$name]="${BASH_REMATCH[2]}"
    done <"$PROCFILE"
}

known() { [[ -n "${COMMANDS[$1]+set}" ]]; }

# The service a process belongs to: its name up to the first '-' (workflow-api -> workflow).
service_of() { printf '%s\n' "${1%%-*}"; }

# The /health port of a service; empty if it has none (then "alive" is all we can check).
health_port() {
    case "$1" in
    intake) echo "${ONCEONLY_INTAKE_PORT:-8000}" ;;
    workflow) echo "${ONCEONLY_WORKFLOW_API_PORT:-8001}" ;;
    tracking) echo "${ONCEONLY_TRACKING_PORT:-8002}" ;;
    notify) echo "${ONCEONLY_NOTIFY_PORT:-8003}" ;;
    *) echo "" ;;
    esac
}

# Processes (Procfile names) of a service.
members_of() {
    local name
    for name in "${NAMES[@]}"; do
        [[ "$(service_of "$name")" == "$1" ]] && printf '%s\n' "$name"
    done
    return 0
}

# The distinct services of the given process names, in order.
services_of() {
    local name svc seen=" "
    for name in "$@"; do
        svc="$(service_of "$name")"
        [[ "$seen" == *" $svc "* ]] && continue
        seen+="$svc "
        printf '%s\n' "$svc"
    done
}

# --- health ------------------------------------------------------------------------------
HEALTH_LAST="$RUN/health-last.txt"

# health_ok SERVICE: 200 with JSON status "ok". The last answer is kept for error messages.
health_ok() {
    local port
    port="$(health_port "$1")"
    [[ -n "$port" ]] || return 0
    python3 - "http://127.0.0.1:$port/health" >"$HEALTH_LAST.$1" 2>&1 <<'PY'
import json, sys, urllib.error, urllib.request

url = sys.argv[1]
try:
    with urllib.request.urlopen(url, timeout=3) as response:
        code, body = response.status, response.read()
except urllib.error.HTTPError as error:
    code, body = error.code, error.read()
except OSError as error:
    print(f"GET {url}: {error}")
    sys.exit(1)
print(f"GET {url} -> {code} {body[:500].decode(errors='replace')}")
try:
    ok = code == 200 and json.loads(body).get("status") == "ok"
except ValueError:
    ok = False
sys.exit(0 if ok else 1)
PY
}

# --- start / stop ------------------------------------------------------------------------
start_process() {
    local name="$1" pid cmd exe
    if pid="$(running_pid "$name")"; then
        say "$name: already running (pid $pid)"
        return 0
    fi
    cmd="${COMMANDS[$name]}"
    exe="${cmd%% *}"
    if [[ "$exe" == */* && ! -x "$exe" ]]; then
        die_with_log "$name" "$exe does not exist or is not executable (run 'make setup')"
    fi
    say "$name: starting: $cmd"
    # exec: the pid recorded is the service's own, not a wrapper shell's.
    launch "$name" "$LOGS/$name.log" bash -c "exec $cmd"
}

# wait_ready NAME...: poll until the services of these processes answer /health, failing
# fast if one of their processes dies.
wait_ready() {
    local deadline=$((SECONDS + START_TIMEOUT)) pending=() svc name still
    mapfile -t pending < <(services_of "$@")
    while ((${#pending[@]})); do
        for name in "$@"; do
            running_pid "$name" >/dev/null ||
                die_with_log "$name" "process exited during start-up" "$LOGS/$name.log"
        done
        still=()
        for svc in "${pending[@]}"; do
            if health_ok "$svc"; then
                [[ -n "$(health_port "$svc")" ]] &&
                    say "$svc: ready (http://127.0.0.1:$(health_port "$svc")/health)"
            else
                still+=("$svc")
            fi
        done
        pending=("${still[@]+"${still[@]}"}")
        ((${#pending[@]})) || break
        if ((SECONDS >= deadline)); then
            svc="${pending[0]}"
            local logs=()
            mapfile -t logs < <(members_of "$svc" | sed "s|.*|$LOGS/&.log|")
            cat "$HEALTH_LAST.$svc" >&2 2>/dev/null || true
            die_with_log "$svc" "not ready after ${START_TIMEOUT}s (/health on port $(health_port "$svc") never answered 200 {\"status\": \"ok\"}; services not ready: ${pending[*]})" "${logs[@]}"
        fi
        sleep 0.5
    done
}

# Stop several processes at once: SIGTERM every group first, then wait for each (one
# shared timeout, since the others exit meanwhile), then SIGKILL stragglers.
stop_processes() {
    local name pid pids=() names=() i deadline
    for name in "$@"; do
        if pid="$(term_group "$name")"; then
            pids+=("$pid")
            names+=("$name")
        fi
    done
    deadline=$((SECONDS + STOP_TIMEOUT))
    for i in "${!pids[@]}"; do
        reap_group "${names[$i]}" "${pids[$i]}" "$((deadline > SECONDS ? deadline - SECONDS : 0))"
    done
}

# Pid files of processes started here that the Procfile no longer lists (renamed entries).
orphans() {
    local f name
    for f in "$PIDS"/*.pid; do
        [[ -e "$f" ]] || continue
        name="$(basename "$f" .pid)"
        [[ "$INFRA_NAMES" == *" $name "* ]] && continue
        known "$name" || printf '%s\n' "$name"
    done
}

# --- commands ----------------------------------------------------------------------------
cmd_up() {
    local t0=$SECONDS name
    for name in "${NAMES[@]}"; do
        start_process "$name"
    done
    wait_ready "${NAMES[@]}"
    say "services up in $((SECONDS - t0))s (logs in $LOGS)"
}

cmd_down() {
    local reversed=() i extra=()
    for ((i = ${#NAMES[@]} - 1; i >= 0; i--)); do
        reversed+=("${NAMES[$i]}")
    done
    mapfile -t extra < <(orphans)
    stop_processes "${reversed[@]}" "${extra[@]+"${extra[@]}"}"
    say "services down"
}

cmd_status() {
    local rc=0 name pid svc
    for name in "${NAMES[@]}"; do
        if pid="$(running_pid "$name")"; then
            printf '%-18s running  pid %s\n' "$name" "$pid"
        else
            printf '%-18s stopped\n' "$name"
            rc=3
        fi
    done
    while IFS= read -r svc; do
        [[ -n "$(health_port "$svc")" ]] || continue
        if health_ok "$svc"; then
            printf '%-18s healthy  http://127.0.0.1:%s/health\n' "$svc" "$(health_port "$svc")"
        else
            printf '%-18s NOT healthy  %s\n' "$svc" "$(head -c 200 "$HEALTH_LAST.$svc" 2>/dev/null)"
            rc=3
        fi
    done < <(services_of "${NAMES[@]}")
    return "$rc"
}

usage() {
    echo "usage: $0 up | down | status | start NAME | stop NAME | restart NAME | run CMD..." >&2
    echo "NAME is one of: ${NAMES[*]}" >&2
    exit 2
}

kafka_cluster_env
load_env
load_procfile
case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
run)
    # A one-off command (e.g. seeding) with the same environment as the services.
    shift
    [[ $# -gt 0 ]] || usage
    exec "$@"
    ;;
start | stop | restart)
    if [[ -z "${2:-}" ]] || ! known "$2"; then usage; fi
    [[ "$1" == start ]] || stop_processes "$2"
    if [[ "$1" != stop ]]; then
        start_process "$2"
        wait_ready "$2"
    fi
    ;;
*) usage ;;
esac
