#!/bin/bash
# The SQL console (SPEC 6) cannot write or escape its limits: writes, schema
# changes, ATTACH of the database file itself, PRAGMA query_only=0, temporary
# tables, extension loading, functions that read or write files, several
# statements at once, transactions and VACUUM INTO are each refused with a
# clear message; a runaway recursive query is cut by the time limit; a huge
# result is cut at the row cap; the CSV export streams the whole result up
# to its byte cap and time limit; and ingest keeps committing meanwhile.
. "$(dirname "$0")/web_lib.sh"

# The byte cap is small enough to reach well inside the time limit on a
# loaded machine: a sanitized warden beside two CPU hogs streamed 840 KB in
# those 4 s, so a 1 MB cap ran into the time limit first.
EXPORT_CAP=200000
start_broker
start_web --web.sql.export_max_bytes=$EXPORT_CAP --web.sql.export_time_limit=PT4S
pub hub/lab-hub/operations -m '{"category":"Connections","operation":"deviceConnect","result":"Succeeded","deviceId":"sql-a"}'
wait_sql "SELECT count(*) FROM devices WHERE device_id = 'sql-a'" 1 || fail sql-seed
tables_before=$(sql "SELECT count(*) FROM sqlite_master")
pub "$(JSON_TOPIC sql-a)" tests/fixtures/json/connection_create.json
wait_sql "SELECT count(*) > 0 FROM flows" 1 10 || fail sql-seed-flows

# q: the statement; want: the status; word: what the message must say.
console() { # console NAME STATUS WORD SQL
    local got msg
    got=$(req GET /api/v1/sql --get --data-urlencode "q=$4")
    msg=$(json "json_extract(j, '\$.detail')" 2>/dev/null)
    if [ "$got" = "$2" ] && printf '%s' "$msg" | grep -qi -- "$3"; then
        pass "$1"
    else
        fail "$1" "status $got, message '$msg' (expected $2 saying '$3')"
    fi
}

console sql-insert 403 "INSERT, UPDATE and DELETE are not allowed" \
    "INSERT INTO devices (device_id, hub, first_seen_ms, last_seen_ms) VALUES ('x', 'h', 0, 0)"
console sql-update 403 "INSERT, UPDATE and DELETE are not allowed" "UPDATE alerts SET status = 'Resolved'"
console sql-delete 403 "INSERT, UPDATE and DELETE are not allowed" "DELETE FROM devices"
console sql-drop 403 "CREATE, DROP, ALTER" "DROP TABLE alerts"
console sql-create 403 "CREATE, DROP, ALTER" "CREATE TABLE x (a)"
console sql-alter 403 "CREATE, DROP, ALTER" "ALTER TABLE alerts ADD COLUMN x"
console sql-create-index 403 "CREATE, DROP, ALTER" "CREATE INDEX x ON alerts(hub)"
console sql-load-extension 403 "load code or touch files" "SELECT load_extension('/tmp/x')"
console sql-attach-self 403 "ATTACH and DETACH are not allowed" "ATTACH DATABASE '$T/warden.db' AS again"
console sql-attach-memory 403 "ATTACH and DETACH are not allowed" "ATTACH ':memory:' AS m"
console sql-detach 403 "ATTACH and DETACH are not allowed" "DETACH main"
console sql-pragma-query-only-off 403 "query_only is not allowed" "PRAGMA query_only=0"
console sql-pragma-query-only-read 403 "query_only is not allowed" "PRAGMA query_only"
console sql-pragma-set 403 "only pragmas that read" "PRAGMA journal_mode=DELETE"
console sql-pragma-writable-schema 403 "only pragmas that read" "PRAGMA writable_schema=ON"
console sql-pragma-function-set 400 "too many arguments" "SELECT * FROM pragma_query_only(0)"
console sql-pragma-function-journal 400 "unknown database" "SELECT * FROM pragma_journal_mode('delete')"
console sql-temp-table 403 "temporary tables" "CREATE TEMP TABLE t (a)"
console sql-temp-view 403 "temporary tables" "CREATE TEMP VIEW v AS SELECT 1"
console sql-temp-trigger 403 "temporary" "CREATE TEMP TRIGGER t AFTER INSERT ON alerts BEGIN SELECT 1; END"
console sql-readfile 400 "no such function" "SELECT readfile('/etc/passwd')"
console sql-writefile 400 "no such function" "SELECT writefile('$T/written', 'x')"
console sql-fts3-tokenizer 403 "load code or touch files" "SELECT fts3_tokenizer('simple')"
# A view cannot launder a function the console refuses (the console trusts the schema, since
# SQLite's JSON functions are not marked innocuous): SQLite keeps those to direct calls.
sqlite3 "$T/warden.db" "CREATE VIEW launder AS SELECT fts3_tokenizer('simple') AS a"
console sql-view-function-refused 400 "unsafe use of fts3_tokenizer" "SELECT * FROM launder"
sqlite3 "$T/warden.db" "DROP VIEW launder"
console sql-two-statements 400 "one statement at a time" "SELECT 1; SELECT 2"
console sql-statement-then-drop 400 "one statement at a time" "SELECT 1; DROP TABLE alerts"
console sql-begin 403 "transactions are not allowed" "BEGIN"
console sql-savepoint 403 "transactions are not allowed" "SAVEPOINT s"
console sql-vacuum-into 403 "only reads" "VACUUM INTO '$T/copy.db'"
console sql-syntax 400 "syntax error" "SELEC 1"
console sql-empty 400 "q:" "   "
console sql-only-comment 400 "only comments" "-- nothing"
console sql-huge-blob 400 "longest value" "SELECT zeroblob(100000000)"
check sql-nothing-written "$(sql "SELECT count(*) FROM sqlite_master") $(sql "SELECT count(*) FROM devices WHERE device_id = 'x'")" "$tables_before 0"
check sql-no-files "$(ls "$T/written" "$T/copy.db" 2>/dev/null)" ""

# What a reader needs still works.
check sql-select "$(req GET /api/v1/sql --get --data-urlencode "q=SELECT device_id FROM devices WHERE device_id = 'sql-a'" && json "json_extract(j, '\$.rows[0][0]')")" 200sql-a
check sql-trailing-comment "$(req GET /api/v1/sql --get --data-urlencode "q=SELECT 1; -- done")" 200
check sql-pragma-table-info "$(req GET /api/v1/sql --get --data-urlencode "q=PRAGMA table_info(alerts)" && json "json_array_length(j, '\$.rows') > 10")" 2001
check sql-pragma-user-version "$(req GET /api/v1/sql --get --data-urlencode "q=PRAGMA user_version")" 200
check sql-pragma-table-valued "$(req GET /api/v1/sql --get --data-urlencode "q=SELECT name FROM pragma_table_info('devices') LIMIT 1")" 200
check sql-flows-view "$(req GET /api/v1/sql --get --data-urlencode "q=SELECT count(*) FROM flows WHERE remote_ip LIKE '203.%'" && json "json_extract(j, '\$.rows[0][0]')")" "200$(sql "SELECT count(*) FROM flows WHERE remote_ip LIKE '203.%'")"
check sql-views "$(req GET /api/v1/sql --get --data-urlencode "q=SELECT count(*) FROM v_alerts_daily")" 200
check sql-json-functions "$(req GET /api/v1/sql --get --data-urlencode "q=SELECT json_extract('{\"a\":7}', '\$.a')" && json "json_extract(j, '\$.rows[0][0]')")" 2007
check sql-blob "$(req GET /api/v1/sql --get --data-urlencode "q=SELECT x'00ff'" && json "json_extract(j, '\$.rows[0][0]')")" "200x'00ff'"

# A runaway query is cut by the time limit (1 s) and answered within 2 s (curl's own time).
console sql-runaway-time-limit 400 "time limit" \
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
ms=$(req_ms)
[ "$ms" -lt 2500 ] && pass "sql-runaway-answered-in-${ms}ms" || fail sql-runaway-answered-quickly "$ms ms"

# A huge result stops at the row cap (1000) and says so.
check sql-huge-result "$(req GET /api/v1/sql --get --data-urlencode \
    "q=WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100000) SELECT x FROM c" &&
    json "json_array_length(j, '\$.rows') || ' ' || json_extract(j, '\$.truncated')")" "2001000 1"
check sql-small-result-not-truncated "$(req GET /api/v1/sql --get --data-urlencode "q=SELECT 1" && json "json_extract(j, '\$.truncated')")" 2000

# The CSV export streams the full result...
q10k="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 10000) SELECT x, 'row ' || x AS label FROM c"
check sql-export-200 "$(req GET /api/v1/sql --get --data-urlencode "format=csv" --data-urlencode "q=$q10k")" 200
check sql-export-type "$(header Content-Type)" "text/csv; charset=utf-8"
check sql-export-chunked "$(header Transfer-Encoding)" chunked
check sql-export-rows "$(wc -l < "$T/body")" 10001
check sql-export-header "$(head -1 "$T/body" | tr -d '\r')" '"x","label"'
check sql-export-last "$(tail -1 "$T/body" | tr -d '\r')" '10000,"row 10000"'
check sql-export-refused "$(req GET "/api/v1/sql?format=csv" --get --data-urlencode "q=DELETE FROM alerts")" 403
# ... up to its byte cap, where it ends with a line that says why ...
qbig="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 300000) SELECT x, 'row ' || x AS label FROM c"
check sql-export-capped-200 "$(req GET /api/v1/sql --get --data-urlencode "format=csv" --data-urlencode "q=$qbig")" 200
size=$(stat -c %s "$T/body")
tail -1 "$T/body" | grep -q "^# export stopped: web.sql.export_max_bytes" && pass sql-export-cap-marker ||
    fail sql-export-cap-marker "$(tail -c 200 "$T/body")"
[ "$size" -le $((EXPORT_CAP + 200)) ] && [ "$size" -ge $((EXPORT_CAP - 100)) ] && pass "sql-export-cap-bytes-$size" ||
    fail sql-export-cap-bytes "$size bytes for a cap of $EXPORT_CAP"
# ... and its time limit (4 s here), while ingest keeps committing. The export has files of
# its own, as the requests made meanwhile write $T/body; its time is curl's own, from its
# connect, so no earlier than the server's start of the limit.
last_commit() { sql "SELECT last_commit_ms FROM ingest_state"; }
exporting() { [ ! -s "$T/export.status" ]; } # curl writes the status when the export has ended
c0=$(last_commit)
curl -s -o "$T/export.csv" -D "$T/export.headers" -w '%{http_code} %{time_total}' --max-time 30 --get \
    --data-urlencode "format=csv" "$WEB/api/v1/sql" \
    --data-urlencode "q=WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT sum(x) FROM c" \
    > "$T/export.status" &
slow=$!
# The export is under way once its headers are in: they go out before the first row.
wait_until '[ -s "$T/export.headers" ]' || fail sql-export-started
pub devices/sql-during/messages/events/ -m "while the export runs"
wait_sql "SELECT count(*) FROM devices WHERE device_id = 'sql-during'" 1 && exporting && stored_during=1
c1=$(last_commit)
# A console query meanwhile runs on another worker; ingest does not wait for either
# (it commits at least once a second, idle or not).
console sql-runaway-during-export 400 "time limit" \
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
wait_until '[ "$(last_commit)" -gt "$c1" ]' 10
c2=$(last_commit)
exporting && committed_during=1
wait "$slow"
read -r code secs < "$T/export.status"
ms=$(awk -v s="$secs" 'BEGIN { printf "%d", s * 1000 }')
check sql-export-time-limit-status "$code" 200
tail -1 "$T/export.csv" | grep -q "^# export stopped: time limit" && pass sql-export-time-limit-marker ||
    fail sql-export-time-limit-marker "$(tail -c 200 "$T/export.csv")"
[ "$ms" -ge 3900 ] && [ "$ms" -lt 7000 ] && pass "sql-export-time-limit-${ms}ms" || fail sql-export-time-limit "$ms ms"
[ "$c1" -gt "$c0" ] && [ "$c2" -gt "$c1" ] && [ "${committed_during:-0}" = 1 ] &&
    pass sql-ingest-commits-during-slow-queries ||
    fail sql-ingest-commits-during-slow-queries "last_commit_ms $c0, $c1, $c2; export still running: ${committed_during:-no}"
check sql-ingest-stored-during-export "${stored_during:-0}" 1

# POST with a JSON body, as the API says.
check sql-post-json "$(req POST /api/v1/sql -H 'Content-Type: application/json' -d '{"q": "SELECT 2 + 2"}' && json "json_extract(j, '\$.rows[0][0]')")" 2004
check sql-post-json-refused "$(req POST /api/v1/sql -H 'Content-Type: application/json' -d '{"q": "DROP TABLE alerts"}')" 403
stop_pid "$WARDEN_PID"
sanitizers_clean sql-sanitizers-clean
exit $NFAIL
