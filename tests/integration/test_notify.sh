#!/bin/bash
# Notifications (issue 17) through a real prometheus-alertmanager to a webhook
# receiver (`warden notify receive`): the incident set raises every alert type
# of the catalogue and every recommendation; each reaches Alertmanager with
# Warden's labels and annotations, the receiver gets them firing, and, once the
# event alerts expire (a 10 s TTL), resolved, with generatorURL on the alert
# page. Deliveries are recorded, the queue ends empty, and `warden notify test`
# says what happened at each step.
. "$(dirname "$0")/lib.sh"
start_broker
start_receiver hooks
start_alertmanager am
DB=$T/warden.db
"$WARDEN" intel load conf/demo-intel.netset --db "$DB" >/dev/null 2>&1 || fail notify-intel
"$WARDEN" groups import conf/demo-group.json --db "$DB" >/dev/null 2>&1 || fail notify-group
"$WARDEN" hub import conf/demo-hub.json --db "$DB" >/dev/null 2>&1 || fail notify-hub
"$WARDEN" registry import conf/demo-registry.json --db "$DB" >/dev/null 2>&1 || fail notify-registry

# notify test: every step said, exit 0.
out=$("$WARDEN" notify test --url "$AM_URL" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
check notify-test-exit "$rc" 0
for step in 1/5 2/5 3/5 4/5 5/5; do
    echo "$out" | grep -q "  $step .*\(accepted\|listed\|up since\|resolved\)" && pass "notify-test-step-$step" ||
        fail "notify-test-step-$step" "$out"
done
# ... and a wrong address says where it failed, exit 1.
out=$("$WARDEN" notify test --url "http://127.0.0.1:$(free_port)" --notify.timeout=PT2S 2>&1)
check notify-test-unreachable-exit "$?" 1
echo "$out" | grep -q "1/5 GET /api/v2/status: FAILED" && pass notify-test-unreachable-says ||
    fail notify-test-unreachable-says "$out"

# An Alertmanager behind TLS (its own web.config.file): trusted through
# notify.alertmanager.tls.ca_file, refused without it.
mkdir -p "$T/pki"
lab_tls_pki "$T/pki" || fail notify-tls-pki
printf 'tls_server_config:\n  cert_file: %s\n  key_file: %s\n' "$T/pki/server.pem" "$T/pki/server.key" > "$T/web.yml"
saved_port=$AM_PORT saved_url=$AM_URL saved_pid=$AM_PID
AM_PORT=$(free_port)
AM_URL=https://127.0.0.1:$AM_PORT
mkdir -p "$T/amtls"
sed "s|http://127.0.0.1:9096/|http://127.0.0.1:$RECV_PORT/|" conf/alertmanager.yml > "$T/amtls/am.yml"
prometheus-alertmanager --config.file="$T/amtls/am.yml" --storage.path="$T/amtls/data" \
    --web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= --web.config.file="$T/web.yml" \
    >> "$T/amtls/am.log" 2>&1 &
PIDS+=($!)
TLS_AM_PID=$!
wait_until 'curl -sf --cacert "$T/pki/lab-ca.pem" "$AM_URL/-/ready" > /dev/null' 60 || fail notify-tls-am-start "$(tail -3 "$T/amtls/am.log")"
out=$("$WARDEN" notify test --url "$AM_URL" --notify.alertmanager.tls.ca_file="$T/pki/lab-ca.pem" 2>&1)
check notify-tls-test-passes "$?" 0
out=$("$WARDEN" notify test --url "$AM_URL" --notify.timeout=PT3S 2>&1)
check notify-tls-untrusted-refused "$?" 1
echo "$out" | grep -q "1/5 GET /api/v2/status: FAILED" && pass notify-tls-untrusted-says || fail notify-tls-untrusted-says "$out"
stop_pid "$TLS_AM_PID"
AM_PORT=$saved_port AM_URL=$saved_url AM_PID=$saved_pid

start_warden --evaluator.interval=PT1S --evaluator.silent_after=PT10S \
    --evaluator.event_alert_ttl=PT10S --notify.alertmanager.urls="$AM_URL" --notify.resend=PT2S \
    --notify.resolved_retention=PT1M --web.external_url=http://warden.test:8080/ \
    --notify.labels='{"lab":"rack-3"}'
check notify-target-recorded "$(sql "SELECT url FROM notify_targets")" "$AM_URL"
"$WARDEN_PLAIN" sim --mqtt.port="$BROKER_PORT" --scenario incidents > "$T/sim.json" 2> "$T/sim.log" ||
    fail notify-sim "$(tail -3 "$T/sim.log")"
types=$("$WARDEN_PLAIN" catalog --markdown alerts | sed -n 's/^| `\([A-Za-z0-9_]*\)`.*/\1/p')
ntypes=$(echo $types | wc -w)
recs=$("$WARDEN_PLAIN" catalog --markdown recommendations | sed -n 's/^| `\([A-Za-z0-9_]*\)`.*/\1/p')
wait_sql "SELECT count(DISTINCT alert_type) FROM alerts" "$ntypes" 60 || fail notify-all-raised

# Every alert type and recommendation is in Alertmanager, firing or (already expired) resolved:
# the receiver has each of them firing.
seen_all() {
    local t
    for t in $types $recs; do
        grep -q "\"status\":\"firing\",\"labels\":{[^}]*\"alertname\":\"$t\"" "$T/hooks.log" || return 1
    done
}
wait_until seen_all 90 && pass notify-receiver-got-every-type-firing ||
    for t in $types $recs; do
        grep -q "\"alertname\":\"$t\"" "$T/hooks.log" || fail "notify-receiver-firing-$t" "never received"
    done

# The TI alert as the receiver got it from Alertmanager: labels (identity) and annotations.
# (It may have expired in Alertmanager already: its TTL is 10 s.)
id=$(sql "SELECT alert_id FROM alerts WHERE alert_type = 'IoT_TiConnection'")
dev=$(sql "SELECT device_id FROM alerts WHERE alert_id = $id")
key=$(sql "SELECT alert_key FROM alerts WHERE alert_id = $id")
grep '"status":"firing","labels":{[^}]*"alertname":"IoT_TiConnection"' "$T/hooks.log" | head -1 > "$T/ti.json"
lab() { json "json_extract(j, '\$.alerts[0].$1')" "$T/ti.json"; }
check notify-label-alertname "$(lab labels.alertname)" IoT_TiConnection
check notify-label-severity "$(lab labels.severity)" medium
check notify-label-device "$(lab labels.device_id)" "$dev"
check notify-label-key "$(lab labels.alert_key)" "$key"
check notify-label-group "$(lab labels.security_group)" "$(sql "SELECT security_group FROM devices WHERE device_id = '$dev'")"
check notify-label-kind "$(lab labels.kind)" alert
check notify-label-source "$(lab labels.source)" warden
check notify-label-extra "$(lab labels.lab)" rack-3
check notify-label-no-hub-with-device "$(lab labels.hub)" ""
check notify-generator-url "$(lab generatorURL)" "http://warden.test:8080/alerts/$id"
check notify-annotation-url "$(lab annotations.warden_url)" "http://warden.test:8080/alerts/$id"
check notify-annotation-summary "$(lab annotations.summary)" "Suspicious IP address communication: $dev"
check notify-annotation-description "$(lab annotations.description)" "$(sql "SELECT description FROM alerts WHERE alert_id = $id")"
check notify-annotation-remediation "$(lab annotations.remediation)" "$(sql "SELECT remediation FROM alerts WHERE alert_id = $id")"
# startsAt is when the alert opened (Alertmanager writes it back with its own precision).
check notify-starts-at "$(sql "SELECT CAST(round((julianday('$(lab startsAt)') - 2440587.5) * 86400000) AS INTEGER)")" \
    "$(sql "SELECT start_ms FROM alerts WHERE alert_id = $id")"
# A hub-scoped alert carries hub, not device_id.
am_alerts "$AM_URL" "$T/am-hub.json" "filter=alertname%3D%22IoT_CertificateSuccessfullyAddedToHub%22"
hub=$(json "(SELECT json_extract(value, '\$.labels.hub') || '/' || coalesce(json_extract(value, '\$.labels.device_id'), '-') FROM json_each(j) LIMIT 1)" "$T/am-hub.json")
check notify-hub-label "$hub" "$(sql "SELECT hub FROM alerts WHERE alert_type = 'IoT_CertificateSuccessfullyAddedToHub' LIMIT 1")/-"
# A recommendation is kind="recommendation", linked to its row on /recommendations.
am_alerts "$AM_URL" "$T/am-rec.json" "filter=alertname%3D%22IoT_DiagnosticsLogs%22"
rid=$(sql "SELECT rec_id FROM recommendations WHERE rec_type = 'IoT_DiagnosticsLogs' AND state = 'Active'")
check notify-rec-kind "$(json "(SELECT json_extract(value, '\$.labels.kind') FROM json_each(j) LIMIT 1)" "$T/am-rec.json")" recommendation
check notify-rec-url "$(json "(SELECT json_extract(value, '\$.generatorURL') FROM json_each(j) LIMIT 1)" "$T/am-rec.json")" \
    "http://warden.test:8080/recommendations#rec-$rid"

# The event alerts expire after 10 s: the receiver gets the TI alert resolved, with its page.
wait_until "grep -q '\"status\":\"resolved\",\"labels\":{[^}]*\"alertname\":\"IoT_TiConnection\"' '$T/hooks.log'" 90 &&
    pass notify-receiver-got-resolved || fail notify-receiver-got-resolved "$(tail -c 600 "$T/hooks.log")"
grep '"status":"resolved","labels":{[^}]*"alertname":"IoT_TiConnection"' "$T/hooks.log" | head -1 |
    grep -q "\"generatorURL\":\"http://warden.test:8080/alerts/$id\"" && pass notify-resolved-links-the-page ||
    fail notify-resolved-links-the-page
check notify-resolved-in-warden "$(sql "SELECT status FROM alerts WHERE alert_id = $id")" Resolved

# Deliveries are recorded per alert: firing and resolved both accepted for the TI alert.
wait_sql "SELECT resolved_ms IS NOT NULL AND firing_ms IS NOT NULL FROM notify_deliveries WHERE kind = 'alert' AND ref = $id" 1 30 &&
    pass notify-delivery-recorded || fail notify-delivery-recorded "$(sql "SELECT * FROM notify_deliveries WHERE ref = $id")"
check notify-view "$(sql "SELECT alertmanager, firing_accepted IS NOT NULL FROM v_notifications WHERE kind = 'alert' AND ref = $id")" "$AM_URL|1"
# Nothing left to send, and never more rows than alerts.
wait_sql "SELECT count(*) FROM notify_queue" 0 30 && pass notify-queue-drains || fail notify-queue-drains
check notify-no-errors "$(sql "SELECT errors FROM notify_counters")" 0
[ "$(sql "SELECT sent FROM notify_counters")" -ge "$ntypes" ] && pass notify-sent-counted ||
    fail notify-sent-counted "$(sql "SELECT * FROM notify_counters")"
stop_pid "$WARDEN_PID"
grep -q "notify: sending alerts to $AM_URL" "$T/warden.log" && pass notify-log-says-where ||
    fail notify-log-says-where

# `warden notify run`, the senders alone beside a separate ingester: an emptied Alertmanager
# gets the open alerts back from it.
stop_pid "$AM_PID"
rm -rf "$T/am/data"
start_alertmanager am
"$WARDEN" notify run --db "$DB" --notify.alertmanager.urls="$AM_URL" --notify.resend=PT2S \
    >> "$T/notify-run.log" 2>&1 &
NOTIFY_PID=$!
PIDS+=("$NOTIFY_PID")
open=$(sql "SELECT (SELECT count(*) FROM alerts WHERE status = 'Active') + (SELECT count(*) FROM recommendations WHERE state = 'Active')")
wait_until 'am_alerts "$AM_URL" "$T/am-run.json" && [ "$(json "json_array_length(j)" "$T/am-run.json")" = "$open" ]' 30 &&
    pass notify-run-alone-sends || fail notify-run-alone-sends "$(json "json_array_length(j)" "$T/am-run.json") of $open"
stop_pid "$NOTIFY_PID"
grep -q "notify: stopped" "$T/notify-run.log" && pass notify-run-stops || fail notify-run-stops "$(tail -3 "$T/notify-run.log")"
exit $NFAIL
