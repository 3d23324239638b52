#!/bin/bash
# The real Azure RTOS agent's messages (tests/vectors/realagent/, made by its
# own device code) through the real broker into Warden, stored field for
# field: every flow (addresses, ports, bytes, protocol, device time), every
# system information and heartbeat, the collection interval of each event and
# the module version of each device. Then the reboot: boot2-0 repeats
# device-0's event ids with other content, and must be stored as new events;
# a redelivery of any message (the same bytes again, and after a SIGKILL
# before or after its commit) must add nothing.
. "$(dirname "$0")/lib.sh"
V=tests/vectors/realagent

# The messages of a first boot, each once.
FIRST="device-0 device-1 device-2 device-3 module-0 raw-0 raw-1 raw-2 raw-3 direct-defaults
direct-extremes direct-v6only direct-mixed direct-max direct-biggest"
publish() { local n; for n in "$@"; do mosquitto_pub -p "$BROKER_PORT" -q 1 -t "$(cat "$V/$n.topic")" -f "$V/$n.bin"; done; }
flows_stored() { sql "SELECT count(*) FROM flows"; }

# compare NAME...: the database holds exactly the rows the messages describe.
compare() {
    python3 - "$T/warden.db" "$V" "$@" << 'PY'
import ipaddress, json, sqlite3, sys
from collections import Counter
db, vdir, names = sys.argv[1], sys.argv[2], sys.argv[3:]
con = sqlite3.connect(db)
def dev_of(topic): return topic.split("/")[1]
def ip(a): return str(ipaddress.ip_address(a))
want = {"flows": Counter(), "system_info": Counter(), "heartbeats": Counter()}
versions = {}
for n in names:
    m = json.load(open(f"{vdir}/{n}.json"))
    d = dev_of(m["topic"])
    versions[d] = m["security_module_version_text"]
    for e in m["events"]:
        t, iv = e["time"] * 1000, e["collection_interval"]
        if e["type"] == "NetworkActivity":
            for f in e["flows"]:
                want["flows"][(d, t, f["protocol"], ip(f["local_address"]), f["local_port"],
                               ip(f["remote_address"]), f["remote_port"], f["bytes_in"],
                               f["bytes_out"], iv)] += 1
        elif e["type"] == "SystemInformation":
            want["system_info"][(d, t, e["os_info"], e["kernel_info"], e["hw_info"], iv)] += 1
        elif e["type"] == "Heartbeat":
            want["heartbeats"][(d, t, iv)] += 1
def norm(r): return (r[0], r[1], r[2], ip(r[3]), r[4], ip(r[5])) + tuple(r[6:])
got = {
    "flows": Counter(norm(r) for r in con.execute(
        "SELECT device_id, device_ms, protocol, local_ip, local_port, remote_ip, remote_port, "
        "bytes_in, bytes_out, collection_interval_s FROM flows")),
    "system_info": Counter(con.execute(
        "SELECT device_id, device_ms, os_info, kernel_info, hw_info, collection_interval_s "
        "FROM system_info").fetchall()),
    "heartbeats": Counter(con.execute(
        "SELECT device_id, device_ms, collection_interval_s FROM heartbeats").fetchall()),
}
bad = []
for k in want:
    if got[k] != want[k]:
        bad.append(f"{k}: missing {list((want[k] - got[k]).items())[:3]} extra {list((got[k] - want[k]).items())[:3]}")
for d, v in versions.items():
    row = con.execute("SELECT module_version FROM devices WHERE device_id = ?", (d,)).fetchone()
    if row is None or row[0] != v:
        bad.append(f"module_version of {d}: {row} != {v}")
print("; ".join(bad) if bad else "same", f"({sum(want['flows'].values())} flows)", file=sys.stderr)
print("same" if not bad else "; ".join(bad)[:600])
PY
}

start_broker
start_warden
publish $FIRST
wait_sql "SELECT count(*) FROM heartbeats" 12 30 || fail realagent-heartbeats-arrive "$(sql "SELECT count(*) FROM heartbeats")"
check realagent-first-boot-stored-field-for-field "$(compare $FIRST)" same
check realagent-no-dead-letter "$(sql "SELECT count(*) FROM dead_letters")" 0

# The same bytes again, as a broker redelivers them: nothing new.
before=$(flows_stored)
publish device-0 raw-2 direct-max
wait_sql "SELECT value FROM ingest_counters WHERE name = 'warden_events_duplicate_total'" 9 20 ||
    fail realagent-redelivery-counted "$(sql "SELECT * FROM ingest_counters WHERE name LIKE '%duplicate%'")"
check realagent-redelivery-adds-nothing "$(flows_stored)" "$before"

# The reboot: device-0's ids with other flows and a later time are new events.
publish boot2-0
wait_sql "SELECT count(*) FROM heartbeats WHERE device_id = 'ra-device'" 4 20 ||
    fail realagent-reboot-heartbeat-stored "$(sql "SELECT count(*) FROM heartbeats WHERE device_id = 'ra-device'")"
check realagent-reboot-stored-field-for-field "$(compare $FIRST boot2-0)" same

# SIGKILL right after each publish (before or after its commit, whichever
# comes first), then the same message again: each event once.
for n in device-0 boot2-0 device-2; do
    publish "$n"
    stop_pid "$WARDEN_PID" KILL
    start_warden
    publish "$n"
done
wait_sql "SELECT value >= 18 FROM ingest_counters WHERE name = 'warden_events_duplicate_total'" 1 30 ||
    fail realagent-redelivery-after-kill-counted "$(sql "SELECT value FROM ingest_counters WHERE name = 'warden_events_duplicate_total'")"
check realagent-sigkill-and-redelivery-store-each-event-once "$(compare $FIRST boot2-0)" same

# The device page shows what the agent says of itself.
WEB_PORT=$(free_port)
stop_pid "$WARDEN_PID"
start_warden --web.listen=127.0.0.1:$WEB_PORT
wait_port "$WEB_PORT" 20
page=$(curl -s --max-time 20 "http://127.0.0.1:$WEB_PORT/devices/ra-device")
missing=""
for t in "3.5.4" "every 10 s" "every 60 s"; do
    printf '%s' "$page" | grep -qF "$t" || missing="$missing [$t]"
done
check realagent-device-page-shows-module-version-and-intervals "${missing:-none}" none
[ "$NFAIL" -eq 0 ]
