#!/usr/bin/env bash
# Attacks on the lab hub's records (issue 14, points 1, 2, 5 and 8), replayed
# against the real broker with the sanitized plugin and Warden as its service:
#   (a) a flood of refused CONNECTs (random client ids, a bad token, from three
#       parallel clients) beside 5 forged-token logins of a registered device:
#       the 5 refusals are still recorded, the alert raised, nothing dead-lettered;
#   (b) the same while a registered device publishes now and then on
#       x/ + 200 x "é" (a topic its record cuts to 256 bytes);
#   (c) a retained publish (or will) from a device is refused and recorded;
#   (d) a genuine token with se=99999999999 is refused, with its reason;
#   (e) 3,000 distinct records in a second go out split in batches of at most 64 KiB.
# The plugin flushes every second here (its default), as on a real lab hub.
. "$(dirname "$0")/lib.sh"

KEYS="$T/warden-hub.keys"
HOST=lab.example
FLOOD_CLIENTS=3
FLOOD_EACH=${FLOOD_EACH:-2000} # refused CONNECTs a client sends (bounded by FLOOD_SECONDS too)
FLOOD_SECONDS=40
w() { "$WARDEN" "$@" --db "$T/warden.db" 2>>"$T/cli.err"; }

K1=cnRvcy0xLXByaW1hcnkta2V5LWZvci10ZXN0cy0wMQ==
K2=cnRvcy0yLXByaW1hcnkta2V5LWZvci10ZXN0cy0wMg==
K3=cnRvcy0zLXByaW1hcnkta2V5LWZvci10ZXN0cy0wMw==
cat > "$T/registry.json" <<EOF
[{"deviceId": "rtos-1", "authentication": {"type": "sas", "symmetricKey": {"primaryKey": "$K1"}}},
 {"deviceId": "rtos-2", "authentication": {"type": "sas", "symmetricKey": {"primaryKey": "$K2"}}},
 {"deviceId": "rtos-3", "authentication": {"type": "sas", "symmetricKey": {"primaryKey": "$K3"}}}]
EOF
w registry import "$T/registry.json" > /dev/null || fail registry-import

HUB_FLUSH_MS=1000 start_hub_broker "$KEYS"
start_warden --mqtt.username=warden-service --mqtt.password_file="$KEYS" --evaluator.interval=PT1S

# flood.py PORT CLIENTS EACH SECONDS HOST FORGED_DEVICE [LONG_TOPIC_DEVICE DEVICE=KEY]:
# CLIENTS processes each send EACH CONNECTs with a random 120-byte client id and a
# bad token; the first also logs in 5 times as FORGED_DEVICE with a forged token,
# spread over its flood, and (with LONG_TOPIC_DEVICE) keeps that device logged in
# with a valid token, publishing on x/ + 200 x "é" every 100 CONNECTs. Prints what
# it sent. With FORGED_DEVICE "--topics", LONG_TOPIC_DEVICE publishes once on each
# of EACH distinct topics x/N/ + 200 x "é" instead.
cat > "$T/flood.py" <<'EOF'
import base64, hashlib, hmac, os, random, socket, string, struct, sys, time, urllib.parse
port, clients, each, seconds, host = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                                      float(sys.argv[4]), sys.argv[5])
forged_dev, keys = sys.argv[6], dict(a.split("=", 1) for a in sys.argv[7:] if "=" in a)
long_dev = next((a for a in sys.argv[7:] if "=" not in a), None)
LONG_TOPIC = ("x/" + "\u00e9" * 200).encode()

def token(device, key_b64, se):
    sr = urllib.parse.quote(f"{host}/devices/{device}", safe="")
    mac = hmac.new(base64.b64decode(key_b64), f"{sr}\n{se}".encode(), hashlib.sha256).digest()
    sig = urllib.parse.quote(base64.b64encode(mac).decode(), safe="")
    return f"SharedAccessSignature sr={sr}&sig={sig}&se={se}".encode()

def s(b): return struct.pack(">H", len(b)) + b
def packet(kind, body):
    n, rl = len(body), b""
    while True:
        d, n = n % 128, n // 128
        rl += bytes([d | (0x80 if n else 0)])
        if not n: return bytes([kind]) + rl + body
def connect(cid, user, pw):
    vh = s(b"MQTT") + bytes([4, 0xC2]) + struct.pack(">H", 60)
    return packet(0x10, vh + s(cid) + s(user) + s(pw))
def login(cid, pw):
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    c.sendall(connect(cid, f"{host}/{cid.decode()}/?api-version=2021-04-12".encode(), pw))
    ack = c.recv(4)
    return c, len(ack) == 4 and ack[3] == 0

def flood(first):
    rnd = random.Random(os.getpid())
    bad = token("nobody", base64.b64encode(b"not-the-key").decode(), int(time.time()) + 3600)
    refused = forged = published = 0
    pub = None
    if first and long_dev:
        pub, ok = login(long_dev.encode(), token(long_dev, keys[long_dev], int(time.time()) + 3600))
        assert ok, "the long-topic device could not log in"
    end = time.time() + seconds
    for i in range(each):
        if time.time() > end: break
        if first and forged < 5 and i >= forged * each // 5 + each // 10:
            c, ok = login(forged_dev.encode(), token(forged_dev, base64.b64encode(b"forged").decode(),
                                                     int(time.time()) + 3600))
            c.close()
            forged += 0 if ok else 1
        if pub is not None and i % 100 == 50:
            pub.sendall(packet(0x30, s(LONG_TOPIC) + b"m"))
            published += 1
        cid = "".join(rnd.choice(string.ascii_letters + string.digits) for _ in range(120)).encode()
        c, ok = login(cid, bad)
        c.close()
        refused += 0 if ok else 1
    if pub is not None:
        pub.sendall(b"\xe0\x00")
        pub.close()
    return refused, forged, published

def topics(device, n):
    """Logs DEVICE in and publishes on n distinct topics outside its own: n distinct records."""
    pub, ok = login(device.encode(), token(device, keys[device], int(time.time()) + 3600))
    assert ok, "the device could not log in"
    for i in range(n):
        pub.sendall(packet(0x30, s(("x/%d/" % i + "\u00e9" * 200).encode()) + b"m"))
    pub.sendall(b"\xe0\x00")
    pub.close()
    print("published %d" % n)
    sys.exit(0)

if forged_dev == "--topics":
    topics(long_dev, each)
t0 = time.time()
kids = []
for k in range(clients):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.write(w, ("%d %d %d" % flood(k == 0)).encode())
        os._exit(0)
    os.close(w)
    kids.append((pid, r))
tot = [0, 0, 0]
for pid, r in kids:
    out = os.read(r, 100).decode().split()
    os.waitpid(pid, 0)
    for j in range(3): tot[j] += int(out[j]) if len(out) == 3 else 0
dt = time.time() - t0
print("refused %d forged %d published %d seconds %.1f rate %d" % (tot[0], tot[1], tot[2], dt, tot[0] / dt))
EOF

q() { sql "SELECT COALESCE(SUM(count),0) FROM hub_operations WHERE $1"; }
field() { echo "$1" | grep -o "$2 [0-9]*" | awk '{print $2}'; }

# What one flood left in the database: records, the flood's share, dead letters.
figures() { # figures LABEL
    echo "$1: hub_operations rows $(sql "SELECT count(*) FROM hub_operations"), flood refusals" \
        "recorded $(q "reason='DeviceNotFound'") in $(sql "SELECT count(*) FROM hub_operations WHERE reason='DeviceNotFound'")" \
        "rows, dead letters $(sql "SELECT count(*) FROM dead_letters")"
}

# forged_checks NAME DEVICE DEAD0: the 5 forged logins of DEVICE during the flood are
# recorded and alerted, and no dead letter was added to the DEAD0 there were before.
forged_checks() {
    local dev="device_id='$2'"
    wait_sql "SELECT COALESCE(SUM(count),0) FROM hub_operations WHERE reason='SasTokenInvalidSignature' AND $dev" 5 10
    check "$1-5-forged-logins-recorded" "$(q "reason='SasTokenInvalidSignature' AND $dev")" 5
    wait_sql "SELECT count(*) FROM alerts WHERE alert_type='IoT_Invalid_SAS_Token' AND $dev" 1 20
    check "$1-invalid-sas-alert" "$(sql "SELECT count(*) FROM alerts WHERE alert_type='IoT_Invalid_SAS_Token' AND $dev")" 1
    check "$1-no-dead-letter" "$(( $(sql "SELECT count(*) FROM dead_letters") - $3 ))" 0
}

# ---- (a) a flood of refused CONNECTs beside 5 forged logins of rtos-1 ----------------
out=$(python3 "$T/flood.py" "$BROKER_PORT" "$FLOOD_CLIENTS" "$FLOOD_EACH" "$FLOOD_SECONDS" "$HOST" rtos-1)
echo "flood (a): $out"
sent=$(field "$out" refused)
check flood-a-forged-logins-refused "$(field "$out" forged)" 5
[ "$sent" -ge 1000 ] && pass flood-a-at-least-1000-refusals || fail flood-a-at-least-1000-refusals "$out"
wait_sql "SELECT COALESCE(SUM(count),0) FROM hub_operations WHERE reason='DeviceNotFound'" "$sent" 20 ||
    fail flood-a-every-refusal-counted "$(q "reason='DeviceNotFound'") of $sent"
figures "after (a)"
forged_checks flood-a rtos-1 0
rows=$(sql "SELECT count(*) FROM hub_operations WHERE reason='DeviceNotFound'")
[ "$rows" -le 100 ] && pass flood-a-costs-few-records || fail flood-a-costs-few-records "$rows rows for $sent refusals"
check flood-a-records-name-no-device "$(sql "SELECT count(*) FROM hub_operations WHERE reason='DeviceNotFound' AND device_id IS NOT NULL")" 0
check flood-a-registers-no-device "$(sql "SELECT count(*) FROM devices")" 3
# The sample: at most 3 client ids a record, each at most 64 bytes.
check flood-a-client-id-sample-bounded "$(sql "SELECT count(*) FROM hub_operations WHERE reason='DeviceNotFound' AND (
    json_extract(details, '\$.clientId') IS NULL OR length(CAST(json_extract(details, '\$.clientId') AS BLOB)) > 64
    OR (SELECT count(*) FROM json_each(details)) > 3)")" 0

# ---- (b) the same, with rtos-2 publishing on a topic its record must cut ------------
dead0=$(sql "SELECT count(*) FROM dead_letters")
base=$(q "reason='DeviceNotFound'")
out=$(python3 "$T/flood.py" "$BROKER_PORT" "$FLOOD_CLIENTS" "$FLOOD_EACH" "$FLOOD_SECONDS" "$HOST" rtos-3 \
      rtos-2 "rtos-2=$K2")
echo "flood (b): $out"
sent=$(field "$out" refused)
published=$(field "$out" published)
check flood-b-forged-logins-refused "$(field "$out" forged)" 5
wait_sql "SELECT COALESCE(SUM(count),0) FROM hub_operations WHERE reason='DeviceNotFound'" "$((base + sent))" 20 ||
    fail flood-b-every-refusal-counted "$(($(q "reason='DeviceNotFound'") - base)) of $sent"
wait_sql "SELECT COALESCE(SUM(count),0) FROM hub_operations WHERE result='Unauthorized' AND device_id='rtos-2'" "$published" 10 ||
    fail flood-b-long-topic-publishes-recorded "$(q "result='Unauthorized' AND device_id='rtos-2'") of $published"
figures "after (b)"
forged_checks flood-b rtos-3 "$dead0"
# The topic is cut on a character boundary: "x/" and 126 whole "é", 254 bytes.
check flood-b-topic-cut-on-utf8-boundary "$(sql "SELECT DISTINCT length(CAST(json_extract(details, '\$.topic') AS BLOB)) || ' ' ||
    (json_extract(details, '\$.topic') = 'x/' || replace(printf('%126s', ''), ' ', 'é'))
    FROM hub_operations WHERE result='Unauthorized' AND device_id='rtos-2'")" "254 1"

# ---- (e) 3,000 distinct records in a second: split into batches Warden takes ----------
# Each topic is a record of its own (about 500 bytes): 1.5 MB of records, more than
# a batch may hold (2,048) and than a message may be (64 KiB here, 256 KiB at Warden).
mosquitto_sub -p "$BROKER_PORT" -u warden-service -P "$(awk -F'\t' '$1=="service"{print $2}' "$KEYS")" \
    -i hubrec-batches -t "hub/lab-hub/operations" -F '%l' -W 60 > "$T/batch-sizes" 2>/dev/null &
SUB=$!
PIDS+=("$SUB")
wait_log "as hubrec-batches" "$T/broker/mosquitto.log" || fail hubrec-batches-subscriber-connects
dead0=$(sql "SELECT count(*) FROM dead_letters")
out=$(python3 "$T/flood.py" "$BROKER_PORT" 1 3000 0 "$HOST" --topics rtos-2 "rtos-2=$K2")
echo "distinct topics (e): $out"
wait_sql "SELECT COALESCE(SUM(count),0) FROM hub_operations WHERE result='Unauthorized' AND device_id='rtos-2'
          AND json_extract(details, '\$.topic') LIKE 'x/%/%'" 3000 30 ||
    fail distinct-records-all-stored "$(q "result='Unauthorized' AND json_extract(details, '\$.topic') LIKE 'x/%/%'") of 3000"
check distinct-records-no-dead-letter "$(( $(sql "SELECT count(*) FROM dead_letters") - dead0 ))" 0
stop_pid "$SUB"
echo "batches published: $(wc -l < "$T/batch-sizes"), largest $(sort -n "$T/batch-sizes" | tail -1) bytes," \
    "$(awk '{n += $1} END {print n}' "$T/batch-sizes") bytes in all"
check batches-within-max-message-bytes "$(awk '$1 > 65536' "$T/batch-sizes" | wc -l)" 0
# 3,000 records of some 460 bytes went out in batches of at most 64 KiB: split, not cut
# (the bound leaves room for a batch or two sent before the subscription took).
check batches-carry-the-records "$(awk '{n += $1} END {print (n > 3000 * 400)}' "$T/batch-sizes")" 1

# ---- (c) a retained publish from a device --------------------------------------------
tok2=$(w registry token rtos-2 --host "$HOST")
SECRET=$(awk -F'\t' '$1=="service"{print $2}' "$KEYS")
mosquitto_pub -p "$BROKER_PORT" -i rtos-2 -u "$HOST/rtos-2/?api-version=1" -P "$tok2" -q 1 -r \
    -t devices/rtos-2/messages/events/ -m kept-forever 2>/dev/null
wait_sql "SELECT COALESCE(SUM(count),0) FROM hub_operations WHERE reason='RetainNotSupported' AND device_id='rtos-2'" 1 10 ||
    fail retained-publish-recorded "$(sql "SELECT category, operation, result, reason FROM hub_operations WHERE device_id='rtos-2'")"
check retained-publish-record "$(sql "SELECT DISTINCT category || ' ' || operation || ' ' || result || ' ' || json_extract(details, '\$.topic')
    FROM hub_operations WHERE reason='RetainNotSupported'")" "Authorization publish Failed devices/rtos-2/messages/events/"
# A retained will: CONNECT with one, then drop the connection without DISCONNECT.
python3 - "$BROKER_PORT" "$HOST" "$tok2" <<'EOF'
import socket, struct, sys
port, host, tok = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
def s(b): return struct.pack(">H", len(b)) + b
# flags: user name, password, will retain, will QoS 1, will, clean session
body = s(b"MQTT") + bytes([4, 0xC0 | 0x20 | 0x08 | 0x04 | 0x02]) + struct.pack(">H", 60)
body += s(b"rtos-2") + s(b"devices/rtos-2/messages/events/") + s(b"last-words")
body += s(f"{host}/rtos-2/?api-version=1".encode()) + s(tok)
c = socket.create_connection(("127.0.0.1", port), timeout=10)
c.sendall(bytes([0x10, len(body) % 128 | 0x80, len(body) // 128]) + body)
assert c.recv(4)[3] == 0, "rtos-2 could not log in"
c.close()
EOF
wait_sql "SELECT COALESCE(SUM(count),0) FROM hub_operations WHERE reason='RetainNotSupported' AND device_id='rtos-2'" 2 10 &&
    pass retained-will-recorded || fail retained-will-recorded "$(q "reason='RetainNotSupported'")"
# A retained message would be delivered at once to a new subscriber: none is.
check retained-publish-not-kept "$(mosquitto_sub -p "$BROKER_PORT" -u warden-service -P "$SECRET" \
    -t 'devices/rtos-2/messages/events/#' --retained-only -W 2 2>/dev/null)" ""
mosquitto_pub -p "$BROKER_PORT" -i rtos-2 -u "$HOST/rtos-2/?api-version=1" -P "$tok2" -q 1 \
    -t devices/rtos-2/messages/events/ -m not-retained || fail plain-publish-after-retained

# ---- (d) a genuine token that never expires ---------------------------------------------
python3 - "$HOST" "$K1" > "$T/tokens" <<'EOF'
import base64, hashlib, hmac, sys, time, urllib.parse
host, key = sys.argv[1], sys.argv[2]
for se in (99999999999, int(time.time()) + 300 * 86400):
    sr = urllib.parse.quote(f"{host}/devices/rtos-1", safe="")
    mac = hmac.new(base64.b64decode(key), f"{sr}\n{se}".encode(), hashlib.sha256).digest()
    print(f"SharedAccessSignature sr={sr}&sig={urllib.parse.quote(base64.b64encode(mac).decode(), safe='')}&se={se}")
EOF
far=$(sed -n 1p "$T/tokens")
if mosquitto_pub -p "$BROKER_PORT" -i rtos-1 -u "$HOST/rtos-1/?api-version=1" -P "$far" -q 1 \
    -t devices/rtos-1/messages/events/ -m x 2>/dev/null; then
    fail token-se-99999999999-refused "admitted"
else
    pass token-se-99999999999-refused
fi
wait_sql "SELECT COALESCE(SUM(count),0) FROM hub_operations WHERE reason='SasTokenLifetimeExceeded' AND device_id='rtos-1'" 1 10 &&
    pass token-lifetime-refusal-recorded ||
    fail token-lifetime-refusal-recorded "$(sql "SELECT reason, count FROM hub_operations WHERE device_id='rtos-1'")"
mosquitto_pub -p "$BROKER_PORT" -i rtos-1 -u "$HOST/rtos-1/?api-version=1" -P "$(sed -n 2p "$T/tokens")" -q 1 \
    -t devices/rtos-1/messages/events/ -m x 2>/dev/null && pass token-300-days-admitted ||
    fail token-300-days-admitted "$(tail -3 "$T/broker/mosquitto.log")"

kill -0 "$BROKER_PID" 2>/dev/null && pass broker-survives-floods || fail broker-died "$(tail -5 "$T/broker/mosquitto.log")"
grep -q 'ERROR: AddressSanitizer\|runtime error' "$T/broker/mosquitto.log" &&
    fail sanitizer-in-plugin "$(grep -m3 'AddressSanitizer\|runtime error' "$T/broker/mosquitto.log")"
exit $NFAIL
