#!/bin/bash
# Authentication of the web server (SPEC 6, Auth): every state-changing
# endpoint without a token, with a wrong one, with a valid session cookie but
# no CSRF token (or a wrong one), and with a session and its CSRF token; the
# login form and logout; the token file (created 0600); DNS rebinding (a
# foreign Host header); and refusing to listen beyond loopback unless every
# request needs the token.
. "$(dirname "$0")/web_lib.sh"

start_broker
start_web --evaluator.interval=PT1S

# ---- the token file ----
check auth-token-file-mode "$(stat -c %a "$T/warden.token")" 600
check auth-token-file-shape "$(grep -c '^[0-9a-f]\{64\}$' "$T/warden.token")" 1

# ---- something to change: two alerts, and a group document ----
pub hub/lab-hub/operations -m '[{"category":"Connections","operation":"deviceConnect","result":"Failed","reason":"SasTokenExpired","deviceId":"auth-a"},
{"category":"Connections","operation":"deviceConnect","result":"Failed","reason":"SasTokenExpired","deviceId":"auth-b"}]'
wait_sql "SELECT count(*) FROM alerts WHERE device_id IN ('auth-a', 'auth-b')" 2 || fail auth-seed
A=$(sql "SELECT alert_id FROM alerts WHERE device_id = 'auth-a'")
B=$(sql "SELECT alert_id FROM alerts WHERE device_id = 'auth-b'")
GROUP='{"properties": {"timeWindowRules": [], "allowlistRules": [], "thresholdRules": [], "denylistRules": []}}'

# ---- no token, wrong token: 401, and nothing changes ----
writes=("POST /api/v1/alerts/$A/dismiss" "POST /api/v1/alerts/$B/reactivate"
        "PUT /api/v1/security-groups/auth-group")
for w in "${writes[@]}"; do
    set -- $w
    name=$(echo "$2" | tr '/' '-')
    check "auth-no-token$name" "$(req "$1" "$2" -d "$GROUP")" 401
    check "auth-no-token-challenge$name" "$(header WWW-Authenticate)" 'Bearer realm="warden"'
    check "auth-wrong-token$name" "$(req "$1" "$2" -H "Authorization: Bearer ${TOKEN%?}x" -d "$GROUP")" 401
    check "auth-basic-auth$name" "$(req "$1" "$2" -u "admin:$TOKEN" -d "$GROUP")" 401
done
check auth-unchanged "$(sql "SELECT group_concat(status) FROM alerts WHERE alert_id IN ($A, $B)")" "Active,Active"
check auth-no-group "$(sql "SELECT count(*) FROM security_groups WHERE name = 'auth-group'")" 0
check auth-wrong-token-on-read "$(req GET /api/v1/alerts -H "Authorization: Bearer nope")" 401
check auth-read-needs-nothing "$(req GET /api/v1/alerts)" 200
# Page forms: without a login, a redirect to the login page.
check auth-page-post-no-login "$(req POST "/alerts/$A/dismiss" -d note=x)" 303
case "$(header Location)" in /login*) pass auth-page-post-to-login ;; *) fail auth-page-post-to-login "$(header Location)" ;; esac

# ---- the login form ----
check auth-login-wrong "$(req POST /login -d "token=wrong&next=/alerts")" 303
check auth-login-wrong-to-form "$(header Location)" "/login?failed=1&next=%2Falerts"
check auth-login-wrong-no-cookie "$(header Set-Cookie)" ""
check auth-login-empty "$(req POST /login)" 303
check auth-login-ok "$(req POST /login --data-urlencode "token=$TOKEN" -d "next=/alerts")" 303
check auth-login-next "$(header Location)" /alerts
cookie=$(header Set-Cookie)
case "$cookie" in
    warden_session=*HttpOnly*SameSite=Strict*) pass auth-cookie-flags ;;
    *) fail auth-cookie-flags "$cookie" ;;
esac
case "$cookie" in *Path=/*) pass auth-cookie-path ;; *) fail auth-cookie-path "$cookie" ;; esac
SID=$(echo "$cookie" | sed 's/^warden_session=\([^;]*\).*/\1/')
check auth-login-open-redirect "$(req POST /login --data-urlencode "token=$TOKEN" -d "next=//evil.example/x" && header Location)" "303/"
check auth-login-backslash-redirect "$(req POST /login --data-urlencode "token=$TOKEN" --data-urlencode 'next=/\evil.example' && header Location)" "303/"

# The CSRF token is HMAC-SHA256(admin token, session id), hex.
CSRF=$(printf %s "$SID" | openssl dgst -sha256 -hmac "$TOKEN" | awk '{print $NF}')
session=(-H "Cookie: warden_session=$SID")
# The same length, the last digit changed.
case "$CSRF" in *0) BAD_CSRF="${CSRF%?}1" ;; *) BAD_CSRF="${CSRF%?}0" ;; esac

# ---- a session without its CSRF token: 403; with a wrong one: 403 ----
for w in "${writes[@]}"; do
    set -- $w
    name=$(echo "$2" | tr '/' '-')
    check "auth-session-no-csrf$name" "$(req "$1" "$2" "${session[@]}" -d "$GROUP")" 403
    check "auth-session-wrong-csrf$name" "$(req "$1" "$2" "${session[@]}" -H "X-CSRF-Token: $BAD_CSRF" -d "$GROUP")" 403
done
check auth-session-csrf-in-url "$(req POST "/api/v1/alerts/$A/dismiss?csrf=$CSRF" "${session[@]}")" 403
check auth-page-post-no-csrf "$(req POST "/alerts/$A/dismiss" "${session[@]}" -d note=x)" 403
check auth-unchanged-2 "$(sql "SELECT group_concat(status) FROM alerts WHERE alert_id IN ($A, $B)")" "Active,Active"
check auth-session-read "$(req GET /api/v1/alerts "${session[@]}")" 200

# ---- a session with its CSRF token, as a header or a form field; the token alone ----
check auth-session-csrf-dismiss "$(req POST "/api/v1/alerts/$A/dismiss" "${session[@]}" -H "X-CSRF-Token: $CSRF")" 200
check auth-session-csrf-reactivate "$(req POST "/api/v1/alerts/$A/reactivate" "${session[@]}" -d "csrf=$CSRF&note=back")" 200
check auth-session-csrf-put-group "$(req PUT /api/v1/security-groups/auth-group "${session[@]}" -H "X-CSRF-Token: $CSRF" -H 'Content-Type: application/json' -d "$GROUP")" 200
check auth-token-dismiss "$(req POST "/api/v1/alerts/$B/dismiss" -H "Authorization: Bearer $TOKEN")" 200
check auth-token-reactivate "$(req POST "/api/v1/alerts/$B/reactivate" -H "Authorization: Bearer $TOKEN")" 200
check auth-token-put-group "$(req PUT /api/v1/security-groups/auth-group -H "Authorization: Bearer $TOKEN" -d "$GROUP")" 200
check auth-transitions "$(sql "SELECT count(*) FROM alert_transitions WHERE alert_id IN ($A, $B) AND from_status IS NOT NULL")" 4

# ---- logout: needs the CSRF token too, and ends the session ----
check auth-logout-no-csrf "$(req POST /logout "${session[@]}")" 403
check auth-logout-no-login "$(req POST /logout)" 303
check auth-logout "$(req POST /logout "${session[@]}" -d "csrf=$CSRF")" 303
case "$(header Set-Cookie)" in *Max-Age=0*) pass auth-logout-clears-cookie ;; *) fail auth-logout-clears-cookie ;; esac
check auth-after-logout "$(req POST "/api/v1/alerts/$A/dismiss" "${session[@]}" -H "X-CSRF-Token: $CSRF")" 401

# ---- DNS rebinding: a foreign name in Host is refused, loopback names are fine ----
check auth-host-foreign "$(req GET /api/v1/alerts -H 'Host: attacker.example')" 421
check auth-host-localhost "$(req GET /api/v1/alerts -H "Host: localhost:$WEB_PORT")" 200
check auth-host-v6 "$(req GET /api/v1/alerts -H "Host: [::1]:$WEB_PORT")" 200
stop_pid "$WARDEN_PID"

# ---- beyond loopback: refused without auth, else every request needs the token ----
port=$(free_port)
"$WARDEN" run --db "$T/warden.db" --mqtt.port="$BROKER_PORT" --web.listen="0.0.0.0:$port" \
    > "$T/refuse.log" 2>&1
check auth-refuse-non-loopback-exit "$?" 2
grep -q "not a loopback address" "$T/refuse.log" && pass auth-refuse-non-loopback-message ||
    fail auth-refuse-non-loopback-message "$(cat "$T/refuse.log")"
"$WARDEN" serve --db "$T/warden.db" --web.listen="[::]:$port" > "$T/refuse.log" 2>&1
check auth-refuse-serve-any "$?" 2
"$WARDEN" serve --db "$T/warden.db" --web.listen=":$port" > "$T/refuse.log" 2>&1
check auth-refuse-serve-empty-host "$?" 2
"$WARDEN" serve --db "$T/warden.db" --web.listen="0.0.0.0:$port" --web.auth.require_for_reads=true \
    >> "$T/serve.log" 2>&1 &
SERVE_PID=$!
PIDS+=("$SERVE_PID")
wait_port "$port" || fail auth-all-start "$(tail -3 "$T/serve.log")"
WEB="http://127.0.0.1:$port"
check auth-all-read-no-token "$(req GET /api/v1/alerts)" 401
check auth-all-read-token "$(req GET /api/v1/alerts -H "Authorization: Bearer $TOKEN")" 200
check auth-all-page-to-login "$(req GET /alerts)" 303
check auth-all-metrics-no-token "$(req GET /metrics)" 401
check auth-all-healthz-open "$(req GET /healthz | grep -c '^[25]0[03]$')" 1
check auth-all-login-open "$(req POST /login --data-urlencode "token=$TOKEN")" 303
SID=$(header Set-Cookie | sed 's/^warden_session=\([^;]*\).*/\1/')
check auth-all-session-read "$(req GET /api/v1/alerts -H "Cookie: warden_session=$SID")" 200
stop_pid "$SERVE_PID"

# ---- a token file readable by others is used, with a warning ----
chmod 644 "$T/warden.token"
start_serve
check auth-token-kept "$(cat "$T/warden.token" | tr -d '\n')" "$TOKEN"
grep -q "can be read by other users" "$T/serve.log" && pass auth-token-mode-warning || fail auth-token-mode-warning
stop_pid "$SERVE_PID"
sanitizers_clean auth-sanitizers-clean
exit $NFAIL
