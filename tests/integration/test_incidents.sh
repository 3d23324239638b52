#!/bin/bash
# `warden sim --scenario incidents` through the real broker into `warden run`
# with the demo configuration (conf/demo-*.json, conf/demo-intel.netset):
# every alert type of the catalogue and every recommendation appears.
. "$(dirname "$0")/lib.sh"
start_broker
DB=$T/warden.db
"$WARDEN" intel load conf/demo-intel.netset --db "$DB" >/dev/null 2>&1 || fail incidents-intel
"$WARDEN" groups import conf/demo-group.json --db "$DB" >/dev/null 2>&1 || fail incidents-group
"$WARDEN" hub import conf/demo-hub.json --db "$DB" >/dev/null 2>&1 || fail incidents-hub
"$WARDEN" registry import conf/demo-registry.json --db "$DB" >/dev/null 2>&1 || fail incidents-registry
start_warden --evaluator.interval=PT1S --evaluator.silent_after=PT10S
"$WARDEN_PLAIN" sim --mqtt.port="$BROKER_PORT" --scenario incidents > "$T/sim.json" 2> "$T/sim.log" ||
    fail incidents-sim "$(tail -3 "$T/sim.log")"

expected="IoT_TiConnection IoT_CA_ConnectionToIpNotAllowed IoT_CA_ConnectionFromIpNotAllowed
IoT_CA_ActiveConnectionsNotInAllowedRange IoT_CA_MqttD2CMessagesNotInAllowedRange
IoT_CA_MqttC2DMessagesNotInAllowedRange IoT_CA_MqttC2DRejectedMessagesNotInAllowedRange
IoT_CA_QueuePurgesNotInAllowedRange IoT_CA_DirectMethodInvokesNotInAllowedRange
IoT_CA_TwinUpdatesNotInAllowedRange IoT_CA_UnauthorizedOperationsNotInAllowedRange
IoT_Cert_Print_Mismatch IoT_Cert_Expired IoT_Expired_SAS_Token IoT_Invalid_SAS_Token
IoT_CertificateSuccessfullyAddedToHub IoT_CertificateSuccessfullyDeletedFromHub
IoT_CertificateFailedToBeAddedToHub IoT_CertificateFailedToBeDeletedFromHub
IoT_DiagnosticSettingAddedOrEditedOnHub IoT_DiagnosticSettingDeletedFromHub IoT_DeviceSilent"
n=$(echo $expected | wc -w)
wait_sql "SELECT count(DISTINCT alert_type) FROM alerts" "$n" 60
wait_sql "SELECT count(*) FROM alerts WHERE alert_type = 'IoT_DeviceSilent' AND alert_key = 'sim-incident-silent'" 1
for t in $expected; do
    got=$(sql "SELECT count(*) FROM alerts WHERE alert_type = '$t'")
    [ "$got" -ge 1 ] && pass "incidents-$t" || fail "incidents-$t" "no alert"
done
check incidents-ti-key "$(sql "SELECT alert_key FROM alerts WHERE alert_type = 'IoT_TiConnection'")" "sim-incident-ti/185.220.101.34"
check incidents-silent-device "$(sql "SELECT count(*) FROM alerts WHERE alert_type = 'IoT_DeviceSilent' AND alert_key = 'sim-incident-silent'")" 1
for r in IoT_SharedCredentials IoT_IPFilter_DenyAll IoT_IPFilter_PermissiveRule IoT_DiagnosticsLogs; do
    got=$(sql "SELECT count(*) FROM recommendations WHERE rec_type = '$r' AND state = 'Active'")
    [ "$got" -ge 1 ] && pass "incidents-$r" || fail "incidents-$r" "not active"
done
check incidents-no-dead-letters "$(sql "SELECT count(*) FROM dead_letters")" 0
stop_pid "$WARDEN_PID"
exit $NFAIL
