# Shared by the notification tests (test_notify_*.sh), on top of web_lib.sh:
# the demo's documents in the database, and what Alertmanager holds compared
# with what Warden has open.
. "$(dirname "${BASH_SOURCE[0]}")/web_lib.sh"

# notify_import: the demo's threat list, group, hub and registry into $T/warden.db.
notify_import() {
    local db=$T/warden.db
    "$WARDEN" intel load conf/demo-intel.netset --db "$db" > /dev/null 2>&1 &&
        "$WARDEN" groups import conf/demo-group.json --db "$db" > /dev/null 2>&1 &&
        "$WARDEN" hub import conf/demo-hub.json --db "$db" > /dev/null 2>&1 &&
        "$WARDEN" registry import conf/demo-registry.json --db "$db" > /dev/null 2>&1 ||
        { fail notify-import; exit 1; }
}

# incidents: the simulator's incident set, then a wait until it has raised every alert type
# that needs no silence (IoT_DeviceSilent comes only with a short evaluator.silent_after).
incidents() {
    "$WARDEN_PLAIN" sim --mqtt.port="$BROKER_PORT" --scenario incidents > "$T/sim.json" 2> "$T/sim.log" ||
        fail notify-sim "$(tail -3 "$T/sim.log")"
    wait_sql "SELECT count(DISTINCT alert_type) FROM alerts WHERE alert_type <> 'IoT_DeviceSilent'" \
        "$(( $("$WARDEN_PLAIN" catalog --markdown alerts | grep -c '^| `IoT_') - 1 ))" 90 ||
        fail notify-incidents-raised "$(sql "SELECT group_concat(DISTINCT alert_type) FROM alerts")"
}

# am_keys URL: "alertname|alert_key" of every Warden alert Alertmanager at URL holds
# unresolved, sorted; warden_keys: the same of what Warden has open (Active alerts and
# recommendations). same_open URL: they agree.
am_keys() {
    am_alerts "$1" "$T/am-keys.json" &&
        json "(SELECT group_concat(k, ' ') FROM (SELECT json_extract(value, '\$.labels.alertname') || '|' ||
              json_extract(value, '\$.labels.alert_key') AS k FROM json_each(j) ORDER BY k))" "$T/am-keys.json"
}
warden_keys() {
    sql "SELECT group_concat(k, ' ') FROM (SELECT alert_type || '|' || alert_key AS k FROM alerts
         WHERE status = 'Active' UNION SELECT rec_type || '|' || rec_key FROM recommendations
         WHERE state = 'Active' ORDER BY k)"
}
same_open() { local w a; w=$(warden_keys); a=$(am_keys "$1") && [ -n "$w" ] && [ "$w" = "$a" ]; }

# notified STATUS TYPE|KEY: how many notifications the receiver ($T/hooks.log) got with
# the alert of TYPE and KEY in STATUS (firing, resolved). Alertmanager sorts the labels:
# alert_key, then alertname.
notified() {
    grep -c "\"status\":\"$1\",\"labels\":{\"alert_key\":\"${2#*|}\",\"alertname\":\"${2%%|*}\"" \
        "$T/hooks.log" 2> /dev/null
}

# change ID dismiss|reactivate: through the API, as an operator would.
change() {
    [ "$(req POST "/api/v1/alerts/$1/$2" -H "Authorization: Bearer $TOKEN" -d '{"note": "test"}')" = 200 ] ||
        fail "notify-$2-$1" "$(cat "$T/body")"
}
