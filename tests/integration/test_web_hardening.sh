#!/bin/bash
# Issue 14's low-severity attacks on the web, replayed against a real
# `warden run` (each check fails on the code before the fix):
# - a flood of unauthenticated hub API requests, cross-site form POSTs among
#   them, adds a bounded number of hub records, their count summing to it;
# - the admin token in the login URL is refused, the form body works;
# - failed logins are limited per source (the 11th in a minute is 429, with
#   Retry-After), other sources are not, the table of sources is capped (the
#   sources beyond it share one limit), and the log sums failures up instead
#   of a line each;
# - web.secure_cookies makes the session cookie Secure (X-Forwarded-Proto
#   alone does not);
# - the database, its -wal and -shm are created 0640 under umask 022, and a
#   database others can read is warned about;
# - a CSV cell of a value with a NUL keeps what follows it.
. "$(dirname "$0")/web_lib.sh"
umask 022

start_broker
start_web --evaluator.interval=PT1S

# ---- the database files: 0640 whatever the umask allowed ----
wait_sql "SELECT count(*) FROM ingest_runs" 1 10
for f in warden.db warden.db-wal warden.db-shm; do
    check "db-mode${f#warden.db}-640" "$(stat -c %a "$T/$f" 2>&1)" 640
done

# ---- 1,000 unauthenticated hub API requests: a few records, the count says 1,000 ----
before=$(sql "SELECT count(*) FROM hub_operations")
{
    for i in $(seq 1 500); do
        # An API client without the token, and a page on another site posting a form.
        printf 'url = "%s/api/v1/hub/certificates"\noutput = /dev/null\n' "$WEB"
    done
} > "$T/hub-urls"
t0=$(date +%s%N)
codes_json=$(curl -s -w '%{http_code}\n' -X POST -H 'Content-Type: application/json' \
    -d '{"name": "evil", "pem": "x"}' -K "$T/hub-urls" | sort | uniq -c | tr -s ' ')
codes_form=$(curl -s -w '%{http_code}\n' -X POST -H 'Origin: https://attacker.example' \
    -H 'Sec-Fetch-Site: cross-site' -d 'name=evil&pem=x' -K "$T/hub-urls" | sort | uniq -c | tr -s ' ')
t1=$(date +%s%N)
check hub-flood-api-refused "$codes_json" " 500 401"
check hub-flood-cross-site-refused "$codes_form" " 500 401"
after=$(sql "SELECT count(*) FROM hub_operations")
echo "hub records: $before before, $after after 1000 refused requests in $(((t1 - t0) / 1000000)) ms" >&2
# One record a minute per (operation, source): one, or two if the flood straddled a minute.
case $((after - before)) in 1|2) pass hub-flood-few-records ;; *) fail hub-flood-few-records "$before before, $after after" ;; esac
check hub-flood-count-sums-to-requests "$(sql "SELECT sum(count) FROM hub_operations WHERE reason = 'Unauthorized'")" 1000
check hub-flood-record-keeps-source "$(sql "SELECT DISTINCT source_ip || ' ' || operation || ' ' || result FROM hub_operations")" "127.0.0.1 write Failed"
check hub-flood-nothing-added "$(sql "SELECT count(*) FROM hub_certificates")" 0

# ---- a CSV cell with a NUL keeps what follows (the JSON answer already did) ----
check csv-nul-status "$(req GET /api/v1/sql --get --data-urlencode format=csv --data-urlencode "q=SELECT 'a' || char(0) || 'b' AS v")" 200
check csv-nul-keeps-the-rest "$(sed -n 2p "$T/body" | tr -d '\r')" '"a\u0000b"'
req GET /api/v1/sql --get --data-urlencode "q=SELECT 'a' || char(0) || 'b' AS v" > /dev/null
check json-nul-keeps-the-rest "$(grep -c '"rows":\[\["a\\u0000b"\]\]' "$T/body")" 1

# ---- the token only from the form body ----
check login-token-in-url "$(req POST "/login?token=$TOKEN")" 303
check login-token-in-url-refused "$(header Location)" "/login?failed=1&next=%2F"
check login-token-in-url-no-cookie "$(header Set-Cookie)" ""
check login-token-in-url-with-form "$(req POST "/login?token=$TOKEN" -d 'next=/alerts' && header Set-Cookie)" 303
check login-form-body "$(req POST /login --data-urlencode "token=$TOKEN")" 303
case "$(header Set-Cookie)" in
    warden_session=*) pass login-form-body-cookie ;;
    *) fail login-form-body-cookie "$(header Set-Cookie)" ;;
esac
case "$(header Set-Cookie)" in
    *Secure*) fail login-cookie-not-secure-by-default "$(header Set-Cookie)" ;;
    *) pass login-cookie-not-secure-by-default ;;
esac

# ---- failed logins: ten a minute from one source, then 429 ----
codes=""
for i in $(seq 1 10); do codes="$codes $(req POST /login -d "token=wrong-$i")"; done
check login-ten-failures-answered "$codes" "$(printf ' 303%.0s' $(seq 1 10))"
check login-eleventh-failure-429 "$(req POST /login -d token=wrong-11)" 429
retry=$(header Retry-After)
[ "$retry" -ge 1 ] 2>/dev/null && [ "$retry" -le 60 ] && pass login-429-retry-after ||
    fail login-429-retry-after "Retry-After '$retry'"
check login-429-even-with-the-token "$(req POST /login --data-urlencode "token=$TOKEN")" 429
check login-429-no-cookie "$(header Set-Cookie)" ""
check login-other-source-not-limited "$(req POST /login --interface 127.0.0.2 --data-urlencode "token=$TOKEN")" 303
check login-bearer-still-works "$(req GET /api/v1/alerts -H "Authorization: Bearer $TOKEN")" 200

# ---- the table of sources is capped: past it, new sources share one limit ----
# 127.0.0.1 holds one entry; 255 more fill the table (one failure each).
for i in $(seq 1 255); do
    curl -s -o /dev/null --interface "127.0.1.$i" -d token=wrong "$WEB/login"
done
codes=""
for i in $(seq 1 10); do codes="$codes $(req POST /login --interface "127.0.2.$i" -d token=wrong)"; done
check login-sources-beyond-table-answered "$codes" "$(printf ' 303%.0s' $(seq 1 10))"
check login-sources-beyond-table-share-a-limit "$(req POST /login --interface 127.0.2.11 -d token=wrong)" 429
check login-source-in-table-keeps-its-own "$(req POST /login --interface 127.0.1.1 -d token=wrong)" 303

# ---- the log: the first failure, then a summary, not a line each ----
check login-log-one-line-for-many "$(grep -c 'failed login from' "$T/warden.log")" 1
stop_pid "$WARDEN_PID"
# In the table: 2 + 10 (127.0.0.1), 255 + 1 (127.0.1.x); beyond it 10 (127.0.2.x); refused 2 + 1.
grep -q 'web: 268 failed logins from 256 sources (and 10 from sources beyond the 256 counted one by one) in the last [0-9]* s; 3 more refused unchecked' "$T/warden.log" &&
    pass login-log-summary || fail login-log-summary "$(grep 'failed login' "$T/warden.log")"

# ---- a database others can read (an older Warden's): used, with a warning; and a
# forwarded header alone does not make the cookie Secure ----
chmod 644 "$T/warden.db"
mark=$(wc -l < "$T/warden.log")
start_web
tail -n +$((mark + 1)) "$T/warden.log" > "$T/restart.log"
grep -q 'other users can read .*warden.db (mode 644).*chmod 640' "$T/restart.log" &&
    pass db-world-readable-warned || fail db-world-readable-warned "$(grep database "$T/restart.log")"
check db-world-readable-warned-once "$(grep -c 'other users can read' "$T/restart.log")" 1
check forwarded-proto-login "$(req POST /login -H 'X-Forwarded-Proto: https' --data-urlencode "token=$TOKEN")" 303
case "$(header Set-Cookie)" in
    *Secure*) fail forwarded-proto-not-trusted "$(header Set-Cookie)" ;;
    *) pass forwarded-proto-not-trusted ;;
esac
stop_pid "$WARDEN_PID"

# ---- web.secure_cookies: the cookie is Secure (last: an older Warden refuses the key) ----
start_web --web.secure_cookies=true
check secure-login "$(req POST /login --data-urlencode "token=$TOKEN")" 303
case "$(header Set-Cookie)" in
    warden_session=*HttpOnly*SameSite=Strict*Secure*) pass secure-cookie ;;
    *) fail secure-cookie "$(header Set-Cookie)" ;;
esac
check secure-logout "$(req POST /logout -H "Authorization: Bearer $TOKEN")" 303
case "$(header Set-Cookie)" in *Max-Age=0*Secure*) pass secure-logout-cookie ;; *) fail secure-logout-cookie "$(header Set-Cookie)" ;; esac
stop_pid "$WARDEN_PID"
sanitizers_clean hardening-sanitizers-clean
exit $NFAIL
