#!/bin/bash
# `make run` and `make demo`: the lab hub (Mosquitto with build/warden_hub.so)
# on 127.0.0.1:1883, a Prometheus Alertmanager on 127.0.0.1:9093
# (conf/alertmanager.yml) whose webhook is `warden notify receive`, and
# `warden run` with its dashboard on 127.0.0.1:8080, sending its alerts to that
# Alertmanager. With --demo, simulated devices too, and Warden's TLS front end
# on 8883 for the devices that log in with certificates. Everything lives in
# ./lab/ (database, broker state, the hub's key store, certificates,
# Alertmanager's data, the notifications it sent, logs).
#
# Each component is checked once started (broker listening with the plugin
# loaded, receiver listening, Alertmanager ready, Warden connected and serving,
# front end listening, simulator publishing). If one is not up, or one stops
# later, everything this script started is stopped and it exits 1, naming the
# component and showing the end of its log. Ctrl-C stops everything it started
# and exits 0.
#
# Ports: MQTT_PORT, WEB_LISTEN (host:port), ALERTMANAGER_PORT and TLS_PORT
# choose them, and a port chosen that way must be free. A default port that is
# taken (Debian's own mosquitto service listens on 1883, its
# prometheus-alertmanager on 9093) is replaced by a free one, said so. The
# receiver takes whatever port the kernel gives it: only Alertmanager needs it.
# HUB=0 starts a broker that takes anyone instead of the lab hub.
set -u
cd "$(dirname "$0")/.."
DEMO=0
[ "${1:-}" = "--demo" ] && DEMO=1
LAB=${LAB_DIR:-lab}
mkdir -p "$LAB"
LAB=$(cd "$LAB" && pwd)
HUB=${HUB:-1}
UP_SECONDS=${RUN_UP_SECONDS:-60} # how long a component may take to come up

PIDS=()                       # everything started, to stop
NAMES=() LOGS=() WATCHED=()    # the components that must stay up
stop() {
    local p i
    trap - INT TERM
    for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null; done
    # The broker is not this shell's child (tools/broker.sh starts it): poll.
    for i in $(seq 1 100); do
        local alive=0
        for p in "${PIDS[@]}"; do kill -0 "$p" 2> /dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2> /dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2> /dev/null; done
}
trap stop EXIT
trap 'echo; echo "run: stopping"; exit 0' INT TERM

# fail NAME LOG REASON: say which component failed and why, show the end of its
# log, and exit 1 (the EXIT trap stops the rest).
fail() {
    echo "run: $1 $3" >&2
    [ "$2" = - ] && exit 1
    if [ -s "$2" ]; then
        echo "---- last lines of $2 ----" >&2
        tail -n 15 "$2" >&2
        echo "----" >&2
    fi
    echo "run: stopped everything this script started; the log is $2" >&2
    exit 1
}

port_open() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

# holder PORT: who listens there, when ss can tell.
holder() {
    command -v ss > /dev/null || return 0
    ss -Hltnp "sport = :$1" 2> /dev/null | sed -n 's/.*users:((\("[^"]*"\),pid=\([0-9]*\).*/ (\1, pid \2)/p' | head -1
}

# choose_port NAME GIVEN DEFAULT: GIVEN if set (and then it must be free),
# else DEFAULT if free, else the next free port above it.
choose_port() {
    local name=$1 given=$2 p=$3
    if [ -n "$given" ]; then
        port_open "$given" && fail "$name" - \
            "cannot start: port $given is taken by another program$(holder "$given"); choose a free one"
        echo "$given"
        return
    fi
    while port_open "$p"; do
        echo "run: port $p is taken$(holder "$p"): the $name uses $((p + 1)) instead" >&2
        p=$((p + 1))
    done
    echo "$p"
}

# started NAME LOG PID: remember a component, to stop it and watch it.
started() { NAMES+=("$1") LOGS+=("$2") WATCHED+=("$3") PIDS+=("$3") LAST=$3; }

# await NAME LOG PID WHAT CHECK...: wait until CHECK succeeds; fail if the
# process exits first or UP_SECONDS pass.
await() {
    local name=$1 log=$2 pid=$3 what=$4 deadline=$((SECONDS + UP_SECONDS))
    shift 4
    until "$@"; do
        kill -0 "$pid" 2> /dev/null || fail "$name" "$log" "exited before it was $what"
        [ "$SECONDS" -ge "$deadline" ] && fail "$name" "$log" "was not $what after ${UP_SECONDS} s"
        sleep 0.2
    done
}

sql1() { sqlite3 -batch -noheader "$LAB/warden.db" "$1" 2> /dev/null; }

MQTT_PORT=$(choose_port "lab broker" "${MQTT_PORT:-}" 1883) || exit 1
WEB_PORT=$(choose_port dashboard "${WEB_LISTEN:+${WEB_LISTEN##*:}}" 8080) || exit 1
AM_PORT=$(choose_port Alertmanager "${ALERTMANAGER_PORT:-}" 9093) || exit 1
WEB=${WEB_LISTEN:-127.0.0.1:$WEB_PORT}
T0_MS=$(($(date +%s) * 1000))

# Warden and the simulator log in to the lab hub as its service; the key store
# holds the service secret (and is made here if no import has made it yet).
build/warden registry init --db "$LAB/warden.db" >> "$LAB/warden.log" 2>&1 ||
    fail "key store" "$LAB/warden.log" "could not be made"
LOGIN=(--mqtt.username=warden-service --mqtt.password_file="$LAB/warden-hub.keys")

# The broker.
BLOG=$LAB/broker/mosquitto.log
mkdir -p "$LAB/broker"
: > "$BLOG"
[ "$HUB" != 0 ] && export HUB_PLUGIN="$PWD/build/warden_hub.so" HUB_KEYS="$LAB/warden-hub.keys"
started "lab broker" "$BLOG" "$(sh tools/broker.sh "$MQTT_PORT" "$LAB/broker")"
await "lab broker" "$BLOG" "$LAST" "listening on 127.0.0.1:$MQTT_PORT" port_open "$MQTT_PORT"
if [ "$HUB" != 0 ]; then
    await "lab broker" "$BLOG" "$LAST" "running the lab hub plugin" grep -q "warden_hub: lab hub" "$BLOG"
    echo "run: lab hub on 127.0.0.1:$MQTT_PORT (plugin $HUB_PLUGIN loaded)"
else
    echo "run: lab broker on 127.0.0.1:$MQTT_PORT (anonymous, no lab hub)"
fi

# Alertmanager (Debian's prometheus-alertmanager) with conf/alertmanager.yml,
# its webhook pointed at `warden notify receive`, which writes each
# notification as one JSON line of the lab folder's log. Its silences and
# notification log live in the lab folder; clustering off (nothing to gossip
# with), and its links point at the address printed below.
command -v prometheus-alertmanager > /dev/null ||
    fail Alertmanager - "is not installed: make deps installs it (the Debian package prometheus-alertmanager)"
AM_DIR=$LAB/alertmanager
NLOG=$LAB/alertmanager-notifications.log
RLOG=$AM_DIR/receiver.log
ALOG=$AM_DIR/alertmanager.log
mkdir -p "$AM_DIR"
: > "$RLOG"
build/warden notify receive --listen 127.0.0.1:0 --out "$NLOG" >> "$RLOG" 2>&1 &
started "notifications receiver" "$RLOG" $!
RECV_RE='notify receive: listening on http://127\.0\.0\.1:[0-9]+/'
await "notifications receiver" "$RLOG" "$LAST" "listening" grep -qE "$RECV_RE" "$RLOG"
RECV_URL=$(grep -oE "$RECV_RE" "$RLOG" | head -1 | sed 's/.*listening on //')
# The shipped configuration names a placeholder address for the receiver.
sed "s|http://127.0.0.1:9096/|$RECV_URL|" conf/alertmanager.yml > "$AM_DIR/alertmanager.yml"
grep -qF "url: $RECV_URL" "$AM_DIR/alertmanager.yml" ||
    fail Alertmanager "$AM_DIR/alertmanager.yml" "configuration has no webhook url http://127.0.0.1:9096/ to point at the receiver"
AM_URL=http://127.0.0.1:$AM_PORT/
prometheus-alertmanager --config.file="$AM_DIR/alertmanager.yml" --storage.path="$AM_DIR/data" \
    --web.listen-address="127.0.0.1:$AM_PORT" --web.external-url="$AM_URL" \
    --cluster.listen-address= >> "$ALOG" 2>&1 &
started Alertmanager "$ALOG" $!
am_ready() { curl -sf --max-time 5 "$AM_URL-/ready" > /dev/null; }
await Alertmanager "$ALOG" "$LAST" "ready on 127.0.0.1:$AM_PORT" am_ready
echo "run: Alertmanager on $AM_URL, its webhook the receiver on $RECV_URL"

EXTRA=(--notify.alertmanager.urls="$AM_URL" --web.external_url="http://$WEB/")
if [ "$DEMO" = 1 ]; then
    # The demo's configuration, as a user would bring it from Azure: a
    # security group with every rule on, the hub's IP filter and diagnostic
    # settings, a device registry (two devices share a key), a threat list.
    for step in "groups import conf/demo-group.json" "hub import conf/demo-hub.json" \
        "registry import conf/demo-registry.json" "intel load conf/demo-intel.netset"; do
        # shellcheck disable=SC2086
        build/warden $step --db "$LAB/warden.db" >> "$LAB/warden.log" 2>&1 ||
            fail "demo configuration" "$LAB/warden.log" "failed: warden $step"
    done
    # Short intervals, so that every alert shows within a couple of minutes.
    EXTRA+=(--evaluator.interval=PT10S --evaluator.silent_after=PT2M)
fi

# Warden: ingest, evaluator and dashboard.
WLOG=$LAB/warden.log
build/warden run --db "$LAB/warden.db" --mqtt.port="$MQTT_PORT" --web.listen="$WEB" \
    "${LOGIN[@]}" "${EXTRA[@]}" >> "$WLOG" 2>&1 &
started warden "$WLOG" $!
warden_connected() { [ "$(sql1 "SELECT connected FROM ingest_state")" = 1 ]; }
await warden "$WLOG" "$LAST" "connected to the broker" warden_connected
await warden "$WLOG" "$LAST" "serving the dashboard on $WEB" port_open "$WEB_PORT"
echo "run: warden connected to the broker, dashboard on http://$WEB/"

# The demo's certificates: a lab CA and the front end's server certificate,
# and a camera (sim-cam) with its own, an expired and an unregistered one.
lab_pki() {
    local P="$LAB/pki" D="$LAB/pki/devices" k=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    [ -f "$P/server.pem" ] && return 0
    mkdir -p "$D" "$P/db"
    (
        cd "$P" || exit 1
        openssl req -x509 "${k[@]}" -keyout lab-ca.key -out lab-ca.pem -days 3650 -subj /CN=warden-lab-ca
        openssl req "${k[@]}" -keyout server.key -out server.csr -subj /CN=localhost
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > server.ext
        openssl x509 -req -in server.csr -CA lab-ca.pem -CAkey lab-ca.key -CAcreateserial -days 3650 \
            -extfile server.ext -out server.pem
        openssl req -x509 "${k[@]}" -keyout devices/sim-cam.key -out devices/sim-cam.pem -days 3650 -subj /CN=sim-cam
        openssl req -x509 "${k[@]}" -keyout devices/sim-cam-wrong.key -out devices/sim-cam-wrong.pem -days 3650 -subj /CN=sim-cam
        : > db/index.txt
        echo 1000 > db/serial
        printf '[ca]\ndefault_ca=t\n[t]\ndatabase=db/index.txt\nserial=db/serial\nnew_certs_dir=db\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n' > ca.cnf
        openssl req "${k[@]}" -keyout devices/sim-cam-expired.key -out old.csr -subj /CN=sim-cam
        openssl ca -batch -config ca.cnf -selfsign -keyfile devices/sim-cam-expired.key -in old.csr \
            -out devices/sim-cam-expired.pem -startdate 20200101000000Z -enddate 20200201000000Z -notext
    ) >> "$LAB/pki.log" 2>&1 || fail "demo certificates" "$LAB/pki.log" "could not be made"
}

if [ "$DEMO" = 1 ]; then
    SLOG=$LAB/sim.log
    build/warden sim --mqtt.port="$MQTT_PORT" "${LOGIN[@]}" --devices 20 --scenario demo >> "$SLOG" 2>&1 &
    started simulator "$SLOG" $!
    SIM_PID=$LAST
    # Every incident once, right away, so each alert can be seen within a
    # couple of minutes; the demo scenario repeats them one a minute. It ends
    # by itself, so it is not watched.
    build/warden sim --mqtt.port="$MQTT_PORT" "${LOGIN[@]}" --scenario incidents >> "$SLOG" 2>&1 &
    PIDS+=($!)
    sim_publishing() { [ "$(sql1 "SELECT count(*) > 0 FROM devices WHERE device_id LIKE 'sim-%' AND last_seen_ms >= $T0_MS")" = 1 ]; }
    await simulator "$SLOG" "$SIM_PID" "publishing (no message of a simulated device reached Warden)" sim_publishing
    echo "run: 20 simulated devices publishing"

    # The registry's devices log in to the lab hub themselves, with valid,
    # expired and forged tokens, and a camera with its certificate, an
    # expired one and one the registry does not know, through Warden's TLS
    # front end: the authentication alerts come from the hub.
    CERTS=()
    if [ "$HUB" != 0 ]; then
        TLS_PORT=$(choose_port "TLS front end" "${TLS_PORT:-}" 8883) || exit 1
        lab_pki
        fp() { openssl x509 -in "$1" -noout -fingerprint -"$2" | sed 's/.*=//'; }
        D=$LAB/pki/devices
        build/warden registry add sim-cam --thumbprint "$(fp "$D/sim-cam.pem" sha1)" \
            --secondary-thumbprint "$(fp "$D/sim-cam-expired.pem" sha256)" --db "$LAB/warden.db" >> "$WLOG" 2>&1 ||
            fail "demo certificates" "$WLOG" "could not be registered (warden registry add sim-cam)"
        TLOG=$LAB/hub-tls.log
        build/warden hub tls --db "$LAB/warden.db" --mqtt.port="$MQTT_PORT" \
            --hub.tls.listen="127.0.0.1:$TLS_PORT" --hub.tls.cert_file="$LAB/pki/server.pem" \
            --hub.tls.key_file="$LAB/pki/server.key" >> "$TLOG" 2>&1 &
        started "TLS front end" "$TLOG" $!
        await "TLS front end" "$TLOG" "$LAST" "listening on 127.0.0.1:$TLS_PORT" port_open "$TLS_PORT"
        CERTS=(--cert-dir "$D" --cafile "$LAB/pki/lab-ca.pem" --tls-port "$TLS_PORT")
        echo "run: TLS front end of the lab hub on 127.0.0.1:$TLS_PORT (CA: $LAB/pki/lab-ca.pem)"

        # Once a minute. The loop's sleep is killed with it.
        (
            trap 'kill $! 2> /dev/null; exit 0' TERM
            while :; do
                build/warden sim --mqtt.port="$MQTT_PORT" --db "$LAB/warden.db" --scenario hub-auth "${CERTS[@]}"
                sleep 60 &
                wait $!
            done
        ) >> "$SLOG" 2>&1 &
        started "hub logins" "$SLOG" $!
    fi
fi

cat << MSG

Dashboard: http://$WEB/   (changes need the admin token in $LAB/warden.token)
Alertmanager: $AM_URL   (Warden sends it every alert; what it notifies: $NLOG)

Warden is ingesting into $LAB/warden.db. Logs:
  Warden:        $WLOG
  broker:        $BLOG
  Alertmanager:  $ALOG
  receiver:      $RLOG
MSG
if [ "$DEMO" = 1 ]; then
    echo "  simulator:     $SLOG"
    [ "$HUB" != 0 ] && echo "  TLS front end: $TLOG"
fi
cat << MSG

Look at the data with sqlite3, for example:

  sqlite3 -header -column $LAB/warden.db \\
    "SELECT device_id, protocol, remote_ip, remote_port, bytes_in, bytes_out FROM v_flows ORDER BY flow_id DESC LIMIT 20"
  sqlite3 -header -column $LAB/warden.db "SELECT * FROM v_device_activity"
  sqlite3 -header -column $LAB/warden.db \\
    "SELECT alert_type, alert_key, severity, status, count, start_time FROM v_alerts ORDER BY alert_id DESC"

Ready-made queries are in sql/examples/. Press Ctrl-C to stop.
MSG

# Watch what was started: a component that stops stops the demo, with its log.
while :; do
    for i in "${!NAMES[@]}"; do
        kill -0 "${WATCHED[$i]}" 2> /dev/null || fail "${NAMES[$i]}" "${LOGS[$i]}" "stopped"
    done
    sleep 1
done
