# Shared by the integration tests (bash). A test sources this file, calls
# setup, and reports with pass/fail. Everything it starts is recorded and
# stopped by pid on exit; everything it writes is under $T.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$HERE"
WARDEN=${WARDEN:-build/asan/warden}
T=$(mktemp -d /tmp/warden-test.XXXXXX)
# Started as root, the broker drops to the mosquitto user: it must reach $T/broker.
chmod 755 "$T"
PIDS=()
NFAIL=0

pass() { echo "ok $1"; }
fail() { echo "FAIL $1${2:+: $2}"; echo "FAIL $1${2:+: $2}" >&2; NFAIL=$((NFAIL + 1)); }
check() { # check NAME ACTUAL EXPECTED
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got '$2', expected '$3'"; fi
}

cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    if [ "$NFAIL" -eq 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "kept $T" >&2; fi
}
trap cleanup EXIT

# A free TCP port on 127.0.0.1: one nothing answers on.
free_port() {
    local p
    while :; do
        # Below Linux's ephemeral range (32768-60999): a port the kernel may
        # give an outgoing connection at any moment is no port to listen on.
        p=$((20000 + RANDOM % 12000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}

wait_port() { # wait_port PORT [SECONDS]
    local i
    for i in $(seq 1 $((${2:-10} * 20))); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# start_broker: the lab broker on a free port; sets BROKER_PORT and BROKER_PID.
start_broker() {
    BROKER_PORT=${BROKER_PORT:-$(free_port)}
    BROKER_PID=$(sh tools/broker.sh "$BROKER_PORT" "$T/broker")
    PIDS+=("$BROKER_PID")
    wait_port "$BROKER_PORT" || { fail broker-start; exit 1; }
}

# start_hub_broker KEYS: the lab hub, the broker with the (sanitized) warden_hub.so
# plugin reading the key store KEYS; records are flushed every 200 ms (HUB_FLUSH_MS).
start_hub_broker() {
    local plugin=${HUB_PLUGIN_SO:-build/asan/warden_hub.so} preload="" saved=${ASAN_OPTIONS:-}
    case "$plugin" in *asan*) preload=$(gcc -print-file-name=libasan.so) ;; esac
    # Leaks of the broker itself are not ours to report; the plugin has its fuzzers.
    export ASAN_OPTIONS=detect_leaks=0
    HUB_PLUGIN="$HERE/$plugin" HUB_KEYS="$1" HUB_FLUSH_MS=${HUB_FLUSH_MS:-200} HUB_PRELOAD="$preload" start_broker
    export ASAN_OPTIONS=$saved
}

stop_pid() { # stop_pid PID [SIGNAL]: signal one of our processes and wait for it to exit
    local i keep=()
    kill "-${2:-TERM}" "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    # The broker is not our child (tools/broker.sh starts it): poll until it is gone.
    for i in $(seq 1 200); do kill -0 "$1" 2>/dev/null || break; sleep 0.05; done
    for i in "${PIDS[@]}"; do [ "$i" = "$1" ] || keep+=("$i"); done
    PIDS=("${keep[@]}")
}

# launch_warden [ARGS]: warden run on $T/warden.db in the background; sets WARDEN_PID.
launch_warden() {
    "$WARDEN" run --db "$T/warden.db" --mqtt.port="$BROKER_PORT" --web.listen=127.0.0.1:0 \
        --mqtt.client_id="warden-test-$$" "$@" >> "$T/warden.log" 2>&1 &
    WARDEN_PID=$!
    PIDS+=("$WARDEN_PID")
}

# start_warden [ARGS]: launch_warden, then wait until it is connected to the broker.
start_warden() {
    launch_warden "$@"
    wait_sql "SELECT connected FROM ingest_state" 1 20 || { fail warden-start "$(tail -5 "$T/warden.log")"; exit 1; }
}

sql() { sqlite3 -batch -noheader "$T/warden.db" "$1"; }

wait_sql() { # wait_sql QUERY EXPECTED [SECONDS]
    local i v
    for i in $(seq 1 $((${3:-10} * 10))); do
        # Only once Warden has made the file: sqlite3 would make it with its own mode.
        [ -e "$T/warden.db" ] &&
            v=$(sqlite3 -batch -noheader "$T/warden.db" "$1" 2>/dev/null) && [ "$v" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}

pub() { # pub TOPIC FILE|-m MSG
    if [ "$2" = "-m" ]; then
        mosquitto_pub -p "$BROKER_PORT" -q 1 -t "$1" -m "$3"
    else
        mosquitto_pub -p "$BROKER_PORT" -q 1 -t "$1" -f "$2"
    fi
}

SEC_BAG='%24.ifid=urn%3Aazureiot%3ASecurity%3ASecurityAgent%3A1'
FB_TOPIC() { echo "devices/$1/messages/events/mti=2.3-1-0-0&$SEC_BAG"; }
JSON_TOPIC() { echo "devices/$1/messages/events/$SEC_BAG"; }
