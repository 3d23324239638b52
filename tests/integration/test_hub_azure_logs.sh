#!/bin/bash
# IoT Hub's own logs on hub/{hub}/operations (issue 16 point 6), through the
# real broker into `warden run`: resource logs ({"records": [...]}, properties
# a JSON string, sometimes not JSON), the storage archive (objects back to
# back), the Activity log as archived and as the REST API lists it. Each
# must raise the alert the lab hub's own record of the same thing raises
# (evaluator/hubops.c auth_alert, hub_alert); a record that cannot be mapped is
# stored as Unknown and counted, and its batch is not dead-lettered.
. "$(dirname "$0")/lib.sh"
start_broker
start_warden --evaluator.interval=PT1S
F=tests/fixtures/hub/azure
TOPIC=hub/warden-lab-hub/operations

pub "$TOPIC" "$F/resource_log_connections.json"
pub "$TOPIC" "$F/resource_log_other.json"
pub "$TOPIC" "$F/connections_archive.json"
pub "$TOPIC" "$F/activity_log_storage.json"
pub "$TOPIC" "$F/activity_log_rest.json"
# One of Azure's records Warden cannot map (operationName not a string), between two it can.
pub "$TOPIC" -m '{"records":[{"time":"2026-11-29T15:00:00Z","operationName":"deviceConnect","category":"Connections","resultType":"401003","resultDescription":"IotHubUnauthorized","properties":"{\"deviceId\":\"odd-1\"}"},{"operationName":7,"category":"Connections"},{"time":"2026-11-29T15:00:01Z","operationName":"deviceDisconnect","category":"Connections","properties":"{\"deviceId\":\"odd-1\"}"}]}'

wait_sql "SELECT count(*) FROM hub_operations WHERE hub = 'warden-lab-hub' AND device_id = 'odd-1'" 2 ||
    fail azure-logs-stored "$(sql "SELECT count(*), group_concat(DISTINCT category) FROM hub_operations")"
# odd-1's batch went last and the evaluator reads records in order: its alert means all were read.
wait_sql "SELECT count(*) FROM alerts WHERE alert_type = 'IoT_Invalid_SAS_Token' AND alert_key = 'odd-1'" 1 ||
    fail azure-logs-evaluated "$(sql "SELECT alert_type, alert_key FROM alerts")"

alerts() { sql "SELECT group_concat(alert_key || '=' || count, ',') FROM (SELECT * FROM alerts WHERE alert_type = '$1' ORDER BY alert_key)"; }
check resource-log-401003-sas-invalid "$(alerts IoT_Invalid_SAS_Token)" "meter-3=1,odd-1=1,plc-07=1"
check resource-log-401003-sas-expired "$(alerts IoT_Expired_SAS_Token)" "plc-08=1"
check resource-log-401003-thumbprint "$(alerts IoT_Cert_Print_Mismatch)" "cam-11=1"
check resource-log-401003-cert-expired "$(alerts IoT_Cert_Expired)" "cam-12=1"
check archive-401003-back-to-back "$(sql "SELECT count(*) FROM hub_operations WHERE device_id = 'meter-3' AND category = 'Connections'")" 3
check activity-storage-certificate-write "$(alerts IoT_CertificateSuccessfullyAddedToHub)" "warden-lab-hub/vendor-root-2026=1"
check activity-storage-diagnostic-write "$(alerts IoT_DiagnosticSettingAddedOrEditedOnHub)" "warden-lab-hub/to-lab-storage=1"
check activity-rest-certificate-delete-failed "$(alerts IoT_CertificateFailedToBeDeletedFromHub)" "warden-lab-hub/old-root=1"
check activity-rest-diagnostic-delete "$(alerts IoT_DiagnosticSettingDeletedFromHub)" "warden-lab-hub/to-lab-storage=1"
check properties-not-json-kept-as-text "$(sql "SELECT count(*) FROM hub_operations WHERE category = 'DirectMethods' AND json_type(details, '\$.properties') = 'text'")" 1
check unmappable-kept-as-unknown "$(sql "SELECT count(*) || ' ' || reason FROM hub_operations WHERE category = 'Unknown'")" "1 hub: operationName not a string"
check unmappable-counted "$(sql "SELECT value FROM ingest_counters WHERE name = 'warden_hub_records_unknown_total'")" 1
check nothing-dead-lettered "$(sql "SELECT count(*) FROM dead_letters")" 0

stop_pid "$WARDEN_PID"
exit $NFAIL
