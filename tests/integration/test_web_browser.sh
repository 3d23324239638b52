#!/bin/bash
# The dashboard in a real browser. `warden run` with its web server is fed
# known data through the real broker (the demo configuration, the simulator's
# incident set, a few normal devices, a registry of 110 more) plus hostile
# strings: a device whose id is the worst IoT Hub's alphabet allows (a
# spreadsheet formula, "%3Cimg" that a second URL decoding would turn into
# markup, "?" and "=" for the query), an operating system name and a process
# name that are markup, and a hub certificate
# called "<script>alert(1)</script>". Debian's headless Chromium then loads
# every page: the seeded values must show, the hostile strings must be text
# (escaped, no element made of them, no script run), and a screenshot of
# each page is kept in $T/shots (copied to $WARDEN_SCREENSHOTS when set,
# which is how docs/*.png are made). The forms (dismiss, reactivate, group
# edit) are exercised with curl and a login session.
. "$(dirname "$0")/lib.sh"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then
    fail web-browser "chromium is not installed (make deps installs it)"
    exit 1
fi

# A device id cannot hold markup any more (issue 14: IoT Hub's alphabet), so it has nothing to escape.
EVIL='=x(1)%3Cimg?onerror=$a:@!*,'
EVIL_TEXT=$EVIL
EVIL_URL='%3Dx%281%29%253Cimg%3Fonerror%3D%24a%3A%40%21%2A%2C'
EVIL_CERT='<script>alert(1)</script>'

start_broker
DB=$T/warden.db
"$WARDEN" intel load conf/demo-intel.netset --db "$DB" > /dev/null 2>&1 || fail web-seed-intel
"$WARDEN" groups import conf/demo-group.json --db "$DB" > /dev/null 2>&1 || fail web-seed-group
"$WARDEN" hub import conf/demo-hub.json --db "$DB" > /dev/null 2>&1 || fail web-seed-hub
"$WARDEN" registry import conf/demo-registry.json --db "$DB" > /dev/null 2>&1 || fail web-seed-registry
# 110 more devices, so that /devices needs a second page (they sort after sim-*).
{
    echo '['
    for i in $(seq 0 109); do
        printf '{"deviceId": "test-bench-%04d", "authentication": {"type": "sas"}}%s\n' "$i" \
            "$([ "$i" -lt 109 ] && echo ,)"
    done
    echo ']'
} > "$T/registry.json"
"$WARDEN" registry import "$T/registry.json" --db "$DB" > /dev/null 2>&1 || fail web-seed-registry-lab

WEB_PORT=$(free_port)
WEB=http://127.0.0.1:$WEB_PORT
start_warden --evaluator.interval=PT1S --web.listen="127.0.0.1:$WEB_PORT"
wait_port "$WEB_PORT" || { fail web-start "$(tail -5 "$T/warden.log")"; exit 1; }

# Normal devices for the charts and system information (WEB_TEST_TRAFFIC seconds of them,
# more for fuller screenshots), the incident set, the hostile strings.
"$WARDEN_PLAIN" sim --mqtt.port="$BROKER_PORT" --devices 3 --duration "PT${WEB_TEST_TRAFFIC:-6}S" \
    > "$T/sim-normal.json" 2> "$T/sim-normal.log" &
SIM_PID=$!
"$WARDEN_PLAIN" sim --mqtt.port="$BROKER_PORT" --scenario incidents > "$T/sim.json" 2> "$T/sim.log" ||
    fail web-seed-incidents "$(tail -3 "$T/sim.log")"
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# A hostile JSON agent: its OSName is markup whose handler would mark the body (data-pwned) if it ran.
cat > "$T/evil.json" << JSON
{"AgentVersion": "<b>1.0</b>", "AgentId": "evil", "MessageSchemaVersion": "1.0", "Events": [
 {"EventType": "Security", "Category": "Triggered", "Name": "ConnectionCreate", "IsEmpty": false,
  "PayloadSchemaVersion": "1.0", "Id": "a1b2c3d4-0000-4000-8000-0000000000e1",
  "TimestampLocal": "$NOW", "TimestampUTC": "$NOW",
  "Payload": [{"Executable": "<script>x</script>", "ProcessId": "7", "UserId": "0",
    "CommandLine": "\"><svg onload=alert(2)>", "RemoteAddress": "185.220.101.34",
    "RemotePort": "443", "LocalAddress": "192.168.10.66", "LocalPort": "40000",
    "Protocol": "TCP", "Direction": "Out"}]},
 {"EventType": "Security", "Category": "Periodic", "Name": "ListeningPorts", "IsEmpty": false,
  "PayloadSchemaVersion": "1.0", "Id": "a1b2c3d4-0000-4000-8000-0000000000e2",
  "TimestampLocal": "$NOW", "TimestampUTC": "$NOW",
  "Payload": [{"Protocol": "tcp", "LocalAddress": "0.0.0.0", "LocalPort": "23",
    "RemoteAddress": "0.0.0.0", "RemotePort": "*"}]},
 {"EventType": "Security", "Category": "Periodic", "Name": "SystemInformation", "IsEmpty": false,
  "PayloadSchemaVersion": "1.0", "Id": "a1b2c3d4-0000-4000-8000-0000000000e3",
  "TimestampLocal": "$NOW", "TimestampUTC": "$NOW",
  "Payload": [{"OSName": "<img src=y onerror=\"document.body.setAttribute('data-pwned',1)\">",
    "OSVersion": "5.15 & \"quoted\"", "OsArchitecture": "armv7", "HostName": "evil-host",
    "TotalPhysicalMemoryInKB": 65536, "FreePhysicalMemoryInKB": 1024}]}]}
JSON
pub "$(JSON_TOPIC "$EVIL")" "$T/evil.json"
cat > "$T/evil-hub.json" << JSON
[{"time": "$NOW", "category": "Certificates", "operation": "write", "result": "Succeeded",
  "details": {"certificateName": "$EVIL_CERT"}},
 {"time": "$NOW", "category": "Connections", "operation": "deviceConnect", "result": "Failed",
  "reason": "SasTokenExpired", "deviceId": "$EVIL", "sourceIp": "203.0.113.66"}]
JSON
pub hub/lab-hub/operations "$T/evil-hub.json"
wait_exit "$SIM_PID" 120 "its start"

q() { sqlite3 -batch -noheader "$DB" "$1"; }
wait_sql "SELECT count(*) FROM alerts WHERE alert_type = 'IoT_TiConnection' AND device_id = '$EVIL'" 1 ||
    fail web-seed-evil-ti "no threat-intelligence alert for the hostile device"
wait_sql "SELECT count(*) FROM alerts WHERE alert_key = 'lab-hub/$EVIL_CERT'" 1 ||
    fail web-seed-evil-cert "no certificate alert for the hostile certificate"
wait_sql "SELECT count(DISTINCT alert_type) >= 21 FROM alerts" 1 || fail web-seed-alerts "$(q "SELECT count(DISTINCT alert_type) FROM alerts")"
wait_sql "SELECT count(DISTINCT rec_type) FROM recommendations WHERE state = 'Active'" 4 ||
    fail web-seed-recommendations
wait_sql "SELECT count(*) > 0 FROM listening_ports WHERE device_id = '$EVIL'" 1 || fail web-seed-ports

# Percent-encode $1 for a query value.
urlencode() {
    local s=$1 i c
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case $c in
        [A-Za-z0-9._~-]) printf '%s' "$c" ;;
        *) printf '%%%02X' "'$c" ;;
        esac
    done
}

mkdir -p "$T/shots" "$T/dom"
# load NAME PATH [HEIGHT]: the page's DOM after load into $T/dom/NAME.html, a screenshot into
# $T/shots, and the browser's console (where a Content-Security-Policy refusal shows) in NAME.log.
load() {
    timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-extensions --hide-scrollbars --user-data-dir="$T/chrome" \
        --enable-logging=stderr --v=0 \
        --window-size="1366,${3:-900}" --screenshot="$T/shots/$1.png" --dump-dom "$WEB$2" \
        > "$T/dom/$1.html" 2> "$T/dom/$1.log"
}
has() { grep -qF -- "$2" "$T/dom/$1.html"; }
# expect NAME TEXT...: each text is in the page.
expect() {
    local name=$1 t missing=""
    shift
    for t in "$@"; do has "$name" "$t" || missing="$missing [$t]"; done
    if [ -z "$missing" ]; then pass "web-page-$name-shows-data"; else fail "web-page-$name-shows-data" "missing$missing"; fi
}
# safe NAME TITLE: the hostile strings are text, no element came from them, no script ran, and
# the page asked for nothing the Content-Security-Policy refused.
safe() {
    local name=$1 bad=""
    grep -qF "<title>$2 · Warden</title>" "$T/dom/$name.html" || bad="$bad title-changed"
    grep -qi '<img' "$T/dom/$name.html" && bad="$bad img-element"
    grep -qi '<script' "$T/dom/$name.html" && bad="$bad script-element"
    grep -qi '<svg onload' "$T/dom/$name.html" && bad="$bad svg-element"
    grep -q 'data-pwned="1"' "$T/dom/$name.html" && bad="$bad script-ran"
    grep -qE 'https?://[^"]*(cdn|googleapis|unpkg|jsdelivr)' "$T/dom/$name.html" && bad="$bad external"
    grep -q 'Content Security Policy' "$T/dom/$name.log" && bad="$bad csp-refused"
    if [ -z "$bad" ]; then pass "web-page-$name-escapes"; else fail "web-page-$name-escapes" "$bad"; fi
}

TI_EVIL=$(q "SELECT alert_id FROM alerts WHERE alert_type = 'IoT_TiConnection' AND device_id = '$EVIL'")
CERT_EVIL=$(q "SELECT alert_id FROM alerts WHERE alert_key = 'lab-hub/$EVIL_CERT'")
D2C=$(q "SELECT min(alert_id) FROM alerts WHERE alert_type = 'IoT_CA_MqttD2CMessagesNotInAllowedRange'")
ACTIVE_MEDIUM=$(q "SELECT count(*) FROM alerts WHERE status = 'Active' AND severity = 'Medium'")
DEVICES=$(q "SELECT count(*) FROM devices")

load overview /
expect overview "Overview" ">$ACTIVE_MEDIUM</div><div class=\"l\">active medium-severity alerts" \
    ">$DEVICES</div><div class=\"l\">devices registered" "Alerts per day" "$EVIL_TEXT" \
    "Suspicious IP address communication" "Identical authentication credentials used by multiple devices" \
    "connected" "Unhealthy devices" "<svg class=\"chart\""
safe overview Overview

load alerts /alerts
expect alerts "Suspicious IP address communication" "Expired SAS token" "New certificate added to an IoT Hub" \
    "$EVIL_TEXT" "&lt;script&gt;alert(1)&lt;/script&gt;" "href=\"/devices/$EVIL_URL\"" "sim-incident-ti"
safe alerts Alerts

load alerts-daily "/alerts?view=daily"
expect alerts-daily "By type and day" "IoT_TiConnection" "Device-to-cloud" "type=IoT_TiConnection"
safe alerts-daily Alerts

load alerts-filtered "/alerts?severity=Medium&type=IoT_TiConnection"
n=$(grep -o 'href="/alerts/[0-9]*"' "$T/dom/alerts-filtered.html" | sort -u | wc -l)
check web-page-alerts-filter "$n" "$(q "SELECT count(*) FROM alerts WHERE severity = 'Medium' AND alert_type = 'IoT_TiConnection'")"

load alert "/alerts/$TI_EVIL"
expect alert "Suspicious IP address communication" "Device $EVIL_TEXT exchanged TCP traffic" \
    "185.220.101.34" "The data behind it" "192.168.10.66:40000" "Log in to change" "demo-intel"
safe alert "Alert $TI_EVIL"

load alert-cert "/alerts/$CERT_EVIL"
expect alert-cert "&lt;script&gt;alert(1)&lt;/script&gt;" "Certificates" "Succeeded" "none: about the hub"
safe alert-cert "Alert $CERT_EVIL"

load alert-window "/alerts/$D2C"
expect alert-window "sim-incident-burst" "<svg class=\"chart\"" "class=\"lim\"" "class=\"band\""
safe alert-window "Alert $D2C"

load devices /devices
expect devices "$EVIL_TEXT" "href=\"/devices/$EVIL_URL\"" "sim-0001" "sim-incident-ti" \
    "test-bench-0000" "rel=\"next\""
safe devices Devices
NEXT=$(grep -o 'rel="next" href="[^"]*"' "$T/dom/devices.html" | sed 's/.*href="//; s/"$//; s/&amp;/\&/g')
LAST=$(q "SELECT device_id FROM devices ORDER BY device_id DESC LIMIT 1")
load devices-2 "$NEXT"
expect devices-2 ">$LAST</a>"
has devices-2 ">sim-0001</a>" && fail web-page-devices-2-is-next "the second page repeats the first"

load device "/devices/$EVIL_URL"
expect device "$EVIL_TEXT" "&lt;img src=y onerror=" "5.15 &amp; \"quoted\"" ":23<" "185.220.101.34:443" \
    "Suspicious IP address communication" "Expired SAS token"
safe device "$EVIL_TEXT"

load device-sim "/devices/sim-0001?span=15m"
expect device-sim "sim-0001" "Device-to-cloud messages" "<svg class=\"chart\"" "System information"
safe device-sim sim-0001

load recommendations /recommendations
expect recommendations "Identical authentication credentials used by multiple devices" \
    "Default IP filter policy should be deny" "IP filter rule includes large IP range" \
    "Enable diagnostics logs in IoT Hub" "sim-0002" "sim-0003"
safe recommendations Recommendations

load groups /groups
expect groups "href=\"/groups/default\"" "10 of 20"
safe groups "Security groups"

load group /groups/default
expect group "ActiveConnectionsNotInAllowedRange" "52.178.17.0/24" "Log in to change" "timeWindowRules"
safe group default

SQLQ="SELECT device_id, count(*) AS alerts, group_concat(DISTINCT alert_type) AS types
FROM alerts WHERE device_id IS NOT NULL GROUP BY device_id ORDER BY alerts DESC, device_id LIMIT 12"
load sql "/sql?q=$(urlencode "$SQLQ")"
expect sql "$EVIL_TEXT" "sim-incident-hubops" "IoT_TiConnection" "Download as CSV" \
    "Devices that talked to a given IP address" "format=csv&amp;q=SELECT"
safe sql SQL

load login /login
expect login "Admin token" "name=\"token\""
safe login "Log in"

# The forms, as a logged-in browser sends them (curl with the session cookie).
TOKEN=$(head -1 "$T/warden.token")
JAR=$T/cookies
code=$(curl -s -o /dev/null -w '%{http_code}' -c "$JAR" --data-urlencode "token=$TOKEN" \
    --data-urlencode "next=/alerts/$TI_EVIL" "$WEB/login")
check web-form-login "$code" 303
page=$(curl -s -b "$JAR" "$WEB/alerts/$TI_EVIL")
CSRF=$(printf '%s' "$page" | grep -o 'name="csrf" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"$//')
[ -n "$CSRF" ] && pass web-form-csrf-in-page || fail web-form-csrf-in-page "no csrf field when logged in"
code=$(curl -s -o /dev/null -w '%{http_code}' -b "$JAR" --data-urlencode "note=not ours" \
    "$WEB/alerts/$TI_EVIL/dismiss")
check web-form-dismiss-needs-csrf "$code" 403
code=$(curl -s -o /dev/null -w '%{http_code}' -b "$JAR" --data-urlencode "csrf=$CSRF" \
    --data-urlencode "note=<b>lab</b> test" "$WEB/alerts/$TI_EVIL/dismiss")
check web-form-dismiss "$code" 303
check web-form-dismiss-stored "$(q "SELECT status || '|' || (SELECT note FROM alert_transitions
    WHERE alert_id = $TI_EVIL ORDER BY id DESC LIMIT 1) FROM alerts WHERE alert_id = $TI_EVIL")" \
    "Dismissed|<b>lab</b> test"
curl -s -b "$JAR" "$WEB/alerts/$TI_EVIL" | grep -qF '&lt;b&gt;lab&lt;/b&gt; test' &&
    pass web-form-note-escaped || fail web-form-note-escaped
code=$(curl -s -o /dev/null -w '%{http_code}' -b "$JAR" --data-urlencode "csrf=$CSRF" \
    "$WEB/alerts/$TI_EVIL/dismiss")
check web-form-dismiss-twice "$code" 409
code=$(curl -s -o /dev/null -w '%{http_code}' -b "$JAR" --data-urlencode "csrf=$CSRF" \
    "$WEB/alerts/$TI_EVIL/reactivate")
check web-form-reactivate "$code" 303
check web-form-reactivate-stored "$(q "SELECT status FROM alerts WHERE alert_id = $TI_EVIL")" Active
body=$(curl -s -w '\n%{http_code}' -b "$JAR" --data-urlencode "csrf=$CSRF" --data-urlencode \
    'doc={"properties": {"timeWindowRules": [{"ruleType": "TwinUpdatesNotInAllowedRange", "isEnabled": true, "minThreshold": 9, "maxThreshold": 2, "timeWindowSize": "PT1M"}]}}' \
    "$WEB/groups/web-test")
check web-form-group-invalid "$(printf '%s' "$body" | tail -1)" 400
printf '%s' "$body" | grep -q 'Not saved: .*TwinUpdatesNotInAllowedRange' &&
    pass web-form-group-error-names-rule || fail web-form-group-error-names-rule
check web-form-group-invalid-not-stored "$(q "SELECT count(*) FROM security_groups WHERE name = 'web-test'")" 0
code=$(curl -s -o /dev/null -w '%{http_code}' -b "$JAR" --data-urlencode "csrf=$CSRF" --data-urlencode \
    'doc={"properties": {"timeWindowRules": [{"ruleType": "TwinUpdatesNotInAllowedRange", "isEnabled": true, "minThreshold": 0, "maxThreshold": 2, "timeWindowSize": "PT1M"}]}}' \
    "$WEB/groups/web-test")
check web-form-group-save "$code" 303
check web-form-group-stored "$(q 'SELECT json_extract(r.value, "$.maxThreshold")
    FROM security_groups, json_each(rules_json, "$.properties.timeWindowRules") AS r
    WHERE name = "web-test" AND json_extract(r.value, "$.ruleType") = "TwinUpdatesNotInAllowedRange"')" 2
# Without a session the form is sent to the login page and changes nothing.
got=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' --data-urlencode "doc={}" "$WEB/groups/web-test")
case $got in
"303 "*/login*) pass web-form-group-needs-login ;;
*) fail web-form-group-needs-login "$got" ;;
esac

if [ -n "${WARDEN_SCREENSHOTS:-}" ]; then
    mkdir -p "$WARDEN_SCREENSHOTS"
    for s in overview alerts alert devices recommendations sql; do
        cp "$T/shots/$s.png" "$WARDEN_SCREENSHOTS/"
    done
    cp "$T/shots/device-sim.png" "$WARDEN_SCREENSHOTS/device.png"
    cp "$T/shots/group.png" "$WARDEN_SCREENSHOTS/groups.png"
fi
stop_pid "$WARDEN_PID"
exit $NFAIL
