# shellcheck shell=bash
# Shared helpers for infra.sh and services.sh (sourced, not executed).
#
# Everything the bring-up creates lives under "$REPO/.run": logs in .run/logs/NAME.log,
# pid files in .run/pids/NAME.pid. REPO is computed from this file's location so that a
# fresh clone in any directory (as CI does) works the same.

DEPLOY_LOCAL="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$DEPLOY_LOCAL/../.." && pwd)"
# ONCEONLY_RUN_DIR moves all of it, so that a second, separate instance (the fault-injection
# run of tests/chaos, on other ports) can run beside the first.
RUN="${ONCEONLY_RUN_DIR:-$REPO/.run}"
LOGS="$RUN/logs"
PIDS="$RUN/pids"
mkdir -p "$LOGS" "$PIDS"

# Kafka of the bring-up: one node, or ONCEONLY_KAFKA_NODES=3 for a three-node KRaft cluster
# (deploy/local/kafka-cluster.sh; node N serves ONCEONLY_KAFKA_PORT + 2(N-1), its
# controller the port after), so that a broker can be killed with nothing lost.
KAFKA_NODES="${ONCEONLY_KAFKA_NODES:-1}"
[[ "$KAFKA_NODES" == 1 || "$KAFKA_NODES" == 3 ]] || {
    echo "ONCEONLY_KAFKA_NODES must be 1 or 3, not $KAFKA_NODES" >&2
    exit 2
}
# The names of the broker processes (their pid files and logs): kafka, or kafka-1..3.
kafka_names() {
    if ((KAFKA_NODES == 1)); then echo kafka; else echo kafka-1 kafka-2 kafka-3; fi
}

# With the cluster, the services' defaults follow it (the caller's settings win): every
# node in the bootstrap list, topics made with three replicas, a write held by two.
kafka_cluster_env() {
    ((KAFKA_NODES > 1)) || return 0
    local base="${ONCEONLY_KAFKA_PORT:-9092}"
    export ONCEONLY_KAFKA_BOOTSTRAP="${ONCEONLY_KAFKA_BOOTSTRAP:-127.0.0.1:$base,127.0.0.1:$((base + 2)),127.0.0.1:$((base + 4))}"
    export ONCEONLY_KAFKA_REPLICATION_FACTOR="${ONCEONLY_KAFKA_REPLICATION_FACTOR:-3}"
    export ONCEONLY_KAFKA_MIN_INSYNC_REPLICAS="${ONCEONLY_KAFKA_MIN_INSYNC_REPLICAS:-2}"
}

# How many log lines to show when something fails to come up.
LOG_TAIL_LINES="${ONCEONLY_LOG_TAIL_LINES:-40}"

say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
warn() { printf '[%s] WARNING: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# die_with_log COMPONENT MESSAGE [LOGFILE...]: name the component, show its log tail, exit 1.
die_with_log() {
    local component="$1" message="$2"
    shift 2
    printf '\n[%s] ERROR: %s: %s\n' "$(date +%H:%M:%S)" "$component" "$message" >&2
    local f
    for f in "$@"; do
        if [[ -s "$f" ]]; then
            printf -- '----- last %s lines of %s -----\n' "$LOG_TAIL_LINES" "$f" >&2
            tail -n "$LOG_TAIL_LINES" "$f" >&2
            printf -- '----- end of %s -----\n' "$f" >&2
        else
            printf -- '(log %s is empty or missing)\n' "$f" >&2
        fi
    done
    exit 1
}

# pid_alive PID: true if the process exists and is not a zombie. Zombies count as dead:
# the machine's PID 1 may not reap orphans, and a zombie still answers `kill -0`.
pid_alive() {
    local pid="$1" state
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # The state follows the command name, which is in parentheses and may hold spaces.
    state="$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1 || true)"
    [[ -n "$state" && "$state" != "Z" && "$state" != "X" ]]
}

# read_pid NAME: the pid recorded in .run/pids/NAME.pid (empty if none).
read_pid() {
    local f="$PIDS/$1.pid"
    if [[ -f "$f" ]]; then tr -dc '0-9' <"$f"; fi
}

# running_pid NAME: print the recorded pid if that process is alive and is still the one we
# started (we start everything with setsid, so it leads its own session: sid == pid; this
# guards against a recycled pid after a reboot). Returns 1 otherwise.
running_pid() {
    local pid sid
    pid="$(read_pid "$1")"
    [[ -n "$pid" ]] && pid_alive "$pid" || return 1
    sid="$(ps -o sid= -p "$pid" 2>/dev/null | tr -d ' ')"
    [[ "$sid" == "$pid" ]] || return 1
    printf '%s\n' "$pid"
}

# launch NAME LOGFILE CMD...: start CMD in its own session (setsid => own process group,
# immune to the caller's Ctrl-C/hangup), append its output to LOGFILE, record its pid.
# In a non-interactive bash the background child is not a process-group leader, so setsid
# does not fork again and $! is the pid of CMD itself.
launch() {
    local name="$1" logfile="$2"
    shift 2
    printf '\n===== %s starting %s =====\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$name" >>"$logfile"
    setsid "$@" >>"$logfile" 2>&1 </dev/null &
    local pid=$! i
    printf '%s\n' "$pid" >"$PIDS/$name.pid"
    # Until the child has called setsid(2) its session is ours, and running_pid takes it
    # for another process: a caller that looks at once (wait_ready) then reported
    # "process exited during start-up" for a process that was starting (the CI's fault
    # injection, 2026-12-06, on a loaded machine). Wait for it, boundedly.
    for ((i = 0; i < 200; i++)); do
        [[ "$(ps -o sid= -p "$pid" 2>/dev/null | tr -d ' ')" == "$pid" ]] && break
        pid_alive "$pid" || break
        sleep 0.05
    done
}

# term_group NAME: SIGTERM the process group we started (setsid made pgid == pid).
# Prints the pid signalled; returns 1 (and drops a stale pid file) if it was not running.
term_group() {
    local name="$1" pid
    if ! pid="$(running_pid "$name")"; then
        rm -f "$PIDS/$name.pid"
        return 1
    fi
    say "stopping $name (pid $pid)" >&2
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    printf '%s\n' "$pid"
}

# reap_group NAME PID TIMEOUT: wait for PID to exit, SIGKILL its group after TIMEOUT seconds.
reap_group() {
    local name="$1" pid="$2" timeout="$3"
    if ! wait_pid_exit "$pid" "$timeout"; then
        warn "$name (pid $pid) did not exit within ${timeout}s after SIGTERM; sending SIGKILL"
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        wait_pid_exit "$pid" 10 || warn "$name (pid $pid) still present after SIGKILL"
    fi
    rm -f "$PIDS/$name.pid"
}

# stop_group NAME [TIMEOUT]: SIGTERM, wait for exit, escalate to SIGKILL after TIMEOUT
# seconds. Only ever signals the recorded pid and its process group, never by name.
stop_group() {
    local name="$1" timeout="${2:-30}" pid
    pid="$(term_group "$name")" || return 0
    reap_group "$name" "$pid" "$timeout"
}

# wait_pid_exit PID TIMEOUT: poll until PID is gone (or a zombie).
wait_pid_exit() {
    local pid="$1" deadline=$((SECONDS + $2))
    while pid_alive "$pid"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# port_listening PORT: true if something listens on 127.0.0.1:PORT (or a wildcard address).
port_listening() {
    ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# port_owner PORT: a human-readable description of who listens on PORT.
port_owner() {
    local line
    line="$(ss -Hltnp "sport = :$1" 2>/dev/null | head -n1)"
    [[ -n "$line" ]] && printf '%s\n' "$line" || printf 'unknown process\n'
}
