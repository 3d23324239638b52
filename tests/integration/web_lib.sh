# Shared by the web tests (test_web_*.sh), on top of lib.sh: start Warden with
# its web server on a free port, make requests with curl, and read JSON
# answers with sqlite3's JSON functions (no jq needed).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# start_web [ARGS]: `warden run` with the web on a free port; sets WEB_PORT, WEB, TOKEN.
start_web() {
    WEB_PORT=$(free_port)
    WEB="http://127.0.0.1:$WEB_PORT"
    start_warden --web.listen="127.0.0.1:$WEB_PORT" "$@"
    wait_port "$WEB_PORT" || { fail web-start "$(tail -5 "$T/warden.log")"; exit 1; }
    TOKEN=$(cat "$T/warden.token")
}

# start_serve [ARGS]: `warden serve` alone on $T/warden.db; sets WEB_PORT, WEB, TOKEN, SERVE_PID.
start_serve() {
    WEB_PORT=$(free_port)
    WEB="http://127.0.0.1:$WEB_PORT"
    "$WARDEN" serve --db "$T/warden.db" --web.listen="127.0.0.1:$WEB_PORT" "$@" \
        >> "$T/serve.log" 2>&1 &
    SERVE_PID=$!
    PIDS+=("$SERVE_PID")
    wait_port "$WEB_PORT" || { fail serve-start "$(tail -5 "$T/serve.log")"; exit 1; }
    TOKEN=$(cat "$T/warden.token")
}

# req METHOD PATH [CURL ARGS]: the status on stdout; the body in $T/body, headers in $T/headers,
# and in $T/time how long the request took in seconds: curl's own %{time_total}, from its
# connect to the last byte, so without the start-up of the curl process (req_ms says it in ms).
req() {
    local m=$1 p=$2
    shift 2
    if [ "$m" = HEAD ]; then
        curl -s -I -o "$T/body" -D "$T/headers" -w '%{http_code}%{stderr}%{time_total}' --max-time 20 \
            "$@" "$WEB$p" 2> "$T/time"
    else
        curl -s -o "$T/body" -D "$T/headers" -w '%{http_code}%{stderr}%{time_total}' --max-time 20 \
            -X "$m" "$@" "$WEB$p" 2> "$T/time"
    fi
}
req_ms() { awk '{ printf "%d", $1 * 1000 }' "$T/time"; }

# header NAME: a header of the last answer.
header() { grep -i "^$1:" "$T/headers" | head -1 | cut -d' ' -f2- | tr -d '\r'; }

# expect_error NAME STATUS WORD METHOD PATH [CURL ARGS]: the request answers STATUS with a
# JSON error whose detail starts with WORD (the parameter it names).
expect_error() {
    local name=$1 want=$2 word=$3 got detail
    shift 3
    got=$(req "$@")
    detail=$(json "json_extract(j, '\$.detail')" 2>/dev/null)
    if [ "$got" = "$want" ] && [ "${detail#"$word"}" != "$detail" ]; then
        pass "$name"
    else
        fail "$name" "status $got, detail '$detail' (expected $want naming '$word')"
    fi
}

# sanitizers_clean NAME: no AddressSanitizer, LeakSanitizer or UBSan report in the logs of
# this test's Warden processes (they run sanitized; a report at exit would otherwise pass).
sanitizers_clean() {
    local hits
    hits=$(cat "$T/warden.log" "$T/serve.log" 2>/dev/null |
        grep -c -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error:')
    check "$1" "$hits" 0
}
