#!/usr/bin/env bash
# `warden hub tls`, the TLS front end of the lab hub (hub/front.c).
#
# Part 1, against a recording MQTT listener (Python): the CONNECT that reaches
# the broker keeps the client's fields and carries the attestation, whose ip,
# port, time, original password and certificate DER are checked here, and
# whose HMAC is recomputed with the key store's secret (before and after the
# secret changes on disk). A malformed first packet and a silent client are
# closed. Part 2, against the real lab broker: mosquitto_pub/_sub over TLS with
# a valid, an expired and a self-signed client certificate and with none, and
# messages pass both ways. Then SIGTERM stops it cleanly, and a key store
# without a service secret is refused at start-up with exit status 2.
source "$(dirname "$0")/lib.sh"

command -v python3 > /dev/null || { fail hub-tls-python "python3 is needed"; exit 1; }
SECRET1=$(printf 'a%.0s' $(seq 64))
SECRET2=$(printf 'b%.0s' $(seq 64))
KEYS=$T/warden-hub.keys
write_keys() { printf 'warden-hub-keys\t1\nhub\tlab-hub\nservice\t%s\n' "$1" > "$KEYS.tmp" && mv "$KEYS.tmp" "$KEYS"; }

# ---- certificates: a test CA, the server, a valid, an expired and a self-signed client ----
C=$T/pki
mkdir -p "$C/db"
(
    cd "$C"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=warden-test-ca
    openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.pem
    openssl req -newkey rsa:2048 -nodes -keyout dev1.key -out dev1.csr -subj /CN=dev-1
    openssl x509 -req -in dev1.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out dev1.pem
    # `openssl x509 -req` cannot backdate; `openssl ca` takes -startdate and -enddate.
    : > db/index.txt
    echo 1000 > db/serial
    cat > ca.cnf <<EOF
[ca]
default_ca = test
[test]
database = db/index.txt
serial = db/serial
new_certs_dir = db
default_md = sha256
policy = any
[any]
commonName = supplied
EOF
    openssl req -newkey rsa:2048 -nodes -keyout old.key -out old.csr -subj /CN=dev-old
    openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in old.csr -out old.pem \
        -startdate 20200101000000Z -enddate 20200201000000Z -notext
    openssl req -x509 -newkey rsa:2048 -nodes -keyout self.key -out self.pem -days 2 -subj /CN=dev-self
    for n in dev1 old self; do openssl x509 -in $n.pem -outform DER -out $n.der; done
) > "$T/pki.log" 2>&1 || { fail hub-tls-pki "$(tail -5 "$T/pki.log")"; exit 1; }
if openssl x509 -in "$C/old.pem" -noout -checkend 0 > /dev/null; then
    fail hub-tls-pki "the expired certificate is not expired"
fi

# ---- a recording broker: stores each CONNECT and what follows it, answers CONNACK ----
cat > "$T/fakebroker.py" <<'EOF'
import socket, sys, threading, time
port, out = int(sys.argv[1]), sys.argv[2]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(16)
n = 0
def read_packet(s):
    h = s.recv(1)
    if not h: return None
    rl, mult = 0, 1
    while True:
        b = s.recv(1)[0]; rl += (b & 127) * mult; mult *= 128
        if b < 128: break
    body = b""
    while len(body) < rl:
        chunk = s.recv(rl - len(body))
        if not chunk: return None
        body += chunk
    return h[0], body
lock = threading.Lock()
def serve(s):
    global n
    with s:
        p = read_packet(s)
        if p is None: return  # wait_port's probe, or a connection that sent nothing
        with lock:
            n += 1; i = n  # files are numbered by CONNECT received
        if b"stall" in p[1]:  # a broker that never reads again: back-pressure
            s.sendall(b"\x20\x02\x00\x00"); time.sleep(60); return
        open("%s/connect.%d" % (out, i), "wb").write(p[1])
        level = p[1][2 + p[1][1]]
        s.sendall(b"\x20\x03\x00\x00\x00" if level == 5 else b"\x20\x02\x00\x00")
        with open("%s/after.%d" % (out, i), "wb") as f:
            while True:
                q = read_packet(s)
                if q is None: break
                f.write(bytes([q[0]])); f.flush()
                if q[0] == 0xe0: break
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF

# ---- the verifier: parses a recorded CONNECT body independently and checks the attestation ----
cat > "$T/verify.py" <<'EOF'
import base64, hashlib, hmac, sys, time
body = open(sys.argv[1], "rb").read()
secret, want_pw, want_der, want_user, want_level = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6])
pos = 0
def u16():
    global pos; v = body[pos] << 8 | body[pos + 1]; pos += 2; return v
def field():
    global pos; n = u16(); v = body[pos:pos + n]; pos += n; return v
def varint():
    global pos; v, m = 0, 1
    while True:
        b = body[pos]; pos += 1; v += (b & 127) * m; m *= 128
        if b < 128: return v
name = field(); level = body[pos]; flags = body[pos + 1]; pos += 2; u16()
assert level == want_level, ("level", level)
if level == 5: n = varint(); pos += n
cid = field()
if flags & 4:
    if level == 5: n = varint(); pos += n
    field(); field()
assert flags & 0xc0 == 0xc0, ("flags", hex(flags))
user = field().decode(); att = field().decode()
assert pos == len(body), "bytes left over"
assert user == want_user, ("user", user)
signed, sig = att.split(";sig=")
want_sig = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()
assert sig == want_sig, ("sig", sig, want_sig)
kv = dict(p.split("=", 1) for p in signed.split(";")[1:])
assert signed.startswith("WardenFront1;ip=127.0.0.1;port="), signed[:40]
assert 1024 <= int(kv["port"]) <= 65535
assert abs(int(kv["ts"]) - time.time()) < 60, ("ts", kv["ts"])
assert kv["pw"] == base64.b64encode(want_pw.encode()).decode(), ("pw", kv["pw"])
der = open(want_der, "rb").read() if want_der != "-" else b""
assert base64.b64decode(kv["cert"]) == der, "cert DER differs"
print("verified", cid.decode())
EOF

# ---- a raw TLS client: sends bytes after the handshake, reports when the server closes ----
# The time it reports counts from before its connect(), so from no later than the front
# end's accept, where the front end's deadline starts: a slow handshake on a busy machine
# cannot make the close look early. With a 5th argument, it creates that file once the
# handshake is done (the front end has accepted and counted the connection).
cat > "$T/rawtls.py" <<'EOF'
import socket, ssl, sys, time
port, data, wait = int(sys.argv[1]), bytes.fromhex(sys.argv[2]), float(sys.argv[3])
ctx = ssl.create_default_context(cafile=sys.argv[4])
t0 = time.time()
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
if len(sys.argv) > 5: open(sys.argv[5], "w").close()
s.sendall(data); s.settimeout(wait)
try:
    got = s.recv(100)
    print("closed" if got == b"" else "data", "%.1f" % (time.time() - t0))
except (socket.timeout, TimeoutError):
    print("open", "%.1f" % (time.time() - t0))
except (ConnectionResetError, ssl.SSLError):
    print("closed", "%.1f" % (time.time() - t0))
EOF

start_front() { # start_front BROKER_PORT [ARGS]: sets FRONT_PID and FRONT_PORT
    : > "$T/front.out"
    "$WARDEN" hub tls --db "$T/warden.db" --hub.tls.listen=127.0.0.1:0 \
        --hub.tls.cert_file="$C/server.pem" --hub.tls.key_file="$C/server.key" \
        --mqtt.port="$1" "${@:2}" > "$T/front.out" 2>> "$T/front.log" &
    FRONT_PID=$!
    PIDS+=("$FRONT_PID")
    wait_front "$T/front.out" "$FRONT_PID" || { fail hub-tls-start "$(tail -5 "$T/front.log")"; exit 1; }
}

# A key store without a service secret: refused at start-up, exit 2.
printf 'warden-hub-keys\t1\nhub\tlab-hub\n' > "$KEYS"
"$WARDEN" hub tls --db "$T/warden.db" --hub.tls.listen=127.0.0.1:0 --hub.tls.cert_file="$C/server.pem" \
    --hub.tls.key_file="$C/server.key" > /dev/null 2> "$T/nosecret.log"
check hub-tls-refuses-to-start-without-a-service-secret "$? $(grep -c 'no service secret' "$T/nosecret.log")" "2 1"

write_keys "$SECRET1"
FAKE_PORT=$(free_port)
mkdir -p "$T/fake"
python3 "$T/fakebroker.py" "$FAKE_PORT" "$T/fake" 2> "$T/fake.log" &
PIDS+=($!)
wait_port "$FAKE_PORT" || { fail hub-tls-fake-broker; exit 1; }
start_front "$FAKE_PORT"

# A client that completes the handshake and sends nothing: closed at the 10 s deadline.
python3 "$T/rawtls.py" "$FRONT_PORT" "" 20 "$C/ca.pem" > "$T/idle.out" 2>&1 &
IDLE_PID=$!

TLS=(-h 127.0.0.1 -p "$FRONT_PORT" --cafile "$C/ca.pem")
# TLS 1.2 with a client certificate: what an Azure RTOS device does.
mosquitto_pub "${TLS[@]}" --tls-version tlsv1.2 --cert "$C/dev1.pem" --key "$C/dev1.key" -i dev-1 -u 'lab-hub/dev-1/?api-version=2021-04-12' \
    -P 'SharedAccessSignature sr=x&sig=y&se=1' -t devices/dev-1/messages/events/ -m hello 2> "$T/pub1.log"
check hub-tls-v311-with-cert-and-password-connects "$?" 0
out=$(python3 "$T/verify.py" "$T/fake/connect.1" "$SECRET1" 'SharedAccessSignature sr=x&sig=y&se=1' \
    "$C/dev1.der" 'lab-hub/dev-1/?api-version=2021-04-12' 4 2>&1)
check hub-tls-attestation-carries-ip-password-cert-and-hmac "$out" "verified dev-1"
# What the client sent after the CONNECT reached the broker: PUBLISH (0x30) and DISCONNECT (0xe0).
# The client exits once it has sent them; the front end forwards them after that.
after1() { od -An -tx1 "$T/fake/after.1" 2>/dev/null | tr -d ' \n'; }
wait_until '[ "$(after1 | tail -c 2)" = e0 ]'
check hub-tls-client-bytes-pass-after-connect "$(after1)" "30e0"

mosquitto_pub "${TLS[@]}" -i dev-2 -t t -m x 2> "$T/pub2.log"
out=$(python3 "$T/verify.py" "$T/fake/connect.2" "$SECRET1" '' - '' 4 2>&1)
check hub-tls-no-cert-no-user-gives-empty-user-pw-and-cert "$out" "verified dev-2"

mosquitto_pub "${TLS[@]}" -V mqttv5 --cert "$C/old.pem" --key "$C/old.key" -i dev-old -u u5 -P p5 \
    -D connect session-expiry-interval 60 --will-topic w/t --will-payload bye -t t -m x 2> "$T/pub3.log"
out=$(python3 "$T/verify.py" "$T/fake/connect.3" "$SECRET1" p5 "$C/old.der" u5 5 2>&1)
check hub-tls-v5-with-will-and-expired-cert-is-attested "$out" "verified dev-old"

# The secret changes on disk: the next attestation is signed with the new one.
# The front end sees a changed key store by its mtime: the rewrite is dated two seconds
# on, so it differs even on file systems that keep only seconds.
write_keys "$SECRET2"
touch -d "@$(( $(stat -c %Y "$KEYS") + 2 ))" "$KEYS"
mosquitto_pub "${TLS[@]}" -V mqttv31 --cert "$C/self.pem" --key "$C/self.key" -i dev-self -u u3 -P p3 -t t -m x 2> "$T/pub4.log"
out=$(python3 "$T/verify.py" "$T/fake/connect.4" "$SECRET2" p3 "$C/self.der" u3 3 2>&1)
check hub-tls-key-store-reload-signs-with-the-new-secret "$out" "verified dev-self"

# A first packet that is not a CONNECT (a PUBLISH) is closed, and never reaches the broker.
out=$(python3 "$T/rawtls.py" "$FRONT_PORT" 30050001747879 5 "$C/ca.pem" 2>&1)
check hub-tls-non-connect-first-packet-is-closed "${out%% *} $(ls "$T/fake" | grep -c connect)" "closed 4"
# A CONNECT whose remaining length claims 2 MiB: closed at once, not waited for.
out=$(python3 "$T/rawtls.py" "$FRONT_PORT" 10ffff7f 5 "$C/ca.pem" 2>&1)
check hub-tls-oversized-connect-is-closed "${out%% *}" closed

# Back-pressure: behind a CONNECT, 64 MiB toward a broker that stopped reading. The
# front end stops reading from the client instead of buffering: the client cannot send
# it all, and the front end's memory stays flat.
cat > "$T/flood.py" <<'EOF'
import socket, ssl, sys, time
port = int(sys.argv[1])
ctx = ssl.create_default_context(cafile=sys.argv[2])
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
s.sendall(bytes([0x10, 17, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 60, 0, 5]) + b"stall")
s.settimeout(3); chunk = b"\0" * 65536; sent = 0; t0 = time.time()
try:
    while sent < 64 << 20 and time.time() - t0 < 3:
        s.sendall(chunk); sent += len(chunk)
except (socket.timeout, TimeoutError):
    pass
print(sent >> 20)
EOF
rss() { awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$FRONT_PID/status"; }
rss0=$(rss)
sent=$(python3 "$T/flood.py" "$FRONT_PORT" "$C/ca.pem" 2>&1)
rss1=$(rss)
if [ "${sent:-99}" -lt 48 ] 2>/dev/null && [ $((rss1 - rss0)) -lt 32 ]; then
    pass hub-tls-back-pressure-holds-a-flood-to-a-stalled-broker
else
    fail hub-tls-back-pressure-holds-a-flood-to-a-stalled-broker "sent ${sent} MiB, RSS ${rss0} -> ${rss1} MiB"
fi
echo "back-pressure: client sent ${sent} MiB of 64; front RSS ${rss0} -> ${rss1} MiB" >&2

wait_exit "$IDLE_PID" 60 "its start"
read -r state secs < "$T/idle.out"
if [ "$state" = closed ] && awk -v s="$secs" 'BEGIN { exit !(s >= 9 && s <= 14) }'; then
    pass hub-tls-silent-client-closed-at-the-deadline
else
    fail hub-tls-silent-client-closed-at-the-deadline "$(cat "$T/idle.out")"
fi

# SIGTERM: a clean stop (exit 0, counters logged; the sanitizers would report leaks here).
kill -TERM "$FRONT_PID"
wait_exit "$FRONT_PID" 60 sigterm
rc=$?
stop_pid "$FRONT_PID"
check hub-tls-sigterm-stops-cleanly "$rc $(grep -o 'stopped: [0-9]* accepted, [0-9]* forwarded' "$T/front.log")" \
    "0 stopped: 8 accepted, 5 forwarded"

# ---- part 2: the real lab broker behind the front end ----
start_broker
start_front "$BROKER_PORT"
TLS=(-h 127.0.0.1 -p "$FRONT_PORT" --cafile "$C/ca.pem")
# -d prints the SUBACK (line-buffered by stdbuf), so the publishers start once the
# subscription is in place.
start_sub "$T/sub.out" "${TLS[@]}" --cert "$C/dev1.pem" --key "$C/dev1.key" -i sub-tls -t 'lab/#' -C 4 -W 120 -v
mosquitto_pub "${TLS[@]}" --cert "$C/old.pem" --key "$C/old.key" -i pub-old -q 1 -t lab/expired -m m1 2> "$T/p1.log"
mosquitto_pub "${TLS[@]}" -i pub-nocert -q 1 -t lab/nocert -m m2 2> "$T/p2.log"
mosquitto_pub "${TLS[@]}" --cert "$C/self.pem" --key "$C/self.key" -V mqttv5 -i pub-self -q 1 -t lab/self -m m3 2> "$T/p3.log"
mosquitto_pub -p "$BROKER_PORT" -i pub-plain -q 1 -t lab/plain -m m4 2> "$T/p4.log"
wait "$SUB_PID"
check hub-tls-real-broker-messages-pass-both-ways "$(sub_messages "$T/sub.out" | sort | tr '\n' ' ')" \
    "lab/expired m1 lab/nocert m2 lab/plain m4 lab/self m3 "

# Plain publisher in, TLS subscriber out, and the reverse, with a payload bigger than the pipe cap.
head -c 600000 /dev/urandom | base64 -w0 > "$T/big.txt"
start_sub "$T/big.out" -p "$BROKER_PORT" -i sub-plain -t big/back -C 1 -W 120
mosquitto_pub "${TLS[@]}" --cert "$C/dev1.pem" --key "$C/dev1.key" -i pub-big -q 1 -t big/back -f "$T/big.txt" 2> "$T/pbig.log"
wait "$SUB_PID"
check hub-tls-large-message-passes-intact "$(cmp -s "$T/big.txt" <(sub_messages "$T/big.out" | tr -d '\n') && echo same)" same

kill -TERM "$FRONT_PID"
wait_exit "$FRONT_PID" 60 sigterm
check hub-tls-sigterm-after-traffic "$?" 0
stop_pid "$FRONT_PID"

# The connection cap: with room for one, a second client is closed while the first holds on.
# The first client is in once its handshake is done; it holds on (sends nothing) until the
# front end's 10 s deadline. "open": it was still connected after the second one's try.
start_front "$BROKER_PORT" --hub.tls.max_connections=1
python3 "$T/rawtls.py" "$FRONT_PORT" "" 30 "$C/ca.pem" "$T/hold.ready" > "$T/hold.out" 2>&1 &
HOLD_PID=$!
PIDS+=("$HOLD_PID")
wait_until '[ -e "$T/hold.ready" ] || ! kill -0 "$HOLD_PID" 2>/dev/null' || fail hub-tls-cap-first-client "no handshake"
mosquitto_pub -h 127.0.0.1 -p "$FRONT_PORT" --cafile "$C/ca.pem" -i over-cap -t lab/x -m x 2> /dev/null
over=$?
held=$(kill -0 "$HOLD_PID" 2>/dev/null && [ ! -s "$T/hold.out" ] && echo open || cut -d' ' -f1 "$T/hold.out")
stop_pid "$HOLD_PID"
check hub-tls-connection-cap-refuses-the-one-too-many \
    "$([ "$over" -ne 0 ] && echo refused) $held" "refused open"
stop_pid "$FRONT_PID"
exit "$NFAIL"
