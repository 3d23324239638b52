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
    for p in "${PIDS[@]}"; do wait_exit "$p" 60 sigterm; done
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

# ---- waiting: on a condition, until a deadline in wall-clock seconds ----
# A test waits for what it needs (a port, a row, a log line, a process gone),
# never for a fixed time: on a loaded machine (two cores shared with builds and
# other tests) everything takes several times longer than on an idle one. The
# deadlines are far beyond what an idle machine needs, so a test that passes
# there passes under load too, and one that fails still fails within its
# deadline. They are measured in wall time ($EPOCHREALTIME, no process started),
# not counted in polls: a poll costs more on a busy machine. The 0.05 s sleep
# between polls is the polling interval, not a wait for anything.

# now_ms: wall-clock milliseconds.
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }

# wait_until CMD [SECONDS]: run the shell command CMD (a string, evaluated each
# time, so it sees variables as they change) until it succeeds; false if it has
# not after SECONDS (default 30) of wall time.
wait_until() {
    local _wu_end=$((${EPOCHREALTIME/[.,]/} + ${2:-30} * 1000000))
    while :; do
        eval "$1" && return 0
        [ "${EPOCHREALTIME/[.,]/}" -lt "$_wu_end" ] || return 1
        sleep 0.05
    done
}

# wait_log PATTERN FILE [SECONDS]: until a line of FILE matches the extended regex PATTERN.
wait_log() {
    local _wl_pat=$1 _wl_file=$2
    wait_until 'grep -qE -- "$_wl_pat" "$_wl_file" 2>/dev/null' "${3:-30}"
}

wait_port() { # wait_port PORT [SECONDS]: until something accepts connections on 127.0.0.1:PORT
    local _wp_port=$1
    wait_until '(exec 3<>"/dev/tcp/127.0.0.1/$_wp_port") 2>/dev/null' "${2:-30}"
}

# wait_gone PID [SECONDS]: until the process PID no longer exists.
wait_gone() {
    local _wg_pid=$1
    wait_until '! kill -0 "$_wg_pid" 2>/dev/null' "${2:-30}"
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

# wait_exit PID SECONDS WHAT: wait for PID to exit after WHAT (a signal, or its own end);
# our status is its exit status. Polling: the broker is not our child (tools/broker.sh
# starts it). One still running after SECONDS is a failure, and is killed: the suite
# goes on rather than hang in `wait`.
wait_exit() {
    if ! wait_gone "$1" "$2"; then
        fail "exits-after-${3// /-}" "$(ps -o args= -p "$1" | cut -c1-100) (pid $1) still running $2 s after $3; killed"
        kill -KILL "$1" 2>/dev/null
        wait_gone "$1" 10
    fi
    wait "$1" 2>/dev/null
}

stop_pid() { # stop_pid PID [SIGNAL]: signal one of our processes and wait for it to exit
    local p keep=()
    kill "-${2:-TERM}" "$1" 2>/dev/null
    wait_exit "$1" 60 "sig$(echo "${2:-TERM}" | tr 'A-Z' 'a-z')"
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
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
    wait_sql "SELECT connected FROM ingest_state" 1 60 || { fail warden-start "$(tail -5 "$T/warden.log")"; exit 1; }
}

sql() { sqlite3 -batch -noheader "$T/warden.db" "$1"; }

wait_sql() { # wait_sql QUERY EXPECTED [SECONDS]: until QUERY on $T/warden.db answers EXPECTED
    # Only once Warden has made the file: sqlite3 would make it with its own mode.
    local _ws_q=$1 _ws_want=$2
    wait_until '[ -e "$T/warden.db" ] && [ "$(sqlite3 -batch -noheader "$T/warden.db" "$_ws_q" 2>/dev/null)" = "$_ws_want" ]' "${3:-30}"
}

pub() { # pub TOPIC FILE|-m MSG
    if [ "$2" = "-m" ]; then
        mosquitto_pub -p "$BROKER_PORT" -q 1 -t "$1" -m "$3"
    else
        mosquitto_pub -p "$BROKER_PORT" -q 1 -t "$1" -f "$2"
    fi
}

# start_sub OUT ARGS...: mosquitto_sub -d ARGS in the background, what it prints in OUT;
# returns once the broker has acknowledged the subscription (-d prints the SUBACK;
# stdbuf makes the output line-buffered), so that what is published next reaches it.
# Sets SUB_PID. sub_messages OUT leaves out -d's own lines ("Client ...", "Subscribed ...").
start_sub() {
    local _ss_out=$1
    shift
    stdbuf -oL mosquitto_sub -d "$@" > "$_ss_out" 2> "$_ss_out.err" &
    SUB_PID=$!
    PIDS+=("$SUB_PID")
    wait_until 'grep -q "received SUBACK" "$_ss_out" 2>/dev/null || ! kill -0 "$SUB_PID" 2>/dev/null'
    grep -q "received SUBACK" "$_ss_out" || { fail subscribe "$(tail -3 "$_ss_out.err" "$_ss_out")"; return 1; }
}
sub_messages() { grep -v -e '^Client ' -e '^Subscribed (mid: ' "$1"; }

# start_receiver NAME: `warden notify receive` on a free port, each notification it gets
# one line of $T/NAME.log; sets RECV_PORT and RECV_PID.
start_receiver() {
    RECV_PORT=$(free_port)
    "$WARDEN" notify receive --listen "127.0.0.1:$RECV_PORT" --out "$T/$1.log" >> "$T/$1.err" 2>&1 &
    RECV_PID=$!
    PIDS+=("$RECV_PID")
    wait_port "$RECV_PORT" || { fail receiver-start "$(tail -3 "$T/$1.err")"; exit 1; }
}

# start_alertmanager NAME [ARGS]: a real prometheus-alertmanager with conf/alertmanager.yml
# (and $AM_EXTRA),
# its webhook pointed at RECV_PORT and its grouping waits cut to seconds, on AM_PORT (a free
# port unless set), its data in $T/NAME (kept across restarts, as a real one's); sets AM_PORT,
# AM_URL and AM_PID once it answers /-/ready. Clustering off: nothing else to gossip with.
start_alertmanager() {
    local name=$1
    shift
    AM_PORT=${AM_PORT:-$(free_port)}
    AM_URL=http://127.0.0.1:$AM_PORT
    mkdir -p "$T/$name"
    sed -e "s|http://127.0.0.1:9096/|http://127.0.0.1:$RECV_PORT/|" -e 's/group_wait: .*/group_wait: 0s/' \
        -e 's/group_interval: .*/group_interval: 1s/' conf/alertmanager.yml > "$T/$name/am.yml"
    # AM_EXTRA: more configuration (inhibit_rules, say) appended for this one.
    [ -n "${AM_EXTRA:-}" ] && printf '%s\n' "$AM_EXTRA" >> "$T/$name/am.yml"
    prometheus-alertmanager --config.file="$T/$name/am.yml" --storage.path="$T/$name/data" \
        --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= "$@" >> "$T/$name/am.log" 2>&1 &
    AM_PID=$!
    PIDS+=("$AM_PID")
    wait_until 'curl -sf "$AM_URL/-/ready" > /dev/null' 60 ||
        { fail alertmanager-start "$(tail -3 "$T/$name/am.log")"; exit 1; }
}

# am_alerts URL OUT [QUERY]: Alertmanager's GET /api/v2/alerts (Warden's only) into OUT.
am_alerts() {
    curl -sf --max-time 20 "$1/api/v2/alerts?filter=source%3D%22warden%22${3:+&$3}" > "$2"
}

# json EXPR [FILE]: an SQL expression over the JSON text j of FILE (default: the last
# body of web_lib.sh's req), with sqlite3's JSON functions: no jq needed.
json() {
    sqlite3 -batch -noheader :memory: \
        "SELECT $1 FROM (SELECT CAST(readfile('${2:-$T/body}') AS TEXT) AS j)"
}

# wait_front OUT PID: the port the TLS front end (`warden hub tls --hub.tls.listen=127.0.0.1:0`,
# process PID) says in OUT it listens on, once it has; fails if PID exits first. Sets FRONT_PORT.
wait_front() {
    local _wf_out=$1 _wf_pid=$2 _wf_re='^warden hub tls: listening on 127.0.0.1:[0-9]+$'
    wait_until 'grep -qE "$_wf_re" "$_wf_out" 2>/dev/null || ! kill -0 "$_wf_pid" 2>/dev/null'
    FRONT_PORT=$(grep -E "$_wf_re" "$_wf_out" | head -1 | sed 's/.*://')
    [ -n "$FRONT_PORT" ]
}

# lab_tls_pki DIR: a lab CA (DIR/lab-ca.pem, the root devices trust) and the TLS front end's
# server certificate for localhost and 127.0.0.1 signed by it (DIR/server.pem, server.key).
# EC keys: quick to make. Sets NEWKEY, the openssl req options for more such keys.
NEWKEY=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
lab_tls_pki() {
    (
        cd "$1" &&
        openssl req -x509 "${NEWKEY[@]}" -keyout lab-ca.key -out lab-ca.pem -days 2 -subj /CN=lab-ca &&
        openssl req "${NEWKEY[@]}" -keyout server.key -out server.csr -subj /CN=localhost &&
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > server.ext &&
        openssl x509 -req -in server.csr -CA lab-ca.pem -CAkey lab-ca.key -CAcreateserial -days 2 \
            -extfile server.ext -out server.pem
    ) >> "$T/pki.log" 2>&1
}

# start_front DIR: `warden hub tls` on a free port in front of the broker, with DIR/server.pem
# (lab_tls_pki); sets FRONT_PID and TLS_PORT.
start_front() {
    "$WARDEN" hub tls --db "$T/warden.db" --hub.tls.listen=127.0.0.1:0 \
        --hub.tls.cert_file="$1/server.pem" --hub.tls.key_file="$1/server.key" \
        --mqtt.port="$BROKER_PORT" > "$T/front.out" 2>> "$T/front.log" &
    FRONT_PID=$!
    PIDS+=("$FRONT_PID")
    wait_front "$T/front.out" "$FRONT_PID" || { fail front-start "$(tail -3 "$T/front.log")"; exit 1; }
    TLS_PORT=$FRONT_PORT
}

# The lab hub's plugin re-reads its key store once a second when the file changed, and
# logs each load: hub_keys_loads counts them, wait_hub_keys N waits for a load after N.
hub_keys_loads() { grep -c 'warden_hub: key store loaded' "$T/broker/mosquitto.log"; }
wait_hub_keys() {
    local _wk_n=$1
    wait_until '[ "$(hub_keys_loads)" -gt "$_wk_n" ]' "${2:-30}"
}

SEC_BAG='%24.ifid=urn%3Aazureiot%3ASecurity%3ASecurityAgent%3A1'
FB_TOPIC() { echo "devices/$1/messages/events/mti=2.3-1-0-0&$SEC_BAG"; }
JSON_TOPIC() { echo "devices/$1/messages/events/$SEC_BAG"; }
