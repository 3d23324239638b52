#!/bin/bash
# Messages in through a real broker, rows out of a real database, exact values.
. "$(dirname "$0")/lib.sh"
start_broker
start_warden

V=tests/vectors
pub "$(FB_TOPIC dev-1)" $V/v1_ipv4_flows.bin
pub "$(FB_TOPIC dev-2)" $V/v2_ipv6_flows.bin
pub "$(FB_TOPIC dev-3)" $V/v3_sysinfo_heartbeat.bin
pub "$(FB_TOPIC dev-4)" $V/v4_other_payloads.bin
# The same message again, as after a re-delivery: stored once.
pub "$(FB_TOPIC dev-1)" $V/v1_ipv4_flows.bin
# Legacy JSON agent, no mti: JSON.
pub "$(JSON_TOPIC dev-json)" -m '{"AgentVersion":"0.0.5","AgentId":"9d9a5e1f-0000-4000-8000-000000000001","MessageSchemaVersion":"1.0","Events":[{"EventType":"Security","Category":"Triggered","Name":"ConnectionCreate","IsEmpty":false,"PayloadSchemaVersion":"1.0","Id":"6e2a8f7c-1111-4b5e-9a0d-000000000001","TimestampLocal":"2026-11-29T10:00:00+01:00","TimestampUTC":"2026-11-29T09:00:00Z","Payload":[{"RemoteAddress":"93.184.216.34","RemotePort":"443","LocalAddress":"10.0.0.5","LocalPort":"51000","Direction":"Out","Protocol":"TCP","ProcessId":"1234","UserId":"0","Executable":"/usr/bin/curl","CommandLine":"curl https://example.com"}]}]}'
# Device-to-cloud telemetry that is not a security message, C2D, methods, twin.
pub "devices/dev-1/messages/events/" -m '{"temperature": 21.5}'
pub "devices/dev-1/modules/filter/messages/events/" -m '{"temperature": 21.6}'
pub 'devices/dev-1/messages/devicebound/%24.to=%2Fdevices%2Fdev-1%2Fmessages%2Fdevicebound' -m 'hello'
pub 'devices/dev-1/methods/POST/reboot/?$rid=1' -m '{}'
pub 'devices/dev-1/twin/PATCH/properties/reported/?$rid=2' -m '{"fw":"1.2"}'
# Hub records: an array with one invalid element among valid ones.
pub 'hub/lab-hub/operations' -m '[{"time":"2026-11-29T10:00:00Z","category":"Connections","operation":"deviceConnect","result":"Failed","reason":"SasTokenExpired","deviceId":"dev-17","sourceIp":"192.0.2.10"},{"category":"C2DCommands","operation":"reject","deviceId":"dev-1","count":3},{"category":"C2DCommands","operation":"purge","deviceId":"dev-1","count":0}]'
# Bad input: garbage FlatBuffers, malformed JSON, a bad device id, a stray topic.
pub "$(FB_TOPIC dev-bad)" -m 'garbage!'
pub "$(JSON_TOPIC dev-bad)" -m '{"Events": ['
pub "$(FB_TOPIC "$(printf 'x%.0s' $(seq 1 130))")" $V/v1_ipv4_flows.bin
pub "hub/$(printf 'h%.0s' $(seq 1 130))/operations" -m '{"category":"Connections","operation":"deviceConnect"}'
# A last good message proves the ingester kept going.
pub "$(FB_TOPIC dev-last)" $V/v3_sysinfo_heartbeat.bin

wait_sql "SELECT count(*) FROM heartbeats WHERE device_id = 'dev-last'" 1 || fail ingest-last-message "never stored"

check flows-ipv4-exact "$(sql "SELECT group_concat(protocol||' '||local_ip||':'||local_port||' '||remote_ip||':'||remote_port||' '||bytes_in||'/'||bytes_out||' '||direction||' '||device_ms, ';') FROM (SELECT * FROM flows WHERE device_id = 'dev-1' ORDER BY flow_id)")" \
    "TCP 192.168.1.20:49153 52.178.17.3:8883 1520/2210 unknown 1764410400000;UDP 192.168.1.20:5353 192.168.1.1:53 96/40 unknown 1764410400000;ICMP 192.168.1.20:0 8.8.4.4:0 64/64 unknown 1764410400000"
check flows-ipv6-exact "$(sql "SELECT group_concat(protocol||' '||local_ip||':'||local_port||' '||remote_ip||':'||remote_port||' '||bytes_in||'/'||bytes_out, ';') FROM (SELECT * FROM flows WHERE device_id = 'dev-2' ORDER BY flow_id)")" \
    "TCP 10.1.0.7:40001 20.50.2.1:443 300/0;TCP fd00:1::7:50000 2603:1020:200::682f:a1d8:8883 700/900;UDP fe80::1:5353 ff02::fb:5353 0/120"
check redelivery-stored-once "$(sql "SELECT count(*) FROM flows WHERE device_id = 'dev-1'")" 3
check duplicate-counted "$(sql "SELECT value FROM ingest_counters WHERE name = 'warden_events_duplicate_total'")" 1
check sysinfo-row "$(sql "SELECT os_info||'|'||coalesce(kernel_info,'NULL')||'|'||device_ms FROM system_info WHERE device_id = 'dev-3'")" "Azure RTOS 6.3|NULL|1764410460000"
check heartbeat-row "$(sql "SELECT count(*) FROM heartbeats WHERE device_id = 'dev-3'")" 1
check device-info "$(sql "SELECT module_id||'|'||module_version||'|'||os_info FROM devices WHERE device_id = 'dev-3'")" "defender-iot-micro-agent|3.5.4|Azure RTOS 6.3"
check listening-ports "$(sql "SELECT group_concat(protocol||' '||local_ip||':'||local_port, ';') FROM (SELECT * FROM listening_ports WHERE device_id = 'dev-4' ORDER BY id)")" "TCP 0.0.0.0:80;UDP 192.168.1.20:161;TCP :::22"
check other-events "$(sql "SELECT group_concat(name, ',') FROM (SELECT name FROM events_other WHERE device_id = 'dev-4' ORDER BY id)")" "Baseline,Process,Log"
check process-payload "$(sql "SELECT json_extract(payload, '\$.executable')||' '||json_extract(payload, '\$.hit_count') FROM events_other WHERE device_id = 'dev-4' AND name = 'Process'")" "/bin/sh 1"
check json-flow "$(sql "SELECT protocol||' '||local_ip||':'||local_port||' '||remote_ip||':'||remote_port||' '||direction||' '||process_id||' '||executable||' '||device_ms FROM flows WHERE device_id = 'dev-json'")" \
    "TCP 10.0.0.5:51000 93.184.216.34:443 out 1234 /usr/bin/curl 1795942800000"
check d2c-counts "$(sql "SELECT sum(value) FROM device_counts WHERE device_id = 'dev-1' AND metric = 'd2c_messages'")" 4
check security-counts "$(sql "SELECT sum(value) FROM device_counts WHERE device_id = 'dev-1' AND metric = 'security_messages'")" 2
check flow-counts "$(sql "SELECT sum(value) FROM device_counts WHERE device_id = 'dev-1' AND metric = 'flows'")" 3
check c2d-method-twin "$(sql "SELECT group_concat(metric||'='||v, ',') FROM (SELECT metric, sum(value) v FROM device_counts WHERE device_id = 'dev-1' AND metric IN ('c2d_messages','direct_method_invokes','twin_updates','c2d_rejected_messages') GROUP BY metric ORDER BY metric)")" \
    "c2d_messages=1,c2d_rejected_messages=3,direct_method_invokes=1,twin_updates=1"
check bucket-10s "$(sql "SELECT count(*) FROM device_counts WHERE bucket_ms % 10000 != 0 OR bucket_s != 10")" 0
check hub-record "$(sql "SELECT category||'|'||operation||'|'||result||'|'||reason||'|'||device_id||'|'||source_ip||'|'||time_ms FROM hub_operations WHERE device_id = 'dev-17'")" \
    "Connections|deviceConnect|Failed|SasTokenExpired|dev-17|192.0.2.10|1795946400000"
# A refused login names a device without proving it exists: stored, not registered (issue 14).
check hub-failed-login-registers-nothing "$(sql "SELECT count(*) FROM devices WHERE device_id = 'dev-17'")" 0
check hub-invalid-element-alone "$(sql "SELECT count(*) FROM hub_operations")|$(sql "SELECT count(*) FROM dead_letters WHERE reason LIKE 'hub%'")" "2|1"
check dead-letter-flatbuffers "$(sql "SELECT count(*) FROM dead_letters WHERE device_id = 'dev-bad' AND topic LIKE '%mti=2.3-1-0-0%' AND payload = CAST('garbage!' AS BLOB)")" 1
check dead-letter-json "$(sql "SELECT count(*) FROM dead_letters WHERE device_id = 'dev-bad' AND reason LIKE 'json%'")" 1
check dead-letter-device-id "$(sql "SELECT count(*) FROM dead_letters WHERE reason = 'topic: device id longer than 128 characters'")" 1
check dead-letter-hub-name "$(sql "SELECT count(*) FROM dead_letters WHERE reason = 'topic: invalid hub name'")" 1
check devices-registered "$(sql "SELECT count(*) FROM devices")" 7
check dead-letter-counter "$(sql "SELECT sum(value) FROM ingest_counters WHERE name = 'warden_dead_letters_total'")" 5

stop_pid "$WARDEN_PID"
check sigterm-clean-exit "$(grep -c 'ERROR: \|runtime error' "$T/warden.log")" 0
check state-disconnected "$(sql "SELECT connected FROM ingest_state")" 0
exit $NFAIL
