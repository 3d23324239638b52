#!/bin/bash
# One console query must not freeze the web, and a page of another site must
# not run one (issue 14, point 3). Against `warden run` (web.sql.time_limit
# 1 s) and `warden serve`:
#   - each query that made one SQL function call run for seconds on the web's
#     event loop is answered within 1.5x the limit with an error naming the
#     function, while /healthz answers in under 100 ms (curl's time_total);
#   - four slow queries at once (warden serve, a limit of 3 s) run to their
#     limit while /healthz and an API page answer in under 100 ms;
#   - a client that leaves cancels its query or export at once; a full queue
#     answers 503 with Retry-After at once;
#   - console requests a browser marks as sent by another site's page
#     (Sec-Fetch-Site: cross-site or same-site, a foreign or null Origin) are
#     refused with 403 on the JSON API, the page and the CSV export, and the
#     same-origin console still runs;
#   - ordinary uses of the guarded functions still give SQLite's answers.
# Each replay prints its figures ("# NAME: ...") for the record.
. "$(dirname "$0")/web_lib.sh"

LIMIT_MS=1000
start_broker
start_web
pub "$(JSON_TOPIC atk-dev)" tests/fixtures/json/connection_create.json
wait_sql "SELECT count(*) > 0 FROM flows" 1 10 || fail attack-seed-flows

ms() { awk -v s="$1" 'BEGIN { printf "%d", s * 1000 }'; }
metric() { curl -s --max-time 5 "$WEB/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
# wait_metric NAME VALUE [SECONDS]
wait_metric() {
    local _wm_name=$1 _wm_want=$2
    wait_until '[ "$(metric "$_wm_name")" = "$_wm_want" ]' "${3:-5}"
}
# console_bg OUT SQL [CURL ARGS]: the console query in the background, "status seconds" into OUT.
console_bg() {
    local out=$1 sql=$2
    shift 2
    curl -s -o "$out.body" -w '%{http_code} %{time_total}\n' --max-time 60 "$@" \
        "$WEB/api/v1/sql" --get --data-urlencode "q=$sql" > "$out" &
}
# probe_while PID PATH: the slowest answer to PATH, in ms, of those sent while PID runs (one
# at least).
probe_while() {
    local worst=0 t
    while :; do
        t=$(ms "$(curl -s -o /dev/null -w '%{time_total}' --max-time 60 "$WEB$2")")
        [ "$t" -gt "$worst" ] && worst=$t
        kill -0 "$1" 2>/dev/null || break
    done
    echo "$worst"
}
under() { # under NAME VALUE MAX: pass when VALUE < MAX
    if [ "$2" -lt "$3" ]; then pass "$1"; else fail "$1" "$2, at most $3 allowed"; fi
}

# ---- each attack, replayed alone -------------------------------------------------------------
# attack NAME WORD SQL: refused or stopped with a detail saying WORD, within 1.5x the limit.
attack() {
    local name=$1 word=$2 sql=$3 pid hz code secs took detail
    console_bg "$T/atk" "$sql"
    pid=$!
    hz=$(probe_while "$pid" /healthz)
    wait "$pid"
    read -r code secs < "$T/atk"
    took=$(ms "$secs")
    detail=$(json "json_extract(j, '\$.detail')" "$T/atk.body" 2>/dev/null)
    echo "# $name: $code in $took ms; /healthz meanwhile at worst $hz ms; ${detail:0:110}"
    if [ "$code" = 400 ] && printf '%s' "$detail" | grep -qF -- "$word"; then
        pass "atk-$name-clear-error"
    else
        fail "atk-$name-clear-error" "status $code, detail '$detail' (expected 400 saying '$word')"
    fi
    under "atk-$name-within-1.5x-limit" "$took" $((LIMIT_MS * 3 / 2))
    under "atk-$name-healthz-under-100ms" "$hz" 100
}

A1M="printf('%.*c', 1000000, 'a')"
attack instr-issue "printf()" "SELECT instr(printf('%.*c', 2000000, 'a'), printf('%.*c', 1000000, 'a') || 'b')"
attack instr-1mb "instr()" "SELECT instr($A1M, printf('%.*c', 500000, 'a') || 'b')"
attack printf-star-precision "printf()" "SELECT printf('%.*c', 2147483647, 'x')"
attack printf-literal-precision "printf()" "SELECT printf('%.2147483647c', 'x')"
attack format-star-precision "format()" "SELECT format('%.*c', 2147483647, 'x')"
attack replace "replace()" "SELECT replace($A1M, printf('%.*c', 500000, 'a') || 'b', 'x')"
attack like "like()" "SELECT $A1M LIKE '%' || printf('%.*c', 9000, 'a') || 'b'"
attack glob "glob()" "SELECT $A1M GLOB '*' || printf('%.*c', 4500, 'a') || 'b'"
attack trim "trim()" "SELECT trim(printf('%.*c', 100000, 'a'), printf('%.*c', 10000, 'b') || 'a')"
attack json-patch "json_patch()" "WITH o(j) AS MATERIALIZED (SELECT json_group_object(key, 1) FROM json_each(printf('[%s0]', replace(printf('%.*c', 6000, 'x'), 'x', '0,')))) SELECT json_patch(j, j) FROM o"
attack zeroblob "longest value" "SELECT zeroblob(2147483647)"
attack randomblob "longest value" "SELECT randomblob(2000000000)"
# An aggregate that grew without SQLite's length limit: 2 GB in 7 s outside Warden.
hwm() { awk '/^VmHWM/ { print int($2 / 1024) }' "/proc/$WARDEN_PID/status"; }
hwm0=$(hwm)
attack json-group-array-memory "json_group_array()" "SELECT json_group_array($A1M) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c)"
grew=$(($(hwm) - hwm0))
echo "# json-group-array-memory: peak RSS grew by $grew MiB"
under atk-json-group-array-memory-bounded "$grew" 64

# ---- a client that leaves cancels its query ------------------------------------------------
LOOP="WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)"
slow=("$LOOP SELECT count(*) FROM c"
    "$LOOP SELECT count(instr(printf('%.*c', 100000, 'a'), 'b')) FROM c"
    "$LOOP SELECT count(printf('%.*c', 100000, 'a') LIKE '%b%') FROM c"
    "$LOOP SELECT sum(length(replace(printf('%.*c', 100000, 'a'), 'a', 'bb'))) FROM c")
c0=$(metric warden_sql_cancelled_total)
curl -s -o /dev/null --max-time 0.3 "$WEB/api/v1/sql" --get --data-urlencode "q=${slow[0]}"
left=$(date +%s%N)
wait_metric warden_sql_running 0 5
freed=$((($(date +%s%N) - left) / 1000000))
echo "# a query whose client left after 0.3 s freed its worker $freed ms later"
under cancel-query-frees-worker-at-once "$freed" 400
check cancel-query-counted "$(metric warden_sql_cancelled_total)" $((c0 + 1))
curl -s -o /dev/null --max-time 0.5 "$WEB/api/v1/sql" --get --data-urlencode format=csv --data-urlencode "q=${slow[0]}"
left=$(date +%s%N)
wait_metric warden_sql_running 0 5
freed=$((($(date +%s%N) - left) / 1000000))
echo "# an export (limit 60 s) whose client left after 0.5 s freed its worker $freed ms later"
under cancel-export-frees-worker-at-once "$freed" 400
wait_metric warden_sql_exports 0 2 && pass cancel-export-freed || fail cancel-export-freed "$(metric warden_sql_exports)"

# ---- ordinary queries keep working -----------------------------------------------------------
value() { # value NAME SQL EXPECTED: the first cell of the console's answer
    local got
    got=$(req GET /api/v1/sql --get --data-urlencode "q=$2")$(json "json_extract(j, '\$.rows[0][0]')")
    check "$1" "$got" "200$3"
}
value ordinary-printf-width "SELECT printf('%5d', 3)" "    3"
value ordinary-printf-star "SELECT printf('%-*s|%.*c', 4, 'ab', 3, 'x')" "ab  |xxx"
value ordinary-format "SELECT format('%s-%03d', 'dev', 7)" "dev-007"
value ordinary-instr "SELECT instr('hello world', 'wor')" 7
value ordinary-replace "SELECT replace('a-b-c', '-', '+')" "a+b+c"
value ordinary-trim "SELECT trim('--x--', '-') || ltrim('  y') || rtrim('z..', '.')" "xyz"
value ordinary-zeroblob "SELECT length(zeroblob(1000)) + length(randomblob(24))" 1024
value ordinary-json-patch "SELECT json_patch('{\"a\":1}', '{\"b\":2}')" '{"a":1,"b":2}'
flows_203=$(sql "SELECT count(*) FROM flows WHERE remote_ip LIKE '203.%'")
[ "$flows_203" -gt 0 ] || fail ordinary-seed "no flow to 203.*"
value ordinary-like-on-flows "SELECT count(*) FROM flows WHERE remote_ip LIKE '203.%'" "$flows_203"
value ordinary-glob-on-flows "SELECT count(*) FROM flows WHERE remote_ip GLOB '203.*'" "$flows_203"
value ordinary-json-group-array "SELECT json_group_array(device_id) FROM devices WHERE device_id = 'atk-dev'" '["atk-dev"]'
value ordinary-json-group-nested "SELECT json_object('d', json_group_array(json_object('id', device_id))) FROM devices WHERE device_id = 'atk-dev'" '{"d":[{"id":"atk-dev"}]}'
value ordinary-big-value "SELECT length($A1M)" 1000000

# ---- a page of another site cannot run console queries ---------------------------------------
HOSTPORT=127.0.0.1:$WEB_PORT
x0=$(metric warden_http_cross_site_refused_total)
refused() { # refused NAME WORD METHOD PATH [CURL ARGS]: 403 whose body says WORD
    local name=$1 word=$2 got
    shift 2
    got=$(req "$@")
    if [ "$got" = 403 ] && grep -qF -- "$word" "$T/body"; then pass "$name"; else
        fail "$name" "status $got: $(head -c 300 "$T/body")"; fi
}
IMG=(-H 'Sec-Fetch-Site: cross-site' -H 'Sec-Fetch-Mode: no-cors' -H 'Sec-Fetch-Dest: image')
refused xsite-img-get-json "Sec-Fetch-Site: cross-site" GET /api/v1/sql --get --data-urlencode "q=SELECT 1" "${IMG[@]}"
refused xsite-img-get-page "another site" GET /sql --get --data-urlencode "q=SELECT 1" "${IMG[@]}"
refused xsite-img-get-csv "Sec-Fetch-Site: cross-site" GET /api/v1/sql --get --data-urlencode format=csv --data-urlencode "q=SELECT 1" "${IMG[@]}"
refused xsite-same-site-port "another port or subdomain" GET /api/v1/sql --get --data-urlencode "q=SELECT 1" -H 'Sec-Fetch-Site: same-site'
refused xsite-origin-post "Origin: http://evil.example" POST /api/v1/sql -H 'Origin: http://evil.example' -H 'Content-Type: text/plain' -d '{"q": "SELECT 1"}'
refused xsite-origin-form "Origin: https://evil.example" POST /api/v1/sql -H 'Origin: https://evil.example' --data-urlencode "q=SELECT 1"
refused xsite-origin-null "Origin: null" GET /api/v1/sql --get --data-urlencode "q=SELECT 1" -H 'Origin: null'
refused xsite-origin-other-port "Origin: http://127.0.0.1:1" GET /api/v1/sql --get --data-urlencode "q=SELECT 1" -H 'Origin: http://127.0.0.1:1'
refused xsite-origin-csv "Origin" GET /api/v1/sql --get --data-urlencode format=csv --data-urlencode "q=SELECT 1" -H 'Origin: http://evil.example'
check xsite-counted "$(metric warden_http_cross_site_refused_total)" $((x0 + 9))
# The same origin, a typed address and clients that are not browsers still run queries.
SAME=(-H 'Sec-Fetch-Site: same-origin' -H "Origin: http://$HOSTPORT")
check xsite-same-origin-json "$(req GET /api/v1/sql --get --data-urlencode "q=SELECT 41 + 1" "${SAME[@]}")$(json "json_extract(j, '\$.rows[0][0]')")" 20042
check xsite-same-origin-post "$(req POST /api/v1/sql -H 'Content-Type: application/json' -d '{"q": "SELECT 2"}' "${SAME[@]}")" 200
check xsite-same-origin-page "$(req GET /sql --get --data-urlencode "q=SELECT 'from the page'" "${SAME[@]}")$(grep -c '<td>from the page</td>' "$T/body")" 2001
check xsite-same-origin-csv "$(req GET /api/v1/sql --get --data-urlencode format=csv --data-urlencode "q=SELECT 3 AS n" "${SAME[@]}")$(tr -d '\r' < "$T/body" | tail -1)" 2003
check xsite-typed-address "$(req GET /sql --get --data-urlencode "q=SELECT 1" -H 'Sec-Fetch-Site: none')" 200
check xsite-localhost-origin "$(req GET /api/v1/sql --get --data-urlencode "q=SELECT 1" -H "Host: localhost:$WEB_PORT" -H "Origin: http://localhost:$WEB_PORT")" 200
check xsite-no-headers "$(req GET /api/v1/sql --get --data-urlencode "q=SELECT 1")" 200
check xsite-other-pages-unaffected "$(req GET /alerts "${IMG[@]}")" 200
stop_pid "$WARDEN_PID"

# ---- four slow queries at once (warden serve, a limit of 3 s so that the probes fit in) -------
SLOW_MS=3000
start_serve --web.sql.time_limit=PT3S
pids=()
for i in 0 1 2 3; do
    console_bg "$T/slow$i" "${slow[$i]}"
    pids+=($!)
done
wait_metric warden_sql_running 4 5 && pass slow-four-running-at-once ||
    fail slow-four-running-at-once "warden_sql_running is '$(metric warden_sql_running)'"
# Rounds of five probes of each; a round counts when all four queries still ran at its end,
# and one such round must answer every probe in under 100 ms (the machine is shared: a round
# may meet another engineer's burst).
best_hz=999999 best_api=999999 rounds=0
for round in 1 2 3; do
    hz=0 api=0
    for i in 1 2 3 4 5; do
        t=$(ms "$(curl -s -o /dev/null -w '%{time_total}' --max-time 60 "$WEB/healthz")")
        [ "$t" -gt "$hz" ] && hz=$t
        t=$(ms "$(curl -s -o /dev/null -w '%{time_total}' --max-time 60 "$WEB/api/v1/alerts?limit=20")")
        [ "$t" -gt "$api" ] && api=$t
    done
    still=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && still=$((still + 1)); done
    echo "# four slow queries, round $round: /healthz at worst $hz ms, /api/v1/alerts at worst $api ms, $still queries still running"
    [ "$still" = 4 ] || break
    rounds=$((rounds + 1))
    [ $((hz > api ? hz : api)) -lt $((best_hz > best_api ? best_hz : best_api)) ] && best_hz=$hz best_api=$api
    [ "$hz" -lt 100 ] && [ "$api" -lt 100 ] && break
done
wait "${pids[@]}"
[ "$rounds" -ge 1 ] && pass slow-probes-while-all-four-ran || fail slow-probes-while-all-four-ran "no round of probes ended before the queries"
under slow-healthz-under-100ms "$best_hz" 100
under slow-api-page-under-100ms "$best_api" 100
for i in 0 1 2 3; do
    read -r code secs < "$T/slow$i"
    took=$(ms "$secs")
    echo "# slow query $i: $code in $took ms (limit $SLOW_MS ms)"
    [ "$code" = 400 ] && grep -q "time limit" "$T/slow$i.body" && pass "slow-$i-stopped-by-time-limit" ||
        fail "slow-$i-stopped-by-time-limit" "$code $(cat "$T/slow$i.body")"
    under "slow-$i-within-1.5x-limit" "$took" $((SLOW_MS * 3 / 2))
done
stop_pid "$SERVE_PID"

# ---- a full queue answers 503 at once (warden serve, one worker, a queue of one) -------------
start_serve --web.sql.workers=1 --web.sql.queue=1 --web.sql.time_limit=PT5S
console_bg "$T/q1" "${slow[0]}"
p1=$!
wait_metric warden_sql_running 1 5
console_bg "$T/q2" "${slow[0]}"
p2=$!
wait_metric warden_sql_queued 1 5 && pass queue-one-waiting || fail queue-one-waiting "$(metric warden_sql_queued)"
got=$(curl -s -o "$T/body" -D "$T/headers" -w '%{http_code} %{time_total}' --max-time 10 "$WEB/api/v1/sql" --get --data-urlencode "q=SELECT 1")
read -r code secs <<< "$got"
echo "# a full queue: $code in $(ms "$secs") ms, Retry-After $(header Retry-After)"
check queue-full-503 "$code" 503
check queue-full-retry-after "$(header Retry-After)" 5
under queue-full-answered-at-once "$(ms "$secs")" 100
grep -q "busy" "$T/body" && pass queue-full-says-busy || fail queue-full-says-busy "$(cat "$T/body")"
kill "$p1" "$p2" 2>/dev/null
wait "$p1" "$p2" 2>/dev/null
wait_metric warden_sql_running 0 2 && wait_metric warden_sql_queued 0 1 && pass queue-clients-gone-free-it ||
    fail queue-clients-gone-free-it "running $(metric warden_sql_running), queued $(metric warden_sql_queued)"
check queue-serves-again "$(req GET /api/v1/sql --get --data-urlencode "q=SELECT 5")" 200
stop_pid "$SERVE_PID"
sanitizers_clean attack-sanitizers-clean
exit $NFAIL
