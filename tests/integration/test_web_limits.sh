#!/bin/bash
# What a client can hold is bounded (SPEC 6): a client sending its request
# one byte a second is cut after web.request_timeout while others keep being
# answered; a thousand idle connections do not stop Warden from answering
# within a second, and web.max_connections is never exceeded (the connection
# that has waited longest for its request makes room); oversized headers,
# bodies and URLs are refused.
. "$(dirname "$0")/web_lib.sh"

CAP=100
ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)"
start_broker
start_web --web.request_timeout=PT2S --web.max_connections=$CAP

# quick NAME: a request answered 200 within a second. The time is curl's own
# (%{time_total}, from its connect to the last byte), not the start-up of the curl process.
quick() {
    local out
    out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 5 "$WEB/api/v1/alerts")
    if [ "${out% *}" = 200 ] && awk -v t="${out#* }" 'BEGIN { exit !(t < 1.0) }'; then
        pass "$1"
    else
        fail "$1" "$out"
    fi
}

# ---- a slow client: one byte a second ----
# The cut is timed from before the connect (so from no later than the server's accept,
# where web.request_timeout starts) to the end of the reader, which runs beside the
# other requests and notes when the server closed: neither the test's own process
# start-ups nor the requests in between can make it look early or late.
start=$(now_ms)
exec {slow}<>"/dev/tcp/127.0.0.1/$WEB_PORT"
(
    for c in G E T ' ' / h e a l t h z ' ' H T T P / 1 . 1; do
        printf %s "$c" >&"$slow" 2>/dev/null || exit 0
        sleep 1 # kept: the scenario, a client sending one byte a second
    done
) &
trickle=$!
# The server closes the slow connection: reading it ends, with nothing answered.
(timeout 20 cat <&"$slow" > "$T/slow.out"; now_ms > "$T/slow.end") &
reader=$!
for i in 1 2 3; do
    sleep 0.5 # kept: the scenario, requests spread over the slow client's 2 s
    quick "limits-answers-during-slow-client-$i"
done
wait "$reader"
ms=$(($(cat "$T/slow.end") - start))
[ "$ms" -ge 1900 ] && [ "$ms" -le 4000 ] && pass "limits-slow-client-cut-after-${ms}ms" ||
    fail limits-slow-client-cut "after $ms ms (web.request_timeout is 2 s)"
check limits-slow-client-no-answer "$(wc -c < "$T/slow.out")" 0
exec {slow}>&-
kill "$trickle" 2>/dev/null
wait "$trickle" 2>/dev/null
req GET /metrics > /dev/null
check limits-slow-metric "$(grep -c '^warden_http_connections_closed_total{reason="request_timeout"} [1-9]' "$T/body")" 1

# ---- a thousand idle connections ----
# hold N: open N connections that send nothing, and keep them until killed (four in parallel:
# a /dev/tcp connect costs bash a few milliseconds).
hold() {
    local fds=() fd i
    for i in $(seq 1 "$1"); do
        exec {fd}<>"/dev/tcp/127.0.0.1/$WEB_PORT" || break
        fds+=("$fd")
    done
    echo "${#fds[@]}" > "$T/held.$BASHPID"
    exec sleep 600 # kept: the scenario, holding the connections until stop_pid ends it
}
holders=()
for i in 1 2 3 4; do
    hold 250 &
    holders+=("$!")
done
PIDS+=("${holders[@]}")
wait_until '[ "$(cat "$T"/held.* 2>/dev/null | wc -l)" = 4 ]' 60
check limits-idle-opened "$(cat "$T"/held.* | awk '{ n += $1 } END { print n }')" 1000
quick limits-answers-with-1000-idle-1
quick limits-answers-with-1000-idle-2
# Connections still in the kernel's accept queue count as established too: the server
# keeps to its cap once it has accepted (and evicted) them all.
established() { ss -Htn state established "( sport = :$WEB_PORT )" | wc -l; }
wait_until '[ "$(established)" -le $CAP ]'
held=$(established)
[ "$held" -le $CAP ] && pass "limits-max-connections-held-$held" ||
    fail limits-max-connections "$held connections held, web.max_connections is $CAP"
req GET /metrics > /dev/null
evicted=$(sed -n 's/^warden_http_connections_closed_total{reason="evicted_at_cap"} //p' "$T/body")
[ "${evicted:-0}" -ge 800 ] && pass "limits-evicted-$evicted" || fail limits-evicted "${evicted:-none}"
for p in "${holders[@]}"; do stop_pid "$p"; done
quick limits-answers-after-idle

# ---- oversized header, body and URL ----
big_header=$(head -c 20000 /dev/zero | tr '\0' a)
got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "X-Big: $big_header" "$WEB/api/v1/alerts")
case "$got" in 400 | 413 | 431) pass "limits-header-too-large-$got" ;; *) fail limits-header-too-large "$got" ;; esac
head -c 2000000 /dev/zero | tr '\0' a > "$T/big.body"
got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Content-Type: application/json' \
    --data-binary @"$T/big.body" "$WEB/api/v1/sql")
check limits-body-too-large "$got" 413
long=$(head -c 9000 /dev/zero | tr '\0' a)
check limits-url-too-long "$(req GET "/api/v1/alerts?x=$long")" 414
check limits-url-8k-ok "$(req GET "/api/v1/alerts?x=${long:0:8000}")" 200
quick limits-answers-at-the-end
stop_pid "$WARDEN_PID"
sanitizers_clean limits-sanitizers-clean
exit $NFAIL
