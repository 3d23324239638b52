#!/bin/bash
# Three Alertmanagers, as Alertmanager's HA documentation has clients send to
# every one (issue 17): one refusing connections (nothing listens), one behind
# a proxy answering 503 until it recovers (tests/integration/flaky_proxy.py in
# front of a real Alertmanager), and a healthy one. The healthy one's alerts are
# not held up by the others (each transition accepted within one resend); the
# sick ones queue at most one row per alert; once the proxy recovers, its
# Alertmanager holds exactly the open alerts. A silence made through the healthy
# one's API shows on the alert page, the alerts list and the alert's JSON within
# a poll, and goes when the silence is expired. /metrics says all of it.
. "$(dirname "$0")/notify_lib.sh"
start_broker
start_receiver hooks
# The healthy one inhibits a hub's diagnostic-setting deletion while a certificate was added to it.
AM_EXTRA="inhibit_rules:
  - source_matchers: ['alertname=\"IoT_CertificateSuccessfullyAddedToHub\"']
    target_matchers: ['alertname=\"IoT_DiagnosticSettingDeletedFromHub\"']
    equal: ['hub']" start_alertmanager am1
AM1=$AM_URL
AM_PORT=
start_alertmanager am2
AM2=$AM_URL
PROXY_PORT=$(free_port)
echo 503 > "$T/proxy.mode"
python3 tests/integration/flaky_proxy.py "$PROXY_PORT" "$AM2" "$T/proxy.mode" 2>> "$T/proxy.log" &
PIDS+=($!)
wait_port "$PROXY_PORT" || fail notify-ha-proxy-start
PROXY=http://127.0.0.1:$PROXY_PORT
DEAD=http://127.0.0.1:$(free_port)
notify_import
start_web --evaluator.interval=PT1S --notify.alertmanager.urls="$DEAD,$PROXY,$AM1" \
    --notify.resend=PT5S --notify.timeout=PT2S
check notify-ha-three-targets "$(sql "SELECT count(*) FROM notify_targets")" 3
incidents
wait_until "same_open $AM1" 60 && pass notify-ha-healthy-holds-open ||
    fail notify-ha-healthy-holds-open "warden: $(warden_keys) am: $(am_keys "$AM1")"

# The healthy one took each transition within one resend (5 s) of its commit.
worst=$(sql "SELECT max(delay_ms) FROM notify_deliveries d JOIN notify_targets t USING (target_id)
             WHERE t.url = '$AM1' AND delay_ms IS NOT NULL")
echo "# healthy Alertmanager: slowest transition accepted $worst ms after its commit"
[ -n "$worst" ] && [ "$worst" -le 5000 ] && pass notify-ha-healthy-within-one-resend ||
    fail notify-ha-healthy-within-one-resend "$worst ms"
items=$(sql "SELECT (SELECT count(*) FROM alerts) + (SELECT count(*) FROM recommendations)")
wait_sql "SELECT count(*) FROM notify_counters c JOIN notify_targets t USING (target_id)
          WHERE t.url IN ('$DEAD', '$PROXY') AND c.errors > 0" 2 30 || fail notify-ha-sick-ones-tried
for url in "$DEAD" "$PROXY"; do
    n=$(sql "SELECT count(*) FROM notify_queue q JOIN notify_targets t USING (target_id) WHERE t.url = '$url'")
    [ "$n" -ge 1 ] && [ "$n" -le "$items" ] && pass "notify-ha-queued-bounded-${url##*:}" ||
        fail "notify-ha-queued-bounded-${url##*:}" "$n rows for $items alerts"
done
grep -q '^503 [1-9]' "$T/proxy.mode.count" && pass notify-ha-proxy-answered-503 || fail notify-ha-proxy-answered-503

req GET /metrics > /dev/null
check notify-ha-metric-configured "$(grep '^warden_notifications_alertmanagers_configured ' "$T/body")" \
    "warden_notifications_alertmanagers_configured 3"
grep -q "^warden_notifications_sent_total{alertmanager=\"$AM1\"} [1-9]" "$T/body" && pass notify-ha-metric-sent ||
    fail notify-ha-metric-sent "$(grep notifications_sent "$T/body")"
grep -q "^warden_notifications_errors_total{alertmanager=\"$DEAD\"} [1-9]" "$T/body" && pass notify-ha-metric-errors ||
    fail notify-ha-metric-errors "$(grep notifications_errors "$T/body")"
grep -q "^warden_notifications_queue_length{alertmanager=\"$AM1\"} 0" "$T/body" && pass notify-ha-metric-queue ||
    fail notify-ha-metric-queue "$(grep notifications_queue "$T/body")"
grep -q "^warden_notifications_latency_seconds_count{alertmanager=\"$AM1\"} [1-9]" "$T/body" &&
    grep -q "^warden_notifications_latency_seconds{alertmanager=\"$AM1\",quantile=\"0.99\"} " "$T/body" &&
    pass notify-ha-metric-latency || fail notify-ha-metric-latency "$(grep notifications_latency "$T/body")"

# The proxy recovers: its Alertmanager gets everything that is open.
echo ok > "$T/proxy.mode"
wait_until "same_open $AM2" 60 && pass notify-ha-recovered-holds-open ||
    fail notify-ha-recovered-holds-open "warden: $(warden_keys) am: $(am_keys "$AM2")"
wait_sql "SELECT count(*) FROM notify_queue q JOIN notify_targets t USING (target_id) WHERE t.url = '$PROXY'" 0 30 &&
    pass notify-ha-recovered-queue-drained || fail notify-ha-recovered-queue-drained

# The inhibited alert says so, on its page and in the list.
inh=$(sql "SELECT alert_id FROM alerts WHERE alert_type = 'IoT_DiagnosticSettingDeletedFromHub' AND status = 'Active'")
wait_until "req GET /alerts/$inh > /dev/null && grep -q 'inhibited</span> by 1 other alert' '$T/body'" 30 &&
    pass notify-ha-inhibited-on-alert-page || fail notify-ha-inhibited-on-alert-page "$(grep -o 'In Alertmanager: .\{0,200\}' "$T/body")"
req GET "/alerts?type=IoT_DiagnosticSettingDeletedFromHub" > /dev/null
grep -q "href=\"/alerts/$inh#notifications\">inhibited</a>" "$T/body" && pass notify-ha-inhibited-in-list ||
    fail notify-ha-inhibited-in-list

# A silence, made as an engineer would, on the healthy one.
id=$(sql "SELECT alert_id FROM alerts WHERE alert_type = 'IoT_TiConnection'")
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
until=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
curl -sf --max-time 20 -H 'Content-Type: application/json' "$AM1/api/v2/silences" -d '{"matchers":
    [{"name": "alertname", "value": "IoT_TiConnection", "isRegex": false, "isEqual": true}],
    "startsAt": "'"$now"'", "endsAt": "'"$until"'", "createdBy": "lab-engineer",
    "comment": "rack 3 maintenance"}' > "$T/silence.json" || fail notify-ha-silence-created
sid=$(json "json_extract(j, '\$.silenceID')" "$T/silence.json")
t0=$(now_ms)
wait_until "req GET /alerts/$id > /dev/null && grep -q 'silenced</span> by <a class=\"mono\" href=\"$AM1/#/silences/$sid\">$sid</a>' '$T/body'" 30 &&
    pass notify-ha-silence-on-alert-page ||
    fail notify-ha-silence-on-alert-page "$(req GET "/alerts/$id") $(grep -o '<h1>.*</h1>\|Notifications.*' "$T/body" | head -c 800)"
echo "# silence shown on the alert page $(( $(now_ms) - t0 )) ms after it was made (poll every 5 s)"
grep -q "rack 3 maintenance" "$T/body" && grep -q "lab-engineer" "$T/body" && pass notify-ha-silence-details ||
    fail notify-ha-silence-details
req GET "/alerts?type=IoT_TiConnection" > /dev/null
grep -q "href=\"/alerts/$id#notifications\">silenced</a>" "$T/body" && pass notify-ha-silence-in-list ||
    fail notify-ha-silence-in-list
req GET "/api/v1/alerts/$id" > /dev/null
check notify-ha-silence-in-json "$(json "(SELECT json_extract(value, '\$.silenced_by[0].id') || ' ' ||
    json_extract(value, '\$.silenced_by[0].comment') FROM json_each(json_extract(j, '\$.notifications'))
    WHERE json_extract(value, '\$.alertmanager') = '$AM1')")" "$sid rack 3 maintenance"
check notify-ha-not-silenced-elsewhere "$(json "(SELECT json_array_length(json_extract(value, '\$.silenced_by'))
    FROM json_each(json_extract(j, '\$.notifications')) WHERE json_extract(value, '\$.alertmanager') = '$PROXY')")" 0
# Expired: the badge goes.
curl -sf --max-time 20 -X DELETE "$AM1/api/v2/silence/$sid" > /dev/null || fail notify-ha-silence-expire
wait_until "req GET /alerts/$id > /dev/null && ! grep -q 'silenced</span>' '$T/body'" 30 &&
    pass notify-ha-silence-gone || fail notify-ha-silence-gone
stop_pid "$WARDEN_PID"
exit $NFAIL
