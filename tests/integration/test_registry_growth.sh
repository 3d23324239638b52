#!/usr/bin/env bash
# Issue 14, point 4: nobody can grow the registry without bound. Replays the
# attacks against the real broker and Warden:
#   - on an anonymous broker, 20,000 QoS 0 publishes with random device ids
#     register at most ingest.max_auto_devices (50 here); the rest is
#     dead-lettered with the reason and counted in /metrics;
#   - malformed and look-alike ids (dev1 + U+200B, a Cyrillic "е", 129
#     characters, a space) register nothing and are dead-lettered, and an
#     import of one is refused naming the element;
#   - on the lab hub, refused CONNECTs of unknown ids (warden, DEV1, random
#     ones, look-alikes) register nothing, and a registered device logs in and
#     is counted as before.
. "$(dirname "$0")/lib.sh"

CAP=50
FLOOD=${FLOOD:-20000}
w() { "$WARDEN" "$@" --db "$T/warden.db"; }
metric() { curl -s --max-time 10 "$WEB/metrics" | grep -E "^$1( |\{|$)" | awk '{s += $NF} END {print s + 0}'; }
# mqtt_flood PORT N MARKER: one connection, N QoS 0 publishes on random device ids, then one
# QoS 1 publish from the device MARKER, acknowledged: the broker has taken everything before it.
mqtt_flood() {
    PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=tests/integration python3 - "$@" <<'EOF'
import os, struct, sys, time
from rawmqtt import connack, packet, s
port, n, marker = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
c, rc = connack(port, b"flooder")
assert rc == 0, rc
t0, buf = time.time(), []
for i in range(n):
    dev = ("r%s-%d" % (os.urandom(4).hex(), i)).encode()
    buf.append(packet(0x30, s(b"devices/" + dev + b"/messages/events/") + b"x"))
    if len(buf) == 500:
        c.sendall(b"".join(buf)); buf = []
c.sendall(b"".join(buf))
c.sendall(packet(0x32, s(b"devices/" + marker.encode() + b"/messages/events/") + struct.pack(">H", 1) + b"end"))
ack = b""
while len(ack) < 4:
    ack += c.recv(4 - len(ack))
assert ack[:2] == b"\x40\x02", ack
print("%d publishes in %.2f s" % (n, time.time() - t0))
c.close()
EOF
}

# ---- an anonymous broker: the registry knows one device, "marker" -------------------------
echo '[{"deviceId": "marker"}]' > "$T/registry.json"
w registry import "$T/registry.json" > /dev/null || fail registry-import
start_broker
WEB_PORT=$(free_port)
WEB=http://127.0.0.1:$WEB_PORT
start_warden --ingest.max_auto_devices=$CAP --web.listen=127.0.0.1:$WEB_PORT
wait_port "$WEB_PORT" 20 || fail web-start

out=$(mqtt_flood "$BROKER_PORT" "$FLOOD" marker) || fail flood-sent "$out"
echo "flood: $out"
start=$(date +%s.%N)
wait_sql "SELECT sum(d2c_messages) FROM counts c JOIN devices d ON d.id = c.dev WHERE d.device_id = 'marker'" 1 120 ||
    fail flood-ingested "$(sql "SELECT count(*) FROM dead_letters")"
echo "flood ingested $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s after the last publish"
check flood-registers-at-most-max-auto-devices "$(sql "SELECT count(*) FROM devices WHERE auto_registered = 1")" $CAP
check flood-registry-is-cap-plus-imported "$(sql "SELECT count(*) FROM devices")" $((CAP + 1))
dead=$(sql "SELECT count(*) FROM dead_letters WHERE reason = 'device: not registered: ingest.max_auto_devices ($CAP) devices are registered automatically already'")
check flood-excess-dead-lettered-with-reason "$dead" $((FLOOD - CAP))
check flood-excess-keeps-its-device-id "$(sql "SELECT count(*) FROM dead_letters WHERE device_id LIKE 'r%-%'")" $((FLOOD - CAP))
check flood-metrics-dead-letters "$(metric 'warden_dead_letters_total\{reason="max_auto_devices"\}')" $((FLOOD - CAP))
check flood-metrics-refused "$(metric 'warden_devices_refused_total\{reason="max_auto_devices"\}')" $((FLOOD - CAP))
check flood-metrics-auto-devices "$(metric warden_devices_auto)" $CAP

# ---- malformed and look-alike ids: nothing registered, each dead-lettered ------------------
ids=("dev1"$'\u200b' "d"$'\u0435'"v1" "$(printf 'd%.0s' $(seq 1 129))" "dev 1")
for id in "${ids[@]}"; do pub "devices/$id/messages/events/" -m x; done
pub devices/marker/messages/events/ -m end
wait_sql "SELECT count(*) FROM dead_letters WHERE reason LIKE 'topic: device id %'" 4 20 ||
    fail look-alikes-dead-lettered "$(sql "SELECT reason FROM dead_letters WHERE reason LIKE 'topic:%'")"
check look-alikes-register-nothing "$(sql "SELECT count(*) FROM devices WHERE device_id NOT LIKE 'r%-%' AND device_id <> 'marker'")" 0
check look-alike-reasons "$(sql "SELECT group_concat(reason, '|') FROM (SELECT reason FROM dead_letters WHERE reason LIKE 'topic: device id %' ORDER BY id)")" \
    "topic: device id not ASCII (IoT Hub allows no other letters, look-alikes included)|topic: device id not ASCII (IoT Hub allows no other letters, look-alikes included)|topic: device id longer than 128 characters|topic: device id has a space"
check look-alikes-metrics "$(metric 'warden_dead_letters_total\{reason="device_id"\}')" 4

printf '[{"deviceId": "ok-1"}, {"deviceId": "dev1\\u200b"}]' > "$T/bad-registry.json"
err=$(w registry import "$T/bad-registry.json" 2>&1)
rc=$?
check import-of-look-alike-refused "$rc" 2
case "$err" in
*"element 1: deviceId is not an IoT Hub device id: not ASCII"*) pass import-names-the-element ;;
*) fail import-names-the-element "$err" ;;
esac
check import-refused-whole "$(sql "SELECT count(*) FROM devices WHERE device_id = 'ok-1'")" 0

stop_pid "$WARDEN_PID"
stop_pid "$BROKER_PID"

# ---- the lab hub: refused CONNECTs of unknown ids register nothing -------------------------
rm -f "$T/warden.db" "$T/warden.db-wal" "$T/warden.db-shm"
KEYS="$T/warden-hub.keys"
HOST=lab.example
cat > "$T/registry.json" <<'EOF'
[{"deviceId": "rtos-1", "authentication": {"type": "sas", "symmetricKey": {
   "primaryKey": "cnRvcy0xLXByaW1hcnkta2V5LWZvci10ZXN0cy0wMQ=="}}}]
EOF
w registry import "$T/registry.json" > /dev/null || fail hub-registry-import
unset BROKER_PORT
start_hub_broker "$KEYS"
start_warden --mqtt.username=warden-service --mqtt.password_file="$KEYS"
tok=$(w registry token rtos-1 --host "$HOST")

PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=tests/integration python3 - "$BROKER_PORT" "$HOST" > "$T/refused.out" <<'EOF'
import os, sys
from rawmqtt import connack
port, host = int(sys.argv[1]), sys.argv[2].encode()
ids = [b"warden", b"DEV1", b"dev1", "dev1\u200b".encode(), "d\u0435v1".encode(), b"d" * 129, b"dev 1"]
ids += [("ghost-%s" % os.urandom(4).hex()).encode() for _ in range(200)]
refused = 0
for cid in ids:
    c, rc = connack(port, cid, host + b"/" + cid + b"/?api-version=2021-04-12",
                    b"SharedAccessSignature sr=x&sig=bad&se=99999999999")
    refused += rc is not None and rc != 0
    c.close()
print(refused, len(ids))
EOF
check hub-connects-refused "$(cat "$T/refused.out")" "207 207"
# A registered device logs in after them; its record comes in the same flush or a later one.
mosquitto_pub -p "$BROKER_PORT" -i rtos-1 -u "$HOST/rtos-1/?api-version=2021-04-12" -P "$tok" -q 1 \
    -t devices/rtos-1/messages/events/ -m hello || fail hub-registered-device-publishes
wait_sql "SELECT count(*) FROM hub_operations WHERE device_id = 'rtos-1' AND result = 'Succeeded'" 1 20 ||
    fail hub-login-recorded
wait_sql "SELECT sum(d2c_messages) FROM counts c JOIN devices d ON d.id = c.dev WHERE d.device_id = 'rtos-1'" 1 20 ||
    fail hub-registered-device-counted
pass hub-registered-device-logs-in-and-is-counted
check hub-refusals-recorded "$(sql "SELECT sum(count) FROM hub_operations WHERE result = 'Failed'")" 207
check hub-refusals-register-nothing "$(sql "SELECT group_concat(device_id) FROM devices")" rtos-1
check hub-look-alikes-refused-as-invalid-client-id \
    "$(sql "SELECT sum(count) FROM hub_operations WHERE reason = 'InvalidClientId' AND device_id IS NULL")" 4
grep -q 'ERROR: AddressSanitizer\|runtime error' "$T/broker/mosquitto.log" &&
    fail sanitizer-in-plugin "$(grep -m3 'AddressSanitizer\|runtime error' "$T/broker/mosquitto.log")"

exit $NFAIL
