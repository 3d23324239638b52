#!/bin/bash
# The JSON API of SPEC 6 against a real Warden fed through the broker: every
# endpoint, filters, keyset pagination walked to the end (nothing twice,
# nothing missing), errors (400 naming the parameter, 404, 405), CSV with
# formula injection neutralised, dismiss and reactivate, PUT of a security
# group, /metrics, and /healthz going 503 when the broker goes away. The
# pagination and filter checks run against `warden serve` on the same
# database once ingest has stopped, so that the data holds still.
. "$(dirname "$0")/web_lib.sh"

DB=$T/warden.db
# Device ids are IoT Hub's (issue 14): the formula and the odd id use only its alphabet.
FORMULA="=cmd(calc)!A0"
ODD="odd%dev?(1)"

start_broker
"$WARDEN" intel load conf/demo-intel.netset --db "$DB" >/dev/null 2>&1 || fail api-seed-intel
"$WARDEN" groups import conf/demo-group.json --db "$DB" >/dev/null 2>&1 || fail api-seed-group
"$WARDEN" hub import conf/demo-hub.json --db "$DB" >/dev/null 2>&1 || fail api-seed-hub
"$WARDEN" registry import conf/demo-registry.json --db "$DB" >/dev/null 2>&1 || fail api-seed-registry
start_web --evaluator.interval=PT1S

# ---- seed: the incident scenario, 250 expired SAS tokens, odd device ids, D2C traffic ----
"$WARDEN_PLAIN" sim --mqtt.port="$BROKER_PORT" --scenario incidents > "$T/sim.json" 2> "$T/sim.log" ||
    fail api-seed-sim "$(tail -3 "$T/sim.log")"
# Each device logs in once (a hub record registers only a successful login), then fails.
login() { printf '{"category":"Connections","operation":"deviceConnect","result":"Succeeded","deviceId":"%s"},' "$1"; }
{
    printf '['
    for i in $(seq -w 0 249); do
        login "api-dev-$i"
        printf '{"category":"Connections","operation":"deviceConnect","result":"Failed",'
        printf '"reason":"SasTokenExpired","deviceId":"api-dev-%s"},' "$i"
    done
    login "$FORMULA"
    printf '{"category":"Connections","operation":"deviceConnect","result":"Failed",'
    printf '"reason":"SasTokenInvalidSignature","deviceId":"%s"},' "$FORMULA"
    login "$ODD"
    printf '{"category":"Connections","operation":"deviceConnect","result":"Failed",'
    printf '"reason":"X509CertificateExpired","deviceId":"%s"}]' "$ODD"
} > "$T/hubrecs.json"
pub hub/lab-hub/operations "$T/hubrecs.json"
for i in 1 2 3 4 5; do pub "devices/api-dev-001/messages/events/" -m "telemetry $i"; done
wait_sql "SELECT count(*) >= 252 FROM alerts WHERE alert_type IN ('IoT_Expired_SAS_Token', 'IoT_Invalid_SAS_Token', 'IoT_Cert_Expired')" 1 60 ||
    fail api-seed-alerts "$(sql "SELECT count(*) FROM alerts")"
wait_sql "SELECT sum(value) FROM device_counts WHERE device_id = 'api-dev-001' AND metric = 'd2c_messages'" 5 ||
    fail api-seed-d2c

# ---- health and metrics while everything runs ----
check api-healthz-ok "$(req GET /healthz)" 200
check api-healthz-status "$(json "json_extract(j, '\$.status')")" ok
req GET /metrics > /dev/null
check api-metrics-type "$(header Content-Type)" "text/plain; version=0.0.4; charset=utf-8"
bad=$(grep -v -e '^#' -e '^warden_[a-zA-Z0-9_]*\({[^}]*}\)\? [-+0-9.eEInf]*$' "$T/body" | head -3)
check api-metrics-every-line-warden "$bad" ""
for m in 'warden_messages_total{kind="hub"}' 'warden_alerts{type="IoT_Expired_SAS_Token",status="Active"}' \
    'warden_http_requests_total{code="200"}' 'warden_batch_commit_seconds_bucket{le="+Inf"}' \
    warden_batch_commit_seconds_count warden_evaluator_overruns_total warden_ingest_connected \
    warden_ingest_last_commit_age_seconds 'warden_recommendations{type=' warden_evaluator_pass_duration_seconds; do
    grep -qF "$m" "$T/body" && pass "api-metrics-has-$m" || fail "api-metrics-has-$m"
done
check api-metrics-alerts-count "$(grep -F 'warden_alerts{type="IoT_Expired_SAS_Token",status="Active"}' "$T/body" | awk '{print $2}')" \
    "$(sql "SELECT count(*) FROM alerts WHERE alert_type = 'IoT_Expired_SAS_Token' AND status = 'Active'")"

# The broker goes away: the ingester is disconnected, /healthz says so.
stop_pid "$BROKER_PID"
wait_until '[ "$(req GET /healthz)" = 503 ]'
check api-healthz-503-broker-gone "$(req GET /healthz)" 503
json "json_extract(j, '\$.why')" | grep -q "not connected" && pass api-healthz-why ||
    fail api-healthz-why "$(cat "$T/body")"
stop_pid "$WARDEN_PID"

# ---- the rest against `warden serve`, the data holding still ----
start_serve
check api-serve-healthz-503 "$(req GET /healthz)" 503
grep -q "serving http://127.0.0.1:$WEB_PORT/" "$T/serve.log" && pass api-serve-address || fail api-serve-address

# Security headers on every answer, API and page alike.
req GET /api/v1/alerts > /dev/null
check api-csp "$(header Content-Security-Policy | cut -d';' -f1)" "default-src 'self'"
check api-nosniff "$(header X-Content-Type-Options)" nosniff
check api-no-store "$(header Cache-Control)" no-store
check api-json-type "$(header Content-Type)" application/json
req GET /nowhere > /dev/null
check api-page-404-has-csp "$(header Content-Security-Policy | cut -d';' -f1)" "default-src 'self'"

# Alerts: the default page, then every page walked with a small limit.
check api-alerts-200 "$(req GET /api/v1/alerts)" 200
check api-alerts-default-limit "$(json "json_array_length(j, '\$.items')")" 100
check api-alerts-has-next "$(json "json_type(j, '\$.next_cursor')")" text
check api-alerts-start-time-iso "$(json "json_extract(j, '\$.items[0].start_time') GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T*Z'")" 1
check api-alerts-ext-props-object "$(json "json_type(j, '\$.items[0].extended_properties')")" object
# The server keeps the last page while the database is unchanged: a write from
# another process must show at once, and so must one through the API.
top=$(json "json_extract(j, '\$.items[0].alert_id')")
req GET /api/v1/alerts > /dev/null
name_before=$(json "json_extract(j, '\$.items[0].display_name')")
sql "UPDATE alerts SET display_name = 'renamed by another process' WHERE alert_id = $top"
req GET /api/v1/alerts > /dev/null
check api-alerts-kept-page-sees-other-process "$(json "json_extract(j, '\$.items[0].display_name')")" \
    "renamed by another process"
sql "UPDATE alerts SET display_name = '$(printf '%s' "$name_before" | sed "s/'/''/g")' WHERE alert_id = $top"
req GET /api/v1/alerts > /dev/null
check api-alerts-kept-page-sees-restore "$(json "json_extract(j, '\$.items[0].display_name')")" "$name_before"
: > "$T/walk"
cursor=""
pages=0
while :; do
    req GET /api/v1/alerts --get --data-urlencode "limit=37" ${cursor:+--data-urlencode "cursor=$cursor"} > "$T/status"
    [ "$(cat "$T/status")" = 200 ] || { fail api-alerts-walk "status $(cat "$T/status")"; break; }
    json "(SELECT group_concat(json_extract(value, '\$.alert_id'), char(10)) FROM json_each(j, '\$.items'))" | grep . >> "$T/walk"
    cursor=$(json "json_extract(j, '\$.next_cursor')")
    pages=$((pages + 1))
    [ -n "$cursor" ] && [ $pages -lt 100 ] || break
done
sql "SELECT alert_id FROM alerts ORDER BY start_ms DESC, alert_id DESC" > "$T/expected"
cmp -s "$T/walk" "$T/expected" && pass api-alerts-walk-all-pages ||
    fail api-alerts-walk-all-pages "$(wc -l < "$T/walk") walked, $(wc -l < "$T/expected") expected"
check api-alerts-walk-no-duplicates "$(sort "$T/walk" | uniq -d | wc -l)" 0

# Filters, each against the same count in SQL.
filter() { # filter NAME QUERY-ARGS SQL-WHERE
    local name=$1 args=$2 where=$3
    req GET "/api/v1/alerts?limit=1000&$args" > /dev/null
    check "api-alerts-filter-$name" "$(json "json_array_length(j, '\$.items')")" \
        "$(sql "SELECT count(*) FROM alerts WHERE $where")"
}
filter status "status=Active" "status = 'Active'"
filter status-list "status=Active,Resolved" "status IN ('Active', 'Resolved')"
filter severity "severity=Medium" "severity = 'Medium'"
filter type "type=IoT_Expired_SAS_Token" "alert_type = 'IoT_Expired_SAS_Token'"
filter device "device=api-dev-007" "device_id = 'api-dev-007'"
mid=$(sql "SELECT start_ms FROM alerts ORDER BY start_ms LIMIT 1 OFFSET (SELECT count(*) / 2 FROM alerts)")
since=$(sqlite3 :memory: "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', $mid / 1000.0, 'unixepoch')")
filter since "since=$since" "start_ms >= $mid"
filter until "until=$since" "start_ms < $mid"
filter since-duration "since=P1D" "start_ms >= (strftime('%s','now') - 86400) * 1000"

# Errors name the parameter.
expect_error api-err-limit-0 400 limit: GET "/api/v1/alerts?limit=0"
expect_error api-err-limit-1001 400 limit: GET "/api/v1/alerts?limit=1001"
expect_error api-err-limit-text 400 limit: GET "/api/v1/alerts?limit=ten"
expect_error api-err-status 400 status: GET "/api/v1/alerts?status=Open"
expect_error api-err-severity 400 severity: GET "/api/v1/alerts?severity=Critical"
expect_error api-err-since 400 since: GET "/api/v1/alerts?since=yesterday"
expect_error api-err-until 400 until: GET "/api/v1/alerts?until=2026-13-45T00:00:00Z"
expect_error api-err-cursor 400 cursor: GET "/api/v1/alerts?cursor=zzz"
expect_error api-err-format 400 format: GET "/api/v1/alerts?format=xml"
expect_error api-err-id 400 id: GET "/api/v1/alerts/abc"
expect_error api-err-unknown-alert 404 "no alert" GET "/api/v1/alerts/999999999"
expect_error api-err-no-route 404 "no such" GET "/api/v1/nothing"
expect_error api-err-405 405 "this resource" DELETE "/api/v1/alerts"
check api-405-allow "$(header Allow)" GET
expect_error api-err-405-dismiss-get 405 "this resource" GET "/api/v1/alerts/1/dismiss"
check api-head "$(req HEAD /api/v1/alerts)" 200

# One alert, with its transitions.
id=$(sql "SELECT alert_id FROM alerts WHERE device_id = 'api-dev-042'")
check api-alert-200 "$(req GET "/api/v1/alerts/$id")" 200
check api-alert-id "$(json "json_extract(j, '\$.alert_id')")" "$id"
check api-alert-device "$(json "json_extract(j, '\$.device_id')")" api-dev-042
check api-alert-transitions "$(json "json_extract(j, '\$.transitions[0].to_status')")" Active

# Dismiss and reactivate with the token: 200, then 409 where the state does not allow it.
auth=(-H "Authorization: Bearer $TOKEN")
check api-dismiss-200 "$(req POST "/api/v1/alerts/$id/dismiss" "${auth[@]}" -d '{"note": "lab maintenance"}')" 200
check api-dismiss-status "$(json "json_extract(j, '\$.status')")" Dismissed
check api-dismiss-note "$(sql "SELECT note FROM alert_transitions WHERE alert_id = $id AND to_status = 'Dismissed'")" "lab maintenance"
check api-dismiss-again-409 "$(req POST "/api/v1/alerts/$id/dismiss" "${auth[@]}")" 409
check api-reactivate-200 "$(req POST "/api/v1/alerts/$id/reactivate" "${auth[@]}")" 200
check api-reactivate-status "$(json "json_extract(j, '\$.status')")" Active
check api-reactivate-again-409 "$(req POST "/api/v1/alerts/$id/reactivate" "${auth[@]}")" 409
check api-dismiss-unknown-404 "$(req POST /api/v1/alerts/999999999/dismiss "${auth[@]}")" 404
expect_error api-dismiss-bad-body 400 body: POST "/api/v1/alerts/$id/dismiss" "${auth[@]}" -d 'not json'
expect_error api-dismiss-long-note 400 note: POST "/api/v1/alerts/$id/dismiss" "${auth[@]}" \
    -d "{\"note\": \"$(head -c 1001 /dev/zero | tr '\0' x)\"}"

# CSV: the content type, a header, and a device id that is a formula made harmless.
check api-csv-200 "$(req GET "/api/v1/alerts?format=csv&limit=1000")" 200
check api-csv-type "$(header Content-Type)" "text/csv; charset=utf-8"
check api-csv-header "$(head -1 "$T/body" | cut -d, -f1-3)" '"alert_id","alert_type","alert_key"'
check api-csv-rows "$(grep -c '^[0-9]' "$T/body")" "$(sql "SELECT min(count(*), 1000) FROM alerts")"
grep -qF "\"'$FORMULA\"" "$T/body" && pass api-csv-formula-neutralised || fail api-csv-formula-neutralised
check api-csv-no-formula-cell "$(grep -c '"=cmd' "$T/body")" 0
check api-csv-accept "$(req GET "/api/v1/alerts?limit=5" -H 'Accept: text/csv')" 200
check api-csv-accept-type "$(header Content-Type)" "text/csv; charset=utf-8"
check api-csv-next-cursor "$(header X-Next-Cursor | grep -c '^[0-9]*\.[0-9]*$')" 1

# Alerts per type and day, with the devices that had the most.
check api-daily-200 "$(req GET /api/v1/alerts/daily)" 200
check api-daily-sum "$(json "(SELECT sum(json_extract(value, '\$.alerts')) FROM json_each(j, '\$.items'))")" \
    "$(sql "SELECT count(*) FROM alerts WHERE start_ms >= (strftime('%s','now') - 30 * 86400) * 1000")"
check api-daily-top10 "$(json "(SELECT max(json_array_length(value, '\$.top_devices')) FROM json_each(j, '\$.items'))")" 10
check api-daily-day "$(json "json_extract(j, '\$.items[0].day')")" "$(date -u +%F)"
expect_error api-daily-bad-since 400 since: GET "/api/v1/alerts/daily?since=now"
check api-daily-csv "$(req GET "/api/v1/alerts/daily?format=csv" && head -1 "$T/body" | tr -d '\r')" \
    "200\"alert_type\",\"day\",\"alerts\",\"devices\",\"top_devices\""

# Devices: every page walked, sorted by id; one device; its series.
: > "$T/walk"
cursor=""
pages=0
while :; do
    req GET /api/v1/devices --get --data-urlencode "limit=50" ${cursor:+--data-urlencode "cursor=$cursor"} > /dev/null
    json "(SELECT group_concat(json_extract(value, '\$.device_id'), char(10)) FROM json_each(j, '\$.items'))" | grep . >> "$T/walk"
    cursor=$(json "json_extract(j, '\$.next_cursor')")
    pages=$((pages + 1))
    [ -n "$cursor" ] && [ $pages -lt 100 ] || break
done
sql "SELECT device_id FROM devices ORDER BY device_id" > "$T/expected"
cmp -s "$T/walk" "$T/expected" && pass api-devices-walk-all-pages ||
    fail api-devices-walk-all-pages "$(wc -l < "$T/walk") walked, $(wc -l < "$T/expected") expected"
expect_error api-devices-bad-cursor 400 cursor: GET "/api/v1/devices?cursor=!!"
check api-device-200 "$(req GET /api/v1/devices/api-dev-001)" 200
check api-device-id "$(json "json_extract(j, '\$.device_id')")" api-dev-001
check api-device-open-alerts "$(json "json_extract(j, '\$.open_alerts')")" 1
check api-device-skew-flag "$(json "json_type(j, '\$.clock_skew_flagged')")" false
check api-device-recs "$(json "json_type(j, '\$.recommendations')")" array
check api-device-percent-encoded "$(req GET /api/v1/devices/odd%25dev%3F%281%29 && json "json_extract(j, '\$.device_id')")" "200$ODD"
check api-device-404 "$(req GET /api/v1/devices/no-such-device)" 404
check api-series-200 "$(req GET "/api/v1/devices/api-dev-001/series?metric=d2c_messages&since=PT2H")" 200
check api-series-sum "$(json "(SELECT sum(json_extract(value, '\$.value')) FROM json_each(j, '\$.points'))")" 5
check api-series-step "$(json "json_extract(j, '\$.step_s')")" 20
check api-series-points "$(json "json_array_length(j, '\$.points') <= 500")" 1
check api-series-step-given "$(req GET "/api/v1/devices/api-dev-001/series?metric=d2c_messages&step=PT1M&since=PT1H" && json "json_array_length(j, '\$.points') BETWEEN 60 AND 61")" 2001
expect_error api-series-bad-metric 400 metric: GET "/api/v1/devices/api-dev-001/series?metric=bogus"
expect_error api-series-no-metric 400 metric: GET "/api/v1/devices/api-dev-001/series"
expect_error api-series-bad-step 400 step: GET "/api/v1/devices/api-dev-001/series?metric=flows&step=15"
expect_error api-series-tiny-step 400 step: GET "/api/v1/devices/api-dev-001/series?metric=flows&step=10&since=P30D"
expect_error api-series-since-after-until 400 since: GET "/api/v1/devices/api-dev-001/series?metric=flows&since=2030-01-01T00:00:00Z"
check api-series-unknown-device "$(req GET "/api/v1/devices/nobody/series?metric=flows")" 404

# Recommendations.
check api-recs-200 "$(req GET "/api/v1/recommendations?state=Active")" 200
check api-recs-count "$(json "json_array_length(j, '\$.items')")" "$(sql "SELECT count(*) FROM recommendations WHERE state = 'Active'")"
check api-recs-some "$(json "json_array_length(j, '\$.items') >= 4")" 1
expect_error api-recs-bad-state 400 state: GET "/api/v1/recommendations?state=Open"

# Security groups: the list, one group in the 4.1 shape, PUT valid and invalid.
check api-groups-200 "$(req GET /api/v1/security-groups)" 200
check api-groups-default "$(json "(SELECT count(*) FROM json_each(j, '\$.items') WHERE json_extract(value, '\$.name') = 'default')")" 1
check api-group-200 "$(req GET /api/v1/security-groups/default)" 200
check api-group-rules "$(json "json_array_length(j, '\$.properties.timeWindowRules')")" 16
check api-group-404 "$(req GET /api/v1/security-groups/nosuch)" 404
expect_error api-group-bad-name 400 name: GET "/api/v1/security-groups/a%20b"
cat > "$T/group.json" <<'EOF'
{"properties": {"timeWindowRules": [
  {"ruleType": "MqttD2CMessagesNotInAllowedRange", "isEnabled": true,
   "minThreshold": 1, "maxThreshold": 50, "timeWindowSize": "PT5M"}],
 "allowlistRules": [], "thresholdRules": [], "denylistRules": []}}
EOF
check api-group-put-200 "$(req PUT /api/v1/security-groups/lab-floor "${auth[@]}" --data-binary @"$T/group.json")" 200
check api-group-put-stored "$(sql "SELECT json_extract(rules_json, '\$.name') FROM security_groups WHERE name = 'lab-floor'")" lab-floor
check api-group-put-answer "$(json "json_extract(j, '\$.enabled_rules')")" 1
sed 's/"minThreshold": 1/"minThreshold": 60/' "$T/group.json" > "$T/bad.json"
check api-group-put-400 "$(req PUT /api/v1/security-groups/lab-floor "${auth[@]}" --data-binary @"$T/bad.json")" 400
json "json_extract(j, '\$.detail')" | grep -q MqttD2CMessagesNotInAllowedRange && pass api-group-put-names-rule ||
    fail api-group-put-names-rule "$(cat "$T/body")"
check api-group-put-unchanged "$(sql "SELECT rules_json LIKE '%\"minThreshold\":1,%' FROM security_groups WHERE name = 'lab-floor'")" 1

# The SQL endpoint (its limits are test_web_sql.sh's).
check api-sql-get "$(req GET /api/v1/sql --get --data-urlencode "q=SELECT count(*) AS n FROM alerts" && json "json_extract(j, '\$.rows[0][0]')")" \
    "200$(sql "SELECT count(*) FROM alerts")"
check api-sql-post "$(req POST /api/v1/sql -H 'Content-Type: application/json' -d '{"q": "SELECT 6 * 7 AS answer"}' && json "json_extract(j, '\$.columns[0]') || json_extract(j, '\$.rows[0][0]')")" \
    "200answer42"
expect_error api-sql-no-q 400 q: GET /api/v1/sql

stop_pid "$SERVE_PID"
sanitizers_clean api-sanitizers-clean
exit $NFAIL
