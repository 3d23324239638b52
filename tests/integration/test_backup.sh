#!/bin/bash
# `warden db backup` on a running lab: during a stream of security messages
# through a real broker into `warden run`, a backup is taken; then Warden is
# stopped and the backup restored as the README says (stop, remove -wal and
# -shm, put the file in place), and a new Warden runs on it.
#
# What proves the backup is a consistent copy of what was acknowledged:
#   - it is a prefix of the live database: every raw row with an id up to the
#     backup's largest equals the live row, and the live database went on
#     past it (the backup was taken mid-stream);
#   - it is one commit's state: the counters written in each commit
#     (warden_events_total, warden_flows_total) match the rows it holds;
#   - PRAGMA integrity_check says ok, and `warden run` ingests into it.
. "$(dirname "$0")/lib.sh"
MESSAGES=${BACKUP_MESSAGES:-30000}
RATE=${BACKUP_RATE:-2000}
B_DB="$T/backup.db"

events() { sqlite3 -batch -noheader "$1" "SELECT (SELECT count(*) FROM event_ids_0) + (SELECT count(*) FROM event_ids_1)"; }
counter() { sqlite3 -batch -noheader "$1" "SELECT coalesce(sum(value), 0) FROM ingest_counters WHERE name = '$2'"; }
# The raw rows with ids up to $2, in id order, as one digest.
rows_upto() { # rows_upto DB MAX_ID TABLE [COLUMNS]
    local rows
    rows=$(sqlite3 -batch -noheader "$1" "SELECT ${4:-*} FROM $3 WHERE id <= $2 ORDER BY id") &&
        [ -n "$rows" ] || { echo "no rows"; return; }
    md5sum <<< "$rows" | cut -d' ' -f1
}
max_id() { sqlite3 -batch -noheader "$1" "SELECT coalesce(max(id), 0) FROM $2"; }

start_broker
start_warden
"$WARDEN_PLAIN" sim --mqtt.port="$BROKER_PORT" --devices 50 --rate "$RATE" --format mixed \
    --flows 2 --count "$MESSAGES" > "$T/sim.json" 2> "$T/sim.log" &
SIM_PID=$!
PIDS+=("$SIM_PID")
wait_sql "SELECT count(*) >= 3000 FROM flow_pack" 1 60 || fail backup-stream-started "$(tail -3 "$T/warden.log")"

# The backup, mid-stream, one page a step with 10 ms between steps: the
# ingester commits many times while it runs, and it must neither wait for the
# backup nor make it start again (a restart would take more steps than pages:
# the last of one page a step is the one that says it is done).
live0=$(max_id "$T/warden.db" flow_pack)
out=$(WARDEN_TEST_BACKUP_STEP=1:10 "$WARDEN" db backup "$B_DB" --db "$T/warden.db" 2> "$T/backup.err")
rc=$?
live1=$(max_id "$T/warden.db" flow_pack)
echo "backup: $out; live flow packs $live0 before it, $live1 after" >&2
check backup-mid-stream-exits-0 "$rc" 0
[ -f "$B_DB" ] || { fail backup-made "$(cat "$T/backup.err")"; exit 1; }
size=$(stat -c %s "$B_DB" 2> /dev/null)
[[ "$out" == "$B_DB: $size bytes ("*"), a copy of $T/warden.db, in "*" s ("*")" ]] &&
    pass backup-says-its-size-and-time || fail backup-says-its-size-and-time "$out"
pages=$(grep -o '([0-9]* pages' <<< "$out" | grep -o '[0-9]*')
steps=$(grep -o 'in [0-9]* steps' <<< "$out" | grep -o '[0-9]*')
[ "${pages:-0}" -gt 50 ] && [ "$steps" = "$pages" ] &&
    pass backup-steps-through-commits-without-restarting ||
    fail backup-steps-through-commits-without-restarting "$pages pages in $steps steps"
[ "$live1" -gt "$live0" ] && pass backup-does-not-hold-up-ingest ||
    fail backup-does-not-hold-up-ingest "flow packs $live0 before, $live1 after"
check backup-file-is-mode-0640 "$(stat -c %a "$B_DB")" 640
check backup-leaves-no-temporary-file "$(ls "$B_DB".* 2> /dev/null | wc -l)" 0

b_packs=$(max_id "$B_DB" flow_pack)
b_events=$(events "$B_DB")
[ "$b_packs" -gt 0 ] || { fail backup-holds-flows "$b_packs"; exit 1; }
echo "backup holds flow packs up to id $b_packs, $b_events events" >&2
check backup-integrity-check-ok "$(sqlite3 "$B_DB" "PRAGMA integrity_check")" ok
check backup-is-one-commit-events-match-their-counter "$(counter "$B_DB" warden_events_total)" "$b_events"
check backup-is-one-commit-flows-match-their-counter "$(counter "$B_DB" warden_flows_total)" \
    "$(sqlite3 "$B_DB" "SELECT count(*) FROM flows")"

# The stream goes on to its end; everything published is stored, then Warden stops cleanly.
wait "$SIM_PID"
published=$(grep -o '"events": *[0-9]*' "$T/sim.json" | grep -o '[0-9]*$')
wait_sql "SELECT (SELECT count(*) FROM event_ids_0) + (SELECT count(*) FROM event_ids_1)" "$published" 120 ||
    fail backup-stream-stored "$(events "$T/warden.db") of $published"
stop_pid "$WARDEN_PID"
live_packs=$(max_id "$T/warden.db" flow_pack)
echo "live: flow packs up to id $live_packs, $(events "$T/warden.db") events of $published published" >&2
[ "$b_packs" -gt 0 ] && [ "$live_packs" -gt "$b_packs" ] && [ "$b_events" -lt "$published" ] &&
    pass backup-was-taken-mid-stream || fail backup-was-taken-mid-stream "backup $b_packs, live $live_packs"

# Every row the backup has is the live row, and none up to its point is missing
# (the tables the simulator fills; a table without rows fails: "no rows").
for t in flow_pack heartbeats system_info; do
    m=$(max_id "$B_DB" "$t")
    b=$(rows_upto "$B_DB" "$m" "$t")
    [ "$b" != "no rows" ] && check "backup-is-a-prefix-of-live-$t" "$b" "$(rows_upto "$T/warden.db" "$m" "$t")" ||
        fail "backup-is-a-prefix-of-live-$t" "the backup has no rows in $t"
done
# Devices: the same identities with the same ids (last_seen moves on in the live one).
m=$(max_id "$B_DB" devices)
check backup-is-a-prefix-of-live-devices "$(rows_upto "$B_DB" "$m" devices id,device_id)" \
    "$(rows_upto "$T/warden.db" "$m" devices id,device_id)"

# A second backup to the same name is refused and changes nothing; --force replaces it.
sum0=$(md5sum < "$B_DB")
"$WARDEN" db backup "$B_DB" --db "$T/warden.db" > /dev/null 2> "$T/again.err"
check backup-refuses-an-existing-file "$?" 2
grep -q -- "--force" "$T/again.err" && pass backup-refusal-says-force || fail backup-refusal-says-force "$(cat "$T/again.err")"
check backup-refused-file-unchanged "$(md5sum < "$B_DB")" "$sum0"
(umask 000 && "$WARDEN" db backup "$T/forced.db" --db "$T/warden.db" > /dev/null)
check backup-mode-0640-whatever-the-umask "$(stat -c %a "$T/forced.db")" 640
echo stale > "$T/forced.db"
"$WARDEN" db backup "$T/forced.db" --force --db "$T/warden.db" > /dev/null
check backup-force-replaces "$?/$(sqlite3 "$T/forced.db" "PRAGMA integrity_check")" 0/ok
sum1=$(md5sum < "$T/warden.db")
"$WARDEN" db backup "$T/warden.db" --force --db "$T/warden.db" > /dev/null 2> "$T/self.err"
check backup-refuses-to-replace-the-database-itself "$?/$(grep -c 'is the database itself' "$T/self.err")" 2/1
check backup-over-itself-changes-nothing "$(md5sum < "$T/warden.db")" "$sum1"
# Stopped half-way (Ctrl-C): exit 2, and neither the file nor its temporary is left.
WARDEN_TEST_BACKUP_STEP=1:50 "$WARDEN" db backup "$T/stopped.db" --db "$T/warden.db" \
    > /dev/null 2> "$T/stopped.err" &
bpid=$!
wait_until 'ls "$T"/stopped.db.* > /dev/null 2>&1' 30 || fail backup-stopped-temporary-made
kill -INT "$bpid"
wait "$bpid"
check backup-stopped-by-sigint-exits-2 "$?" 2
check backup-stopped-leaves-nothing "$(ls "$T"/stopped.db* 2> /dev/null | wc -l)" 0
"$WARDEN" db backup "$T/none.db" --db "$T/missing.db" > /dev/null 2>&1
check backup-of-a-missing-database-fails "$?" 1
check backup-of-a-missing-database-creates-nothing "$(ls "$T"/none.db* "$T"/missing.db* 2> /dev/null | wc -l)" 0

# Restore as the README says: Warden stopped (above), stale -wal/-shm removed, the file in place.
mv "$T/warden.db" "$T/warden.db.before-restore"
rm -f "$T/warden.db-wal" "$T/warden.db-shm"
cp "$B_DB" "$T/warden.db"
start_warden
"$WARDEN_PLAIN" sim --mqtt.port="$BROKER_PORT" --devices 5 --prefix restored- --rate 500 --format flatbuffers \
    --flows 2 --count 500 > "$T/sim2.json" 2> "$T/sim2.log"
after=$(grep -o '"events": *[0-9]*' "$T/sim2.json" | grep -o '[0-9]*$')
wait_sql "SELECT (SELECT count(*) FROM event_ids_0) + (SELECT count(*) FROM event_ids_1)" $((b_events + after)) 60 &&
    pass restored-database-ingests || fail restored-database-ingests "$(events "$T/warden.db") of $((b_events + after))"
stop_pid "$WARDEN_PID"
check restored-keeps-the-backup-rows "$(rows_upto "$T/warden.db" "$b_packs" flow_pack id,dev,recv_ms,flows)" \
    "$(rows_upto "$B_DB" "$b_packs" flow_pack id,dev,recv_ms,flows)"
[ "$(max_id "$T/warden.db" flow_pack)" -gt "$b_packs" ] && pass restored-new-rows-after-the-backup ||
    fail restored-new-rows-after-the-backup
check restored-integrity-check-ok "$(sqlite3 "$T/warden.db" "PRAGMA integrity_check")" ok
"$WARDEN" db check --db "$T/warden.db" > /dev/null 2>&1
check restored-warden-db-check "$?" 0
exit $NFAIL
