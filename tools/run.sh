#!/bin/bash
# `make run` and `make demo`: the lab broker on 127.0.0.1:1883 (or the one
# already listening there), and `warden run` in the foreground. With --demo,
# simulated devices too. Everything lives in ./lab/ (database, broker state,
# the hub's key store, logs); Ctrl-C stops what this script started.
#
# The broker is the lab hub: it loads build/warden_hub.so, so devices log in as
# they would to IoT Hub (HUB=0 starts a broker that takes anyone instead).
set -u
cd "$(dirname "$0")/.."
PORT=${MQTT_PORT:-1883}
LAB=${LAB_DIR:-lab}
mkdir -p "$LAB"
LAB=$(cd "$LAB" && pwd)
PIDS=()
stop() {
    for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2> /dev/null; done
}
trap stop EXIT
trap 'exit 0' INT TERM

# Warden and the simulator log in to the lab hub as its service; the key store
# holds the service secret (and is made here if no import has made it yet).
build/warden registry init --db "$LAB/warden.db" >> "$LAB/warden.log" 2>&1
LOGIN=(--mqtt.username=warden-service --mqtt.password_file="$LAB/warden-hub.keys")

if (exec 3<> "/dev/tcp/127.0.0.1/$PORT") 2> /dev/null; then
    echo "run: using the broker already listening on 127.0.0.1:$PORT"
else
    if [ "${HUB:-1}" != 0 ]; then
        export HUB_PLUGIN="$PWD/build/warden_hub.so" HUB_KEYS="$LAB/warden-hub.keys"
    fi
    PIDS+=("$(sh tools/broker.sh "$PORT" "$LAB/broker")")
    for _ in $(seq 1 100); do
        (exec 3<> "/dev/tcp/127.0.0.1/$PORT") 2> /dev/null && break
        sleep 0.05
    done
    echo "run: lab broker on 127.0.0.1:$PORT (state in $LAB/broker/)"
fi

# The demo's certificates: a lab CA and the front end's server certificate,
# and a camera (sim-cam) with its own, an expired and an unregistered one.
TLS_PORT=${TLS_PORT:-8883}
lab_pki() {
    local P="$LAB/pki" D="$LAB/pki/devices" k=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    if (exec 3<> "/dev/tcp/127.0.0.1/$TLS_PORT") 2> /dev/null; then
        echo "run: port $TLS_PORT is taken: no TLS front end in this demo"
        return 1
    fi
    [ -f "$P/server.pem" ] && return 0
    mkdir -p "$D" "$P/db"
    (
        cd "$P" || exit 1
        openssl req -x509 "${k[@]}" -keyout lab-ca.key -out lab-ca.pem -days 3650 -subj /CN=warden-lab-ca
        openssl req "${k[@]}" -keyout server.key -out server.csr -subj /CN=localhost
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > server.ext
        openssl x509 -req -in server.csr -CA lab-ca.pem -CAkey lab-ca.key -CAcreateserial -days 3650 \
            -extfile server.ext -out server.pem
        openssl req -x509 "${k[@]}" -keyout devices/sim-cam.key -out devices/sim-cam.pem -days 3650 -subj /CN=sim-cam
        openssl req -x509 "${k[@]}" -keyout devices/sim-cam-wrong.key -out devices/sim-cam-wrong.pem -days 3650 -subj /CN=sim-cam
        : > db/index.txt
        echo 1000 > db/serial
        printf '[ca]\ndefault_ca=t\n[t]\ndatabase=db/index.txt\nserial=db/serial\nnew_certs_dir=db\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n' > ca.cnf
        openssl req "${k[@]}" -keyout devices/sim-cam-expired.key -out old.csr -subj /CN=sim-cam
        openssl ca -batch -config ca.cnf -selfsign -keyfile devices/sim-cam-expired.key -in old.csr \
            -out devices/sim-cam-expired.pem -startdate 20200101000000Z -enddate 20200201000000Z -notext
    ) >> "$LAB/pki.log" 2>&1 || { echo "run: could not make the demo certificates (see $LAB/pki.log)"; return 1; }
    fp() { openssl x509 -in "$1" -noout -fingerprint -"$2" | sed 's/.*=//'; }
    build/warden registry add sim-cam --thumbprint "$(fp "$D/sim-cam.pem" sha1)" \
        --secondary-thumbprint "$(fp "$D/sim-cam-expired.pem" sha256)" --db "$LAB/warden.db" >> "$LAB/warden.log" 2>&1
}

EXTRA=()
if [ "${1:-}" = "--demo" ]; then
    # The demo's configuration, as a user would bring it from Azure: a
    # security group with every rule on, the hub's IP filter and diagnostic
    # settings, a device registry (two devices share a key), a threat list.
    for step in "groups import conf/demo-group.json" "hub import conf/demo-hub.json" \
        "registry import conf/demo-registry.json" "intel load conf/demo-intel.netset"; do
        # shellcheck disable=SC2086
        build/warden $step --db "$LAB/warden.db" >> "$LAB/warden.log" 2>&1 ||
            echo "run: warden $step failed (see $LAB/warden.log)"
    done
    # Short intervals, so that every alert shows within a couple of minutes.
    EXTRA=(--evaluator.interval=PT10S --evaluator.silent_after=PT2M)
fi
build/warden run --db "$LAB/warden.db" --mqtt.port="$PORT" --web.listen="${WEB_LISTEN:-127.0.0.1:8080}" \
    "${LOGIN[@]}" "${EXTRA[@]}" >> "$LAB/warden.log" 2>&1 &
WARDEN_PID=$!
PIDS+=($WARDEN_PID)
if [ "${1:-}" = "--demo" ]; then
    sleep 1
    build/warden sim --mqtt.port="$PORT" "${LOGIN[@]}" --devices 20 --scenario demo >> "$LAB/sim.log" 2>&1 &
    PIDS+=($!)
    # Every incident once, right away, so each alert can be seen within a
    # couple of minutes; the demo scenario repeats them one a minute.
    build/warden sim --mqtt.port="$PORT" "${LOGIN[@]}" --scenario incidents >> "$LAB/sim.log" 2>&1 &
    PIDS+=($!)
    # The registry's devices log in to the lab hub themselves, with valid,
    # expired and forged tokens, and a camera with its certificate, an
    # expired one and one the registry does not know, through Warden's TLS
    # front end: the authentication alerts come from the hub.
    CERTS=()
    if lab_pki && [ "${HUB:-1}" != 0 ]; then
        build/warden hub tls --db "$LAB/warden.db" --mqtt.port="$PORT" \
            --hub.tls.listen="127.0.0.1:$TLS_PORT" --hub.tls.cert_file="$LAB/pki/server.pem" \
            --hub.tls.key_file="$LAB/pki/server.key" >> "$LAB/hub-tls.log" 2>&1 &
        PIDS+=($!)
        CERTS=(--cert-dir "$LAB/pki/devices" --cafile "$LAB/pki/lab-ca.pem" --tls-port "$TLS_PORT")
        echo "run: TLS front end of the lab hub on 127.0.0.1:$TLS_PORT (CA: $LAB/pki/lab-ca.pem)"
    fi
    (while :; do
        build/warden sim --mqtt.port="$PORT" --db "$LAB/warden.db" --scenario hub-auth "${CERTS[@]}"
        sleep 60
    done) >> "$LAB/sim.log" 2>&1 &
    PIDS+=($!)
    echo "run: 20 simulated devices publishing (log in $LAB/sim.log)"
fi
WEB=${WEB_LISTEN:-127.0.0.1:8080}
cat << MSG

Dashboard: http://$WEB/   (changes need the admin token in $LAB/warden.token)

Warden is ingesting into $LAB/warden.db (log: $LAB/warden.log).
Look at the data with sqlite3, for example:

  sqlite3 -header -column $LAB/warden.db \\
    "SELECT device_id, protocol, remote_ip, remote_port, bytes_in, bytes_out FROM v_flows ORDER BY flow_id DESC LIMIT 20"
  sqlite3 -header -column $LAB/warden.db "SELECT * FROM v_device_activity"
  sqlite3 -header -column $LAB/warden.db "SELECT * FROM v_dead_letters"
  sqlite3 -header -column $LAB/warden.db \
    "SELECT alert_type, alert_key, severity, status, count, start_time FROM v_alerts ORDER BY alert_id DESC"
  sqlite3 -header -column $LAB/warden.db "SELECT * FROM v_recommendations_active"

Ready-made queries are in sql/examples/. Press Ctrl-C to stop.
MSG
wait "$WARDEN_PID"
