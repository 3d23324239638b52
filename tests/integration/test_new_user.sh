#!/bin/bash
# What a new user does first: a fresh clone, `make demo` there (on free ports),
# and the dashboard in a real headless Chromium must show alerts that only a
# running lab hub can raise (expired and forged SAS tokens, decided by the
# plugin at CONNECT) and a flow alert (a flow to a listed address); the
# Alertmanager the demo prints must answer, list Warden's alerts, and have
# notified the demo's receiver, whose log the demo names; then Ctrl-C (SIGINT
# to the demo's process group, as a terminal sends it) must leave no process of
# the demo behind. Then `make run` with a broker that cannot start (its port
# held by a program that is no MQTT broker, or a plugin Mosquitto cannot load)
# or an Alertmanager configuration Alertmanager refuses must exit non-zero with
# the reason on the screen, leaving nothing running.
#
# The clone is made from the commits when the work tree is clean (as CI's
# is), and from the work tree's files otherwise, so that a change can be
# tried before it is committed.
. "$(dirname "$0")/lib.sh"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || { fail new-user "chromium is not installed (make deps-test installs it)"; exit 1; }

C=$T/clone
if git -C "$HERE" rev-parse --is-inside-work-tree > /dev/null 2>&1 && [ -z "$(git -C "$HERE" status --porcelain)" ]; then
    git clone -q --no-local "$HERE" "$C" || { fail new-user-clone; exit 1; }
else
    mkdir -p "$C"
    (cd "$HERE" && git ls-files -co --exclude-standard -z | tar cf - --null -T -) | tar xf - -C "$C" ||
        { fail new-user-clone; exit 1; }
fi
[ ! -e "$C/build" ] && [ ! -e "$C/lab" ] || { fail new-user-clone-is-fresh "build/ or lab/ came along"; exit 1; }

# Job control on: a job started in the background gets its own process group
# and does not ignore SIGINT, as a command started from a terminal would.
set -m

# gone PATTERN PGID: no process of the group, and none whose command line
# names the clone, is left (waiting up to 30 s for them to stop).
gone() {
    local _g_pat=$1 _g_pg=$2
    wait_until '! pgrep -g "$_g_pg" > /dev/null && ! pgrep -f "$_g_pat" > /dev/null' 30
}

# run_exits PID: wait for a `make run` that must fail to exit by itself, and set
# rc to its status; one still running after 120 s (a component it should have
# found broken came up, or was never started) is stopped with Ctrl-C.
run_exits() {
    local _re_pid=$1
    if wait_until '! kill -0 "$_re_pid" 2> /dev/null' 120; then
        wait "$_re_pid"
        rc=$?
    else
        kill -INT -- -"$_re_pid" 2> /dev/null
        wait "$_re_pid"
        rc="still running after 120 s"
    fi
}

MQTT=$(free_port)
WEB_PORT=$(free_port)
TLS=$(free_port)
AMP=$(free_port)
WEB=http://127.0.0.1:$WEB_PORT
(cd "$C" && MAKEFLAGS=-j2 MQTT_PORT=$MQTT WEB_LISTEN=127.0.0.1:$WEB_PORT TLS_PORT=$TLS ALERTMANAGER_PORT=$AMP \
    exec make demo > "$T/demo.out" 2>&1) &
DEMO=$!
PIDS+=("$DEMO")

# The build comes first; a loaded machine may take several minutes for it.
if ! wait_until 'grep -q "^Dashboard: $WEB/" "$T/demo.out" || ! kill -0 "$DEMO" 2> /dev/null' 600 ||
    ! grep -q "^Dashboard: $WEB/" "$T/demo.out"; then
    fail new-user-make-demo-starts "$(tail -15 "$T/demo.out")"
    kill -INT -- -"$DEMO" 2> /dev/null
    exit 1
fi
pass new-user-make-demo-starts
up=$SECONDS

# Every log the closing message names exists.
missing=""
for log in warden.log broker/mosquitto.log sim.log hub-tls.log alertmanager/alertmanager.log \
    alertmanager/receiver.log alertmanager-notifications.log; do
    grep -qF "$C/lab/$log" "$T/demo.out" && [ -f "$C/lab/$log" ] || missing="$missing $log"
done
check new-user-closing-message-names-each-log "${missing:-none}" none

# Within two minutes of the dashboard, the alerts are there (the API says so;
# the browser then checks that the dashboard shows them).
TYPES="IoT_Expired_SAS_Token IoT_Invalid_SAS_Token IoT_TiConnection"
have_alerts() {
    local t
    for t in $TYPES; do
        curl -s --max-time 5 "$WEB/api/v1/alerts?type=$t&limit=1" | grep -q '"alert_id"' || return 1
    done
}
if wait_until have_alerts 120; then
    pass new-user-alerts-within-two-minutes
    echo "new-user: the three alerts showed $((SECONDS - up)) s after the dashboard" >&2
else
    fail new-user-alerts-within-two-minutes "$(curl -s "$WEB/api/v1/alerts?limit=50" | head -c 600)"
fi

# The Alertmanager the demo started, at the address it printed beside the
# dashboard's: it answers, clustering off; Warden's alerts reach it, and its
# webhook, the demo's receiver, writes a notification (after group_wait, 10 s)
# whose generatorURL is on the dashboard.
AM=$(sed -n 's|^Alertmanager: \(http://[^ ]*\) .*|\1|p' "$T/demo.out")
check new-user-demo-prints-the-alertmanager "$AM" "http://127.0.0.1:$AMP/"
curl -sf --max-time 10 "${AM}api/v2/status" > "$T/am-status.json"
rc=$?
check new-user-alertmanager-answers-status "$rc:$(json "json_extract(j, '\$.cluster.status')" "$T/am-status.json")" \
    0:disabled
am_has_warden() { am_alerts "${AM%/}" "$T/am-alerts.json" && grep -q '"source":"warden"' "$T/am-alerts.json"; }
if wait_until am_has_warden 60; then
    pass new-user-alertmanager-lists-warden-alerts
    echo "new-user: Alertmanager listed Warden's alerts $((SECONDS - up)) s after the dashboard" >&2
else
    fail new-user-alertmanager-lists-warden-alerts "$(head -c 300 "$T/am-alerts.json")"
fi
NLOG=$C/lab/alertmanager-notifications.log
notified() { grep -q "\"source\":\"warden\".*\"generatorURL\":\"$WEB/" "$NLOG" 2> /dev/null; }
if wait_until notified 60; then
    pass new-user-receiver-logs-a-notification
    echo "new-user: the first notification was logged $((SECONDS - up)) s after the dashboard" >&2
else
    fail new-user-receiver-logs-a-notification "$(head -c 300 "$NLOG" 2> /dev/null)"
fi

browser_dom() { # browser_dom PATH OUT: the page's DOM after load, in headless Chromium
    timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-extensions --user-data-dir="$T/chrome" --dump-dom "$WEB$1" > "$2" 2> "$2.log"
}
missing=""
for t in "IoT_Expired_SAS_Token:Expired SAS token" "IoT_Invalid_SAS_Token:Invalid SAS token signature" \
    "IoT_TiConnection:Suspicious IP address communication"; do
    browser_dom "/alerts?type=${t%%:*}" "$T/alerts-${t%%:*}.html"
    grep -Eq "<a href=\"/alerts/[0-9]+\">${t#*:}</a>" "$T/alerts-${t%%:*}.html" || missing="$missing [${t#*:}]"
done
check new-user-dashboard-shows-hub-and-flow-alerts "${missing:-none}" none
browser_dom / "$T/overview.html"
grep -q '<th>Broker</th><td><span class="badge b-ok">connected</span>' "$T/overview.html"
check new-user-overview-says-broker-connected "$?" 0

# Ctrl-C: SIGINT to the whole process group, as a terminal sends it.
kill -INT -- -"$DEMO"
if gone "$C" "$DEMO"; then pass new-user-ctrl-c-leaves-nothing-running; else
    fail new-user-ctrl-c-leaves-nothing-running "$(pgrep -af "$C")"
    pkill -KILL -g "$DEMO"
fi
wait "$DEMO" 2> /dev/null

# make run, its broker's port held by a program that does not speak MQTT.
python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); print("listening", flush=True); time.sleep(600)
' "$MQTT" > "$T/squatter.out" 2>&1 &
SQUAT=$!
PIDS+=("$SQUAT")
wait_port "$MQTT" 20 || fail new-user-squatter-listens
(cd "$C" && MQTT_PORT=$MQTT WEB_LISTEN=127.0.0.1:$WEB_PORT ALERTMANAGER_PORT=$AMP exec make run > "$T/run1.out" 2>&1) &
R=$!
run_exits "$R"
if [ "$rc" != 0 ] && grep -q "lab broker cannot start: port $MQTT is taken" "$T/run1.out"; then
    pass new-user-run-port-taken-stops-with-the-reason
else
    fail new-user-run-port-taken-stops-with-the-reason "exit $rc: $(tail -5 "$T/run1.out")"
fi
gone "$C" "$R" || fail new-user-run-port-taken-leaves-nothing-running "$(pgrep -af "$C")"
stop_pid "$SQUAT"

# make run with an Alertmanager configuration Alertmanager refuses: it exits at once.
sed -i 's/group_wait: .*/group_wait: ten-seconds/' "$C/conf/alertmanager.yml"
(cd "$C" && MQTT_PORT=$MQTT WEB_LISTEN=127.0.0.1:$WEB_PORT ALERTMANAGER_PORT=$AMP exec make run > "$T/run-am.out" 2>&1) &
R=$!
run_exits "$R"
if [ "$rc" != 0 ] && grep -q "run: Alertmanager exited before it was ready" "$T/run-am.out" &&
    grep -q "Loading configuration file failed" "$T/run-am.out" &&
    grep -qF "$C/lab/alertmanager/alertmanager.log" "$T/run-am.out"; then
    pass new-user-run-alertmanager-fails-stops-with-its-log
else
    fail new-user-run-alertmanager-fails-stops-with-its-log "exit $rc: $(tail -8 "$T/run-am.out")"
fi
gone "$C" "$R" || fail new-user-run-alertmanager-fails-leaves-nothing-running "$(pgrep -af "$C")"

# make run with a plugin Mosquitto cannot load: the broker exits at once.
echo "not a shared object" > "$C/build/warden_hub.so"
(cd "$C" && MQTT_PORT=$MQTT WEB_LISTEN=127.0.0.1:$WEB_PORT ALERTMANAGER_PORT=$AMP exec make run > "$T/run2.out" 2>&1) &
R=$!
run_exits "$R"
if [ "$rc" != 0 ] && grep -q "lab broker exited" "$T/run2.out" && grep -q "Unable to load auth plugin" "$T/run2.out" &&
    grep -qF "$C/lab/broker/mosquitto.log" "$T/run2.out"; then
    pass new-user-run-broker-fails-stops-with-its-log
else
    fail new-user-run-broker-fails-stops-with-its-log "exit $rc: $(tail -8 "$T/run2.out")"
fi
gone "$C" "$R" || fail new-user-run-broker-fails-leaves-nothing-running "$(pgrep -af "$C")"
[ "$NFAIL" -eq 0 ]
