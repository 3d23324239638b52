#!/bin/bash
# The evaluator end to end, through the real broker, with payloads made
# independently of Warden's own encoder: the golden FlatBuffers vectors,
# hand-written JSON and hand-written hub records. `warden run` ingests and
# evaluates every second; the expected alerts must appear with the right
# keys, counts and values, and be published on warden/alerts/#.
. "$(dirname "$0")/lib.sh"
start_broker
W=$WARDEN
DB=$T/warden.db

# Configuration, as a user would bring it: a list, a group, the hub.
cat > "$T/list.netset" <<'LIST'
# test list: the golden vector's Azure endpoint, and an IPv6 range
52.178.17.0/24
2603:1020:200::/48
LIST
"$W" intel load "$T/list.netset" --name lab-list --db "$DB" >/dev/null 2>&1 || fail e2e-intel-load
cat > "$T/group.json" <<'GROUP'
{"name": "default", "properties": {
  "timeWindowRules": [
    {"ruleType": "MqttD2CMessagesNotInAllowedRange", "isEnabled": true,
     "minThreshold": 0, "maxThreshold": 5, "timeWindowSize": "PT1M"}],
  "allowlistRules": [
    {"ruleType": "ConnectionToIpNotAllowed", "isEnabled": true,
     "allowlistValues": ["192.168.0.0/16", "10.0.0.0/8", "52.178.17.0/24", "20.50.2.1", "fd00::/8", "ff00::/8"]},
    {"ruleType": "ConnectionFromIpNotAllowed", "isEnabled": true, "allowlistValues": ["192.168.0.0/16"]}]}}
GROUP
"$W" groups import "$T/group.json" --db "$DB" >/dev/null 2>&1 || fail e2e-group-import

start_warden --evaluator.interval=PT1S
start_sub "$T/published.txt" -p "$BROKER_PORT" -v -t 'warden/alerts/#' || exit 1

V=tests/vectors
pub "$(FB_TOPIC dev-a)" $V/v1_ipv4_flows.bin        # 52.178.17.3 (listed), 192.168.1.1, 8.8.4.4 (not allowed)
pub "$(FB_TOPIC dev-b)" $V/v2_ipv6_flows.bin        # 2603:1020:200::682f:a1d8 (listed, IPv6)
pub "$(JSON_TOPIC dev-c)" -m '{"AgentVersion":"0.0.5","AgentId":"a1","MessageSchemaVersion":"1.0","Events":[{"EventType":"Security","Category":"Triggered","Name":"ConnectionCreate","IsEmpty":false,"PayloadSchemaVersion":"1.0","Id":"e2e-in-1","TimestampLocal":"2026-11-29T10:00:00Z","TimestampUTC":"2026-11-29T10:00:00Z","Payload":[{"RemoteAddress":"45.33.32.156","RemotePort":"51234","LocalAddress":"192.168.1.9","LocalPort":"22","Direction":"In","Protocol":"TCP"}]}]}'
for i in 1 2 3 4 5 6 7 8; do pub "devices/dev-d/messages/events/" -m "{\"n\": $i}"; done
pub 'hub/lab-hub/operations' -m '[{"category":"Connections","operation":"deviceConnect","result":"Failed","reason":"SasTokenExpired","deviceId":"dev-e","sourceIp":"192.0.2.10"},{"category":"Connections","operation":"deviceConnect","result":"Failed","reason":"X509ThumbprintMismatch","deviceId":"dev-f","count":3},{"category":"Certificates","operation":"delete","result":"Succeeded","details":{"certificateName":"root-ca"}},{"category":"DiagnosticSettings","operation":"write","result":"Succeeded","details":{"settingName":"to-disk"}}]'

wait_sql "SELECT count(*) FROM alerts WHERE alert_type = 'IoT_CertificateSuccessfullyDeletedFromHub'" 1 ||
    fail e2e-alerts-appeared "$(sql "SELECT alert_type FROM alerts")"
# The hub's records were published last, so every message is stored by now; the checks
# below also need a second pass over the D2C window and the recommendations' pass.
wait_sql "SELECT (SELECT count(*) FROM alerts WHERE alert_type = 'IoT_CA_MqttD2CMessagesNotInAllowedRange' AND count >= 2)
          AND (SELECT count(*) FROM recommendations WHERE state = 'Active') >= 2" 1 ||
    fail e2e-evaluated "$(sql "SELECT alert_type, count FROM alerts") / $(sql "SELECT rec_type FROM recommendations")"
alerts() { sql "SELECT group_concat(alert_key || '=' || count, ',') FROM (SELECT * FROM alerts WHERE alert_type = '$1' ORDER BY alert_key)"; }
check e2e-ti-ipv4-and-ipv6 "$(alerts IoT_TiConnection)" "dev-a/52.178.17.3=1,dev-b/2603:1020:200::682f:a1d8=1"
check e2e-ti-properties "$(sql "SELECT json_extract(extended_properties, '\$.list') || ' ' || json_extract(extended_properties, '\$.remote_port') || ' ' || severity FROM alerts WHERE alert_key = 'dev-a/52.178.17.3'")" "lab-list 8883 Medium"
check e2e-outbound-not-allowed "$(alerts IoT_CA_ConnectionToIpNotAllowed)" "dev-a/8.8.4.4=1,dev-b/2603:1020:200::682f:a1d8=1"
check e2e-inbound-not-allowed "$(alerts IoT_CA_ConnectionFromIpNotAllowed)" "dev-c/45.33.32.156=1"
check e2e-auth-expired-sas "$(alerts IoT_Expired_SAS_Token)" "dev-e=1"
check e2e-auth-thumbprint-count "$(alerts IoT_Cert_Print_Mismatch)" "dev-f=3"
check e2e-hub-certificate "$(alerts IoT_CertificateSuccessfullyDeletedFromHub)" "lab-hub/root-ca=1"
check e2e-hub-diagnostic "$(alerts IoT_DiagnosticSettingAddedOrEditedOnHub)" "lab-hub/to-disk=1"
check e2e-d2c-window-value "$(sql "SELECT alert_key || ' ' || value || ' ' || status FROM alerts WHERE alert_type = 'IoT_CA_MqttD2CMessagesNotInAllowedRange'")" "dev-d/MqttD2CMessagesNotInAllowedRange 8 Active"
check e2e-d2c-window-counts-passes "$(sql "SELECT count >= 2 FROM alerts WHERE alert_type = 'IoT_CA_MqttD2CMessagesNotInAllowedRange'")" 1
check e2e-one-open-per-key "$(sql "SELECT count(*) FROM (SELECT alert_type, alert_key FROM alerts WHERE status != 'Resolved' GROUP BY 1, 2 HAVING count(*) > 1)")" 0
check e2e-recommendations "$(sql "SELECT group_concat(rec_type, ',') FROM (SELECT rec_type FROM recommendations WHERE state = 'Active' ORDER BY rec_type)")" "IoT_DiagnosticsLogs,IoT_IPFilter_DenyAll"

# Every transition is published on MQTT, and the outbox drains.
wait_sql "SELECT count(*) FROM outbox" 0 || fail e2e-outbox-drained "$(sql "SELECT count(*) FROM outbox")"
n_alerts=$(sql "SELECT count(*) FROM alert_transitions")
# Drained means the broker has them; the subscriber gets them a moment later.
wait_until '[ "$(grep -c "^warden/alerts/" "$T/published.txt")" -ge "$n_alerts" ]'
n_pub=$(grep -c '^warden/alerts/' "$T/published.txt")
check e2e-transitions-published "$n_pub" "$n_alerts"
grep -q '^warden/alerts/IoT_TiConnection/dev-a {' "$T/published.txt" && pass e2e-published-topic-and-json ||
    fail e2e-published-topic-and-json "$(head -3 "$T/published.txt")"

stop_pid "$WARDEN_PID"
exit $NFAIL
