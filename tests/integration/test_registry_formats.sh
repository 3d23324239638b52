#!/usr/bin/env bash
# The registry as IoT Hub exports it (issue 16), taking effect on the real lab
# hub: a real Mosquitto with the warden_hub.so plugin (sanitized), Warden's
# TLS front end for the X.509 devices, Warden storing the hub's records. Each
# shape (the bulk export's JSON lines, one Device object, an array of twins, a
# state export) registers its devices so that they log in with the
# credentials it gives. A disabled device is refused as IoT Hub refuses it
# (DeviceNotFound, the record naming the device, details.status "disabled"),
# is disconnected when disabled while connected, and logs in again once
# imported "enabled". A document with one bad line imports nothing and says
# which line. The fixtures are tests/fixtures/registry/, in Microsoft's shapes.
. "$(dirname "$0")/lib.sh"

KEYS="$T/warden-hub.keys"
HOST=lab.example
F=tests/fixtures/registry
w() { "$WARDEN" "$@" --db "$T/warden.db" 2>>"$T/cli.err"; }

# ---- a TLS front end and one device certificate, for the X.509 devices -----------------------
C=$T/pki
mkdir -p "$C"
lab_tls_pki "$C" && openssl req -x509 "${NEWKEY[@]}" -keyout "$C/cam.key" -out "$C/cam.pem" \
    -days 2 -subj /CN=cam >> "$T/pki.log" 2>&1 || { fail pki "$(tail -5 "$T/pki.log")"; exit 1; }
CAM_THUMB=$(openssl x509 -in "$C/cam.pem" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g')

# sas_login DEVICE [KEY_OPTION]: exit status of one SAS login and publish as DEVICE.
sas_login() {
    local tok
    tok=$(w registry token "$1" --host "$HOST" ${2:-}) || return 2
    mosquitto_pub -p "$BROKER_PORT" -i "$1" -u "$HOST/$1/?api-version=2021-04-12" -P "$tok" \
        -q 1 -t "devices/$1/messages/events/" -m hello 2>/dev/null
}
# cert_login DEVICE: exit status of one login with cam.pem through the TLS front end.
cert_login() {
    mosquitto_pub -p "$TLS_PORT" --cafile "$C/lab-ca.pem" --cert "$C/cam.pem" --key "$C/cam.key" \
        -i "$1" -u "localhost/$1/?api-version=2021-04-12" -q 1 -t "devices/$1/messages/events/" -m hello 2>/dev/null
}
# import FILE: `warden registry import FILE`, its output in $T/out and $T/err, its status in $RC;
# then, when it changed the key store, waits until the plugin has reloaded it.
import() {
    local loads sum
    loads=$(hub_keys_loads)
    sum=$(sha256sum < "$KEYS" 2>/dev/null)
    "$WARDEN" registry import "$1" --db "$T/warden.db" > "$T/out" 2> "$T/err"
    RC=$?
    grep -v ' warden info: ' "$T/err" > "$T/err.shown"
    if [ "$(sha256sum < "$KEYS")" != "$sum" ]; then
        wait_hub_keys "$loads" || fail "reload-after-$(basename "$1")" "the plugin did not reload its key store"
    fi
}
has() { grep -cF -- "$2" "$1"; }
q_op() { sql "SELECT COALESCE(SUM(count),0) FROM hub_operations WHERE $1"; }

w registry init > /dev/null || fail registry-init
start_hub_broker "$KEYS"
start_front "$C"
start_warden --mqtt.username=warden-service --mqtt.password_file="$KEYS"

# ---- JSON lines: the bulk export's devices.txt, two devices disabled and sharing a key --------
import "$F/devices.txt"
check lines-imported "$RC $(has "$T/out" 'registry: tests/fixtures/registry/devices.txt (JSON lines): 4 devices: 4 added, 0 changed, 0 unchanged; 8 credentials fingerprinted')" "0 1"
check lines-says-disabled "$(has "$T/out" 'registry: 2 disabled: the lab hub refuses their logins as IoT Hub does (DeviceNotFound)')" 1
check lines-status-stored "$(sql "SELECT group_concat(device_id || '=' || status, ' ') FROM (SELECT * FROM devices WHERE device_id LIKE 'bulk-%' ORDER BY device_id)")" \
    "bulk-1=enabled bulk-2=enabled bulk-3=disabled bulk-4=disabled"
check lines-keystore-disabled "$(grep -c '^device	bulk-[34]	.*	disabled$' "$KEYS")" 2
if sas_login bulk-1 && sas_login bulk-2 --secondary; then pass lines-enabled-devices-log-in
else fail lines-enabled-devices-log-in; fi
if sas_login bulk-3; then fail lines-disabled-device-refused "bulk-3 logged in"; else pass lines-disabled-device-refused; fi
if wait_sql "SELECT COUNT(*) FROM hub_operations WHERE category='Connections' AND result='Failed'
             AND reason='DeviceNotFound' AND device_id='bulk-3' AND json_extract(details, '\$.status')='disabled'" 1
then pass record-disabled-as-iot-hub
else fail record-disabled-as-iot-hub "$(sql "SELECT reason, device_id, details FROM hub_operations WHERE result='Failed'")"; fi

# Re-enabled by importing it again with "enabled".
sed 's/"status":"disabled"/"status":"enabled"/' "$F/devices.txt" > "$T/devices-enabled.txt"
import "$T/devices-enabled.txt"
check reenable-reported "$RC $(has "$T/out" '4 devices: 0 added, 2 changed, 2 unchanged') $(has "$T/out" 'changed   bulk-3: status disabled -> enabled')" "0 1 1"
if sas_login bulk-3; then pass reenabled-device-logs-in; else fail reenabled-device-logs-in; fi
import "$T/devices-enabled.txt"
check reimport-unchanged "$RC $(has "$T/out" '4 devices: 0 added, 0 changed, 4 unchanged; 0 credentials')" "0 1"

# Disabled while connected: the hub closes its connection, as IoT Hub does.
tok=$(w registry token bulk-1 --host "$HOST")
start_sub "$T/bulk1.out" -p "$BROKER_PORT" -i bulk-1 -u "$HOST/bulk-1/?api-version=1" -P "$tok" \
    -t 'devices/bulk-1/messages/devicebound/#' -W 120 && subscribed=1 || subscribed=0
sed '1s/"status":"enabled"/"status":"disabled"/' "$T/devices-enabled.txt" > "$T/devices-bulk1-off.txt"
import "$T/devices-bulk1-off.txt"
check disable-reported "$RC $(has "$T/out" 'changed   bulk-1: status enabled -> disabled')" "0 1"
if [ "$subscribed" = 1 ] && wait_gone "$SUB_PID" 20; then pass disabled-connected-device-disconnected
else fail disabled-connected-device-disconnected "bulk-1 still connected, or never was"; fi
check disconnect-logged "$(grep -c 'warden_hub: disconnecting bulk-1: the device is disabled' "$T/broker/mosquitto.log")" 1
import "$T/devices-enabled.txt"

# One bad line (and one bad status) refuse the whole file, each named by its line.
sum=$(sha256sum < "$KEYS")
before=$(sql "SELECT group_concat(device_id || status, ',') FROM devices")
{ sed -n 1,2p "$F/devices.txt"; sed -n 3p "$F/devices.txt" | cut -c1-60; echo;
  sed -n 4p "$F/devices.txt" | sed 's/"status":"disabled"/"status":"off"/';
  echo '{"id":"bulk-9","status":"enabled"}'; } > "$T/devices-bad.txt"
import "$T/devices-bad.txt"
check bad-line-refused "$RC" 2
check bad-line-named "$(has "$T/err.shown" 'devices-bad.txt: refused line 3: invalid JSON at column 60: truncated')" 1
check bad-status-named "$(has "$T/err.shown" 'refused device "bulk-4" (line 5): status must be "enabled" or "disabled"')" 1
check bad-lines-nothing-imported "$(has "$T/err.shown" '2 of 5 devices refused (nothing imported)')" 1
check bad-lines-keystore-unchanged "$(sha256sum < "$KEYS")" "$sum"
check bad-lines-database-unchanged "$(sql "SELECT group_concat(device_id || status, ',') FROM devices")" "$before"

# An export with twin data and no keys ("authentication": null): tags taken, keys kept.
import "$F/devices_with_twin.txt"
check twin-export-group "$RC $(has "$T/out" 'changed   bulk-1: group default -> floor-2') $(sql "SELECT security_group FROM devices WHERE device_id='bulk-1'")" "0 1 floor-2"
if sas_login bulk-1; then pass twin-export-keeps-keys; else fail twin-export-keeps-keys; fi

# ---- one Device object: az iot hub device-identity show ------------------------------------
import "$F/device_identity_show.json"
check show-imported "$RC $(has "$T/out" '(one device): 1 device: 1 added, 0 changed, 0 unchanged; 2 credentials fingerprinted')" "0 1"
if sas_login show-1 && sas_login show-1 --secondary; then pass show-device-logs-in; else fail show-device-logs-in; fi

# ---- an array of twins: az iot hub device-identity list -----------------------------------
sed "s/5E5B1FA1C2D3E4F5A6B7C8D9E0F1A2B3C4D5E6F7/$CAM_THUMB/" "$F/device_identity_list.json" > "$T/list.json"
import "$T/list.json"
check list-imported "$RC $(has "$T/out" '(an array): 3 devices: 2 added, 1 changed, 0 unchanged')" "0 1"
check list-keyless-said "$(has "$T/out" '1 SAS device without keys (twin-only-1) cannot log in')" 1
check list-group-from-tags "$(sql "SELECT security_group || ' ' || auth_type FROM devices WHERE device_id='twin-cam-1'")" "cameras selfSigned"
if cert_login twin-cam-1; then pass twin-thumbprint-logs-in; else fail twin-thumbprint-logs-in; fi
# A twin carries no keys: show-1 keeps the ones device-identity show gave it.
if sas_login show-1; then pass twin-keeps-keys; else fail twin-keeps-keys; fi

# ---- az iot hub state export --------------------------------------------------------------
sed "s/9C0FFEE00112233445566778899AABBCCDDEEFF0/$CAM_THUMB/" "$F/iot_hub_state_export.json" > "$T/state.json"
import "$T/state.json"
check state-imported "$RC $(has "$T/out" '(a state export): 3 devices: 3 added, 0 changed, 0 unchanged; 4 credentials fingerprinted')" "0 1"
check state-modules-said "$(has "$T/out" '2 module identities not imported')" 1
check state-arm-said "$(has "$T/out" "the hub's template (\"arm\") is not read here")" 1
check state-group-from-twin "$(sql "SELECT security_group FROM devices WHERE device_id='edge-1'")" gateways
if sas_login edge-1; then pass state-sas-device-logs-in; else fail state-sas-device-logs-in; fi
if cert_login state-cam-1; then pass state-x509-device-logs-in; else fail state-x509-device-logs-in; fi
if sas_login state-off-1; then fail state-disabled-refused "state-off-1 logged in"; else pass state-disabled-refused; fi
# Credentials are checked first: a forged token for a disabled device is recorded as forged.
tok=$(w registry token state-off-1 --host "$HOST")
sig=${tok#*sig=}
forged=${tok/sig=${sig:0:1}/sig=$([ "${sig:0:1}" = A ] && echo B || echo A)}
mosquitto_pub -p "$BROKER_PORT" -i state-off-1 -u "$HOST/state-off-1/?api-version=1" -P "$forged" \
    -t x -m x 2>/dev/null && fail disabled-forged-admitted
if wait_sql "SELECT COUNT(*) FROM hub_operations WHERE reason='SasTokenInvalidSignature' AND device_id='state-off-1'" 1
then pass disabled-forged-token-recorded-as-forged; else fail disabled-forged-token-recorded-as-forged; fi

# Removed while connected (`registry rm`): disconnected, as IoT Hub does when a device is deleted.
tok=$(w registry token edge-1 --host "$HOST")
start_sub "$T/edge1.out" -p "$BROKER_PORT" -i edge-1 -u "$HOST/edge-1/?api-version=1" -P "$tok" \
    -t 'devices/edge-1/messages/devicebound/#' -W 120 && subscribed=1 || subscribed=0
loads=$(hub_keys_loads)
w registry rm edge-1 > /dev/null || fail registry-rm
wait_hub_keys "$loads" || fail reload-after-rm
if [ "$subscribed" = 1 ] && wait_gone "$SUB_PID" 20; then pass removed-connected-device-disconnected
else fail removed-connected-device-disconnected "edge-1 still connected, or never was"; fi

# ---- documents that are not a registry, or misread one --------------------------------------
echo '{"value": []}' > "$T/list-body.json"
import "$T/list-body.json"
check not-a-registry "$RC $(has "$T/err.shown" 'this object has neither deviceId nor devices (nothing imported)')" "2 1"
echo '[{"deviceId": "mixed-1", "authentication": {"type": "sas"}, "authenticationType": "sas"}]' > "$T/mixed.json"
import "$T/mixed.json"
check mixed-shapes-refused "$RC $(has "$T/err.shown" 'refused device "mixed-1" (element 0): has both authentication')" "2 1"
echo '{"id":"bulk-2","importMode":"delete"}' > "$T/delete.txt"
import "$T/delete.txt"
check import-mode-delete-refused "$RC $(has "$T/err.shown" 'importMode delete deletes a device')" "2 1"

# Every login above was decided by the plugin: its records say so.
wait_sql "SELECT COUNT(*) > 0 FROM hub_operations WHERE result='Succeeded' AND device_id='state-cam-1'" 1 ||
    fail record-state-cam-login
check no-record-disabled-enabled "$(q_op "reason='DeviceNotFound' AND device_id IN ('bulk-2','show-1')")" 0
grep -q 'ERROR: AddressSanitizer\|runtime error' "$T/broker/mosquitto.log" "$T/front.log" "$T/cli.err" &&
    fail sanitizer-report "$(grep -m3 'AddressSanitizer\|runtime error' "$T/broker/mosquitto.log" "$T/front.log" "$T/cli.err")"
exit $NFAIL
