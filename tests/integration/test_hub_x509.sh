#!/usr/bin/env bash
# X.509 devices at the lab hub: Warden's TLS front end (`warden hub tls`) in
# front of a real Mosquitto with the warden_hub.so plugin (sanitized). A
# self-signed device with its registered certificate, an expired one and an
# unregistered one; a CA-signed device whose CA is added with `warden hub cert
# add`, and one from a CA the hub does not know; a SAS device over TLS. The
# records and alerts must come from the hub.
. "$(dirname "$0")/lib.sh"

KEYS="$T/warden-hub.keys"
w() { "$WARDEN" "$@" --db "$T/warden.db" 2>>"$T/cli.err"; }

# ---- certificates (EC keys: quick to make) ------------------------------------------------
C=$T/pki
D=$T/devices
mkdir -p "$C/db" "$D"
# The front end's server certificate, from the lab CA the devices trust.
lab_tls_pki "$C" || { fail pki "$(tail -5 "$T/pki.log")"; exit 1; }
(
    cd "$C"
    # cam-1: self-signed, registered; the same device's expired certificate (registered as
    # its secondary thumbprint); and a certificate the registry does not know.
    openssl req -x509 "${NEWKEY[@]}" -keyout "$D/cam-1.key" -out "$D/cam-1.pem" -days 2 -subj /CN=cam-1
    openssl req -x509 "${NEWKEY[@]}" -keyout "$D/cam-1-wrong.key" -out "$D/cam-1-wrong.pem" -days 2 -subj /CN=cam-1
    : > db/index.txt
    echo 1000 > db/serial
    printf '[ca]\ndefault_ca=t\n[t]\ndatabase=db/index.txt\nserial=db/serial\nnew_certs_dir=db\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n' > ca.cnf
    openssl req "${NEWKEY[@]}" -keyout "$D/cam-1-expired.key" -out old.csr -subj /CN=cam-1
    openssl ca -batch -config ca.cnf -selfsign -keyfile "$D/cam-1-expired.key" -in old.csr \
        -out "$D/cam-1-expired.pem" -startdate 20200101000000Z -enddate 20200201000000Z -notext
    # The device CA of the CA-signed devices, and a CA the hub never hears of.
    openssl req -x509 "${NEWKEY[@]}" -keyout devca.key -out devca.pem -days 2 -subj /CN=device-ca \
        -addext basicConstraints=critical,CA:true
    openssl req -x509 "${NEWKEY[@]}" -keyout rogue.key -out rogue.pem -days 2 -subj /CN=rogue-ca \
        -addext basicConstraints=critical,CA:true
    openssl req "${NEWKEY[@]}" -keyout "$D/fleet-1.key" -out f1.csr -subj /CN=fleet-1
    openssl x509 -req -in f1.csr -CA devca.pem -CAkey devca.key -CAcreateserial -days 2 -out "$D/fleet-1.pem"
    openssl req "${NEWKEY[@]}" -keyout "$D/fleet-1-rogue.key" -out f1r.csr -subj /CN=fleet-1
    openssl x509 -req -in f1r.csr -CA rogue.pem -CAkey rogue.key -CAcreateserial -days 2 -out "$D/fleet-1-rogue.pem"
) > "$T/pki.log" 2>&1 || { fail pki "$(tail -5 "$T/pki.log")"; exit 1; }
openssl x509 -in "$D/cam-1-expired.pem" -noout -checkend 0 > /dev/null && fail pki "not expired"
thumb() { openssl x509 -in "$1" -noout -fingerprint -sha1 | sed 's/.*=//'; }
thumb256() { openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//'; }

# ---- the registry and the hub's CA -----------------------------------------------------
w registry add cam-1 --thumbprint "$(thumb "$D/cam-1.pem")" \
    --secondary-thumbprint "$(thumb256 "$D/cam-1-expired.pem")" > /dev/null || fail registry-cam
w registry add fleet-1 --auth certificateAuthority > /dev/null || fail registry-fleet
w registry add sas-1 --primary-key "c2FzLTEtcHJpbWFyeS1rZXktZm9yLXRoZS10ZXN0cw==" > /dev/null || fail registry-sas
w hub cert add device-ca "$C/devca.pem" > /dev/null || fail hub-cert-add
check keystore-has-ca "$(grep -c '^cert	device-ca' "$KEYS")" 1

# ---- broker with the plugin, the front end, Warden ---------------------------------------
start_hub_broker "$KEYS"
start_front "$C"
start_warden --mqtt.username=warden-service --mqtt.password_file="$KEYS"

# ---- the devices log in through the front end ---------------------------------------------
out=$("$WARDEN" sim --scenario hub-auth --db "$T/warden.db" --mqtt.port="$BROKER_PORT" \
      --hub-host localhost --cert-dir "$D" --cafile "$C/lab-ca.pem" --tls-port "$TLS_PORT" 2>"$T/sim.err")
echo "sim: $out"
check x509-decisions-as-iot-hub "$(echo "$out" | grep -o '"unexpected":[0-9]*')" '"unexpected":0'
# cam-1.pem and fleet-1.pem log in; sas-1's valid token; the rest are refused.
check x509-connected "$(echo "$out" | grep -o '"connected":[0-9]*')" '"connected":3'

q_op() { sql "SELECT COALESCE(SUM(count),0) FROM hub_operations WHERE $1"; }
# The plugin writes its records every 200 ms: wait until the four kinds checked below are in.
wait_sql "SELECT count(DISTINCT coalesce(reason, result)) FROM hub_operations WHERE
          reason IN ('X509ThumbprintMismatch', 'X509CertificateExpired', 'X509CertificateUntrusted') OR
          (result = 'Succeeded' AND device_id = 'fleet-1' AND category = 'Connections')" 4
check record-thumbprint-mismatch "$(q_op "reason='X509ThumbprintMismatch' AND device_id='cam-1'")" 1
check record-cert-expired "$(q_op "reason='X509CertificateExpired' AND device_id='cam-1'")" 1
check record-ca-untrusted "$(q_op "reason='X509CertificateUntrusted' AND device_id='fleet-1'")" 1
check record-ca-device-admitted "$(q_op "result='Succeeded' AND device_id='fleet-1' AND category='Connections'")" 1
# The front end passes the device's own address on, not its own loopback hop.
check record-source-ip "$(sql "SELECT DISTINCT source_ip FROM hub_operations WHERE reason='X509CertificateExpired'")" 127.0.0.1

# A SAS device over TLS: its password reaches the plugin through the attestation.
tok=$(w registry token sas-1 --host localhost)
mosquitto_pub -p "$TLS_PORT" --cafile "$C/lab-ca.pem" -i sas-1 -u 'localhost/sas-1/?api-version=2021-04-12' \
    -P "$tok" -q 1 -t devices/sas-1/messages/events/ -m over-tls || fail sas-over-tls
# A forged attestation straight to the broker is refused.
mosquitto_pub -p "$BROKER_PORT" -i cam-1 -u 'localhost/cam-1/?api-version=1' \
    -P "WardenFront1;ip=10.0.0.1;port=1;ts=$(date +%s);pw=;cert=;sig=$(printf '%064d' 0)" -t x -m x 2>/dev/null &&
    fail forged-attestation-admitted
wait_sql "SELECT COUNT(*) FROM hub_operations WHERE reason='AttestationInvalid'" 1 || fail record-attestation-invalid

# Deleting the device CA from the hub: fleet-1 can no longer log in.
loads=$(hub_keys_loads)
w hub cert delete device-ca > /dev/null || fail hub-cert-delete
wait_hub_keys "$loads" || fail ca-delete-reloaded "the plugin did not reload its key store"
mosquitto_pub -p "$TLS_PORT" --cafile "$C/lab-ca.pem" --cert "$D/fleet-1.pem" --key "$D/fleet-1.key" \
    -i fleet-1 -u 'localhost/fleet-1/?api-version=1' -t devices/fleet-1/messages/events/ -m x 2>/dev/null &&
    fail ca-deleted-still-admitted
pass ca-delete-takes-effect

# ---- alerts ---------------------------------------------------------------------------------
"$WARDEN" evaluate --once --db "$T/warden.db" > /dev/null 2>&1
alerts=$(sql "SELECT alert_type || ' ' || alert_key FROM alerts WHERE alert_type IN
  ('IoT_Cert_Print_Mismatch','IoT_Cert_Expired','IoT_CertificateSuccessfullyAddedToHub',
   'IoT_CertificateSuccessfullyDeletedFromHub') ORDER BY 1")
check x509-alerts "$(echo $alerts)" "IoT_Cert_Expired cam-1 IoT_Cert_Print_Mismatch cam-1 IoT_CertificateSuccessfullyAddedToHub lab-hub/device-ca IoT_CertificateSuccessfullyDeletedFromHub lab-hub/device-ca"
grep -q 'ERROR: AddressSanitizer\|runtime error' "$T/broker/mosquitto.log" "$T/front.log" &&
    fail sanitizer-report "$(grep -m3 'AddressSanitizer\|runtime error' "$T/broker/mosquitto.log" "$T/front.log")"
exit $NFAIL
