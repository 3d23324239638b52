#!/usr/bin/env bash
# The lab hub: a real Mosquitto with the warden_hub.so plugin (sanitized) and
# Warden logged in as its service. Devices log in as on IoT Hub: the records
# the hub writes (and so the alerts) must come from what happened at the
# broker. The same steps against a broker without the plugin must not produce
# them, which is checked at the end.
. "$(dirname "$0")/lib.sh"

KEYS="$T/warden-hub.keys"
HOST=lab.example
WARDEN_HUB="$WARDEN"
w() { "$WARDEN_HUB" "$@" --db "$T/warden.db" 2>>"$T/cli.err"; }

# ---- the registry: two SAS devices, rtos-2's key pasted without its '=' padding ----
cat > "$T/registry.json" <<'EOF'
[{"deviceId": "rtos-1", "authentication": {"type": "sas", "symmetricKey": {
   "primaryKey": "cnRvcy0xLXByaW1hcnkta2V5LWZvci10ZXN0cy0wMQ==",
   "secondaryKey": "cnRvcy0xLXNlY29uZGFyeS1rZXktZm9yLXRlc3RzLTE="}}},
 {"deviceId": "rtos-2", "authentication": {"type": "sas", "symmetricKey": {
   "primaryKey": "cnRvcy0yLXByaW1hcnkta2V5LWZvci10ZXN0cy0wMg"}}}]
EOF
w registry import "$T/registry.json" > /dev/null || fail registry-import
check keystore-mode "$(stat -c %a "$KEYS")" 640
check keystore-devices "$(grep -c '^device' "$KEYS")" 2
grep -q "cnRvcy0xLXByaW1hcnkta2V5" "$T/warden.db" && fail key-in-database "a secret reached the database"

# ---- the broker with the plugin, Warden as its service ------------------------------
start_hub_broker "$KEYS"
# The demo security group: at most 1 unauthorized operation a device in 5 minutes.
w groups import conf/demo-group.json > /dev/null || fail group-import
start_warden --mqtt.username=warden-service --mqtt.password_file="$KEYS" --evaluator.interval=PT1S
pass warden-logs-in-as-service

# ---- valid, expired and forged SAS tokens; outside the device's topics -------------
out=$("$WARDEN_HUB" sim --scenario hub-auth --hub-host "$HOST" --db "$T/warden.db" \
      --mqtt.port="$BROKER_PORT" 2>"$T/sim.err")
echo "sim: $out"
check sim-decisions-as-iot-hub "$(echo "$out" | grep -o '"unexpected":[0-9]*')" '"unexpected":0'
check sim-connected "$(echo "$out" | grep -o '"connected":[0-9]*')" '"connected":2'
check sim-twin-acks "$(echo "$out" | grep -o '"twin_acks":[0-9]*')" '"twin_acks":2'

q_op() { sql "SELECT COALESCE(SUM(count),0) FROM hub_operations WHERE $1"; }
# The plugin writes its records every 200 ms: wait until every kind checked below is in.
wait_sql "SELECT (SELECT count(*) FROM hub_operations WHERE reason = 'SasTokenExpired') >= 2 AND
                 (SELECT count(*) FROM hub_operations WHERE reason = 'SasTokenInvalidSignature') >= 2 AND
                 (SELECT coalesce(sum(count), 0) FROM hub_operations WHERE result = 'Unauthorized') >= 4 AND
                 (SELECT count(*) FROM hub_operations WHERE category = 'TwinOperations') >= 1" 1
check record-expired "$(q_op "reason='SasTokenExpired' AND device_id IN ('rtos-1','rtos-2')")" 2
check record-forged "$(q_op "reason='SasTokenInvalidSignature'")" 2
check record-unauthorized "$(q_op "result='Unauthorized' AND device_id='rtos-1'")" 2
check record-twin-reported "$(q_op "category='TwinOperations' AND device_id='rtos-2'")" 1
check record-source-ip "$(sql "SELECT DISTINCT source_ip FROM hub_operations WHERE reason='SasTokenExpired'")" 127.0.0.1
# The device's own security message went through the hub.
wait_sql "SELECT COUNT(*) FROM heartbeats WHERE device_id IN ('rtos-1','rtos-2')" 2 ||
    fail heartbeats-through-hub "$(sql "SELECT COUNT(*) FROM heartbeats")"

# ---- a device that is not registered, a wrong user name, an anonymous client ---------
tok1=$(w registry token rtos-1 --host "$HOST")
mosquitto_pub -p "$BROKER_PORT" -u warden-service -P "$(awk -F"\t" '$1=="service"{print $2}' "$KEYS")" -q 1 -t devices/ghost-unregistered/messages/devicebound/ -m x
mosquitto_pub -p "$BROKER_PORT" -i ghost -u "$HOST/ghost/?api-version=1" -P "$tok1" -t x -m x 2>/dev/null &&
    fail unknown-device-admitted
mosquitto_pub -p "$BROKER_PORT" -i rtos-1 -u "$HOST/rtos-2/?api-version=1" -P "$tok1" -t x -m x 2>/dev/null &&
    fail username-mismatch-admitted
mosquitto_pub -p "$BROKER_PORT" -t devices/rtos-1/messages/events/ -m x 2>/dev/null &&
    fail anonymous-admitted
mosquitto_pub -p "$BROKER_PORT" -u warden-service -P wrong -t x -m x 2>/dev/null &&
    fail wrong-service-secret-admitted
# A client id not in the registry is no device: counted per address, the id kept as a sample.
wait_sql "SELECT COUNT(*) FROM hub_operations WHERE reason='DeviceNotFound' AND device_id IS NULL
          AND json_extract(details, '\$.clientId') = 'ghost'" 1 ||
    fail record-device-not-found "$(sql "SELECT device_id, details FROM hub_operations WHERE reason='DeviceNotFound'")"
wait_sql "SELECT COUNT(*) FROM hub_operations WHERE reason='UsernameDeviceMismatch'" 1 ||
    fail record-username-mismatch
pass refusals-recorded

# ---- a method call reaches only its device; C2D to an absent device is rejected -------
tok2=$(w registry token rtos-2 --host "$HOST")
SECRET=$(awk -F'\t' '$1=="service"{print $2}' "$KEYS")
start_sub "$T/rtos1.out" -p "$BROKER_PORT" -i rtos-1 -u "$HOST/rtos-1/?api-version=1" -P "$tok1" \
    -t '$iothub/methods/POST/#' -v -C 1 -W 120
S1=$SUB_PID
start_sub "$T/rtos2.out" -p "$BROKER_PORT" -i rtos-2 -u "$HOST/rtos-2/?api-version=1" -P "$tok2" \
    -t '$iothub/methods/POST/#' -v -W 120
S2=$SUB_PID
mosquitto_pub -p "$BROKER_PORT" -u warden-service -P "$SECRET" -q 1 \
    -t 'devices/rtos-1/methods/POST/reboot/?$rid=42' -m '{"delay":5}'
mosquitto_pub -p "$BROKER_PORT" -u warden-service -P "$SECRET" -q 1 \
    -t 'devices/rtos-9/messages/devicebound/' -m 'hello'
wait "$S1"
# A call of rtos-2's own, after rtos-1's: the broker keeps one client's messages in order,
# so once rtos-2 has this one, anything of rtos-1's that leaked to it would be there too.
mosquitto_pub -p "$BROKER_PORT" -u warden-service -P "$SECRET" -q 1 \
    -t 'devices/rtos-2/methods/POST/marker/?$rid=43' -m '{}'
wait_log 'marker' "$T/rtos2.out" || fail method-to-rtos-2 "its own call did not reach it"
# rtos-2 is registered but gone (clean session): the hub cannot deliver to it.
gone() { grep -cE 'Client rtos-2 (disconnected|closed its connection)' "$T/broker/mosquitto.log"; }
n_gone=$(gone)
stop_pid "$S2"
wait_until '[ "$(gone)" -gt "$n_gone" ]' || fail rtos-2-gone "the broker still has rtos-2"
mosquitto_pub -p "$BROKER_PORT" -u warden-service -P "$SECRET" -q 1 \
    -t 'devices/rtos-2/messages/devicebound/' -m 'hello'
check method-delivered "$(sub_messages "$T/rtos1.out")" '$iothub/methods/POST/reboot/?$rid=42 {"delay":5}'
check method-not-leaked "$(sub_messages "$T/rtos2.out")" '$iothub/methods/POST/marker/?$rid=43 {}'
wait_sql "SELECT SUM(count) FROM hub_operations WHERE category='C2DCommands' AND operation='reject' AND device_id='rtos-2'" 1 ||
    fail record-c2d-reject
check c2d-unregistered-not-rejected "$(q_op "category='C2DCommands' AND device_id IN ('rtos-9','ghost-unregistered')")" 0

# ---- the hub's IP filter -------------------------------------------------------------
cat > "$T/hub-deny.json" <<'EOF'
{"name": "lab-hub", "properties": {"networkRuleSets": {"defaultAction": "Deny",
  "ipRules": [{"filterName": "lab-lan", "action": "Allow", "ipMask": "10.20.0.0/16"}]}}}
EOF
loads=$(hub_keys_loads)
w hub import "$T/hub-deny.json" > /dev/null || fail hub-import
wait_hub_keys "$loads" || fail ip-filter-reloaded "the plugin did not reload its key store"
mosquitto_pub -p "$BROKER_PORT" -i rtos-1 -u "$HOST/rtos-1/?api-version=1" -P "$tok1" -t x -m x 2>/dev/null &&
    fail ip-filter-admitted
wait_sql "SELECT COUNT(*) FROM hub_operations WHERE reason='IpFilterRejected' AND device_id='rtos-1'" 1 ||
    fail record-ip-filter
sed -i 's#10.20.0.0/16#127.0.0.0/8#' "$T/hub-deny.json"
loads=$(hub_keys_loads)
w hub import "$T/hub-deny.json" > /dev/null
wait_hub_keys "$loads" || fail ip-filter-reloaded "the plugin did not reload its key store"
mosquitto_pub -p "$BROKER_PORT" -i rtos-1 -u "$HOST/rtos-1/?api-version=1" -P "$tok1" -q 1 \
    -t devices/rtos-1/messages/events/ -m ok || fail ip-filter-allow-rule
pass ip-filter

# ---- hostile CONNECT packets: the broker (and its plugin, sanitized) stays up ---------
python3 - "$BROKER_PORT" > "$T/hostile.out" 2>&1 <<'EOF'
import socket, struct, sys
port = int(sys.argv[1])
def s(b): return struct.pack(">H", len(b)) + b
def connect(cid, user=None, pw=None, level=4):
    flags = 0x02 | (0x80 if user is not None else 0) | (0x40 if pw is not None else 0)
    vh = s(b"MQTT") + bytes([level, flags]) + struct.pack(">H", 30)
    pl = s(cid) + (s(user) if user is not None else b"") + (s(pw) if pw is not None else b"")
    body = vh + pl
    n, rl = len(body), b""
    while True:
        d = n % 128; n //= 128
        rl += bytes([d | (0x80 if n else 0)])
        if not n: break
    return b"\x10" + rl + body
cases = [
    (b"rtos-1", b"lab.example/rtos-1/?api-version=1", b"A" * 65000),
    (b"rtos-1", b"/" * 3000, b"SharedAccessSignature "),
    (b"rtos-1", b"lab.example/rtos-1/", b"SharedAccessSignature sr=&sig=&se="),
    (b"rtos-1", b"lab.example/rtos-1/", b"SharedAccessSignature sr=%zz&sig=%&se=-1"),
    (b"rtos-1", b"lab.example/rtos-1/", b"SharedAccessSignature sr=a&sig=" + b"=" * 4000 + b"&se=99999999999999999999"),
    (b"rtos-1", b"lab.example/rtos-1/", b"WardenFront1;ip=1.2.3.4;sig=" + b"0" * 64),
    (b"rtos-1", b"lab.example/rtos-1/", b"WardenFront1;" + b";" * 5000),
    (b"+", b"lab.example/+/", b"x"),
    (b"#", b"lab.example/#/", b"x"),
    (b"\xff\xfe", b"lab.example/\xff\xfe/", b"x"),
    (b"a\x00b", b"lab.example/a\x00b/", b"x"),
    (b"", b"lab.example//", b"x"),
    (b"rtos-1", None, None),
    (b"rtos-1", b"", b""),
    (b"x" * 60000, b"y", b"z"),
]
for cid, user, pw in cases:
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.sendall(connect(cid, user, pw))
    try: r = c.recv(4)
    except Exception as e: r = repr(e).encode()
    print(r.hex() if r else "closed")
    c.close()
print("sent", len(cases))
EOF
kill -0 "$BROKER_PID" 2>/dev/null && pass broker-survives-hostile-connects || fail broker-died "$(tail -5 "$T/broker/mosquitto.log")"
check hostile-all-refused "$(grep -c '^20020005$\|^20020002$\|^closed$' "$T/hostile.out")" 15
mosquitto_pub -p "$BROKER_PORT" -i rtos-2 -u "$HOST/rtos-2/?api-version=1" -P "$tok2" -q 1 \
    -t devices/rtos-2/messages/events/ -m still-here || fail valid-device-after-hostile
grep -q 'ERROR: AddressSanitizer\|runtime error' "$T/broker/mosquitto.log" &&
    fail sanitizer-in-plugin "$(grep -m3 'AddressSanitizer\|runtime error' "$T/broker/mosquitto.log")"

# ---- the alerts, from the hub's records -----------------------------------------------
wait_sql "SELECT count(*) FROM alerts WHERE alert_type IN ('IoT_Expired_SAS_Token','IoT_Invalid_SAS_Token')" 4 30
wait_sql "SELECT count(*) FROM alerts WHERE alert_type = 'IoT_CA_UnauthorizedOperationsNotInAllowedRange' AND device_id = 'rtos-1'" 1 30 ||
    fail alert-unauthorized "$(sql "SELECT alert_type, alert_key FROM alerts")"
pass alert-unauthorized-operations-from-hub
alerts=$(sql "SELECT alert_type || ' ' || alert_key FROM alerts WHERE alert_type IN
  ('IoT_Expired_SAS_Token','IoT_Invalid_SAS_Token') ORDER BY 1")
check alerts-from-hub "$(echo $alerts)" "IoT_Expired_SAS_Token rtos-1 IoT_Expired_SAS_Token rtos-2 IoT_Invalid_SAS_Token rtos-1 IoT_Invalid_SAS_Token rtos-2"
check unauthorized-counted "$(sql "SELECT SUM(unauthorized_operations) FROM counts c JOIN devices d ON d.id = c.dev WHERE d.device_id='rtos-1'")" 2

# ---- without the plugin, the same devices produce none of it ---------------------------
stop_pid "$WARDEN_PID"
stop_pid "$BROKER_PID"
unset BROKER_PORT
start_broker
out=$("$WARDEN_HUB" sim --scenario hub-auth --hub-host "$HOST" --db "$T/warden.db" \
      --mqtt.port="$BROKER_PORT" 2>/dev/null)
echo "without the plugin: $out"
case "$out" in *'"unexpected":0'*) fail plugin-not-needed "$out" ;; *) pass without-plugin-tokens-not-judged ;; esac

exit $NFAIL
