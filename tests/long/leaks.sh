#!/bin/bash
# The integration tests once with LeakSanitizer's reports kept. The tests
# start the sanitized warden with detect_leaks=1, but a leak report only
# changes the exit status of a process that the tests stop and do not judge,
# and the report goes to a log that is deleted on success. So every report
# is written to a file of its own (log_path) and counted here.
#
# First a proof that this catches something: one integration test runs with a
# warden that leaks 4242 bytes on purpose (a library preloaded into it, whose
# constructor drops its only pointer), and the report must name them.
set -u
cd "$(dirname "$0")/../.."
B=${B:-build}
WARDEN=$(realpath "${WARDEN:-$B/asan/warden}")
export WARDEN_PLAIN=${WARDEN_PLAIN:-$B/warden}
D=$(mktemp -d /tmp/warden-leaks.XXXXXX)
export ASAN_BASE="detect_leaks=1:abort_on_error=1"
fails=0

cat > "$D/leak.c" <<'C'
#include <stdlib.h>
void *warden_leak_keep;
__attribute__((constructor)) static void leak_on_purpose(void)
{
    warden_leak_keep = malloc(4242);
    warden_leak_keep = NULL; /* the only pointer is gone: a definite leak */
}
C
cc -shared -fPIC -O0 -o "$D/leak.so" "$D/leak.c" || { echo "FAIL leaks-proof-build"; exit 1; }
cat > "$D/leaky-warden" <<SH
#!/bin/sh
LD_PRELOAD=$D/leak.so exec $WARDEN "\$@"
SH
chmod +x "$D/leaky-warden"

reports() { grep -l "LeakSanitizer" "$1"/asan.* 2>/dev/null | wc -l; }

mkdir -p "$D/proof"
WARDEN="$D/leaky-warden" ASAN_OPTIONS="$ASAN_BASE:verify_asan_link_order=0:log_path=$D/proof/asan" \
    bash tests/integration/test_ingest.sh > "$D/proof.out" 2>&1
n=$(grep -l "4242 byte" "$D"/proof/asan.* 2>/dev/null | wc -l)
echo "proof: a warden leaking 4242 bytes on purpose, through test_ingest.sh: $n processes reported it" >&2
if [ "$n" -gt 0 ]; then echo "ok leaks-deliberate-leak-reported"; else echo "FAIL leaks-deliberate-leak-reported"; fails=$((fails + 1)); fi

mkdir -p "$D/real"
for t in tests/integration/test_*.sh; do
    before=$(reports "$D/real")
    WARDEN="$WARDEN" ASAN_OPTIONS="$ASAN_BASE:log_path=$D/real/asan" bash "$t" > "$D/$(basename "$t").out" 2>&1
    rc=$?
    after=$(reports "$D/real")
    echo "$(basename "$t"): exit $rc, $(grep -c '^ok ' "$D/$(basename "$t").out") ok, $((after - before)) leak reports" >&2
done
n=$(reports "$D/real")
echo "leaks: $n LeakSanitizer reports over every integration test" >&2
if [ "$n" -eq 0 ]; then
    echo "ok leaks-none-in-integration-tests"
    rm -rf "$D"
else
    grep -h -A12 "LeakSanitizer" "$D"/real/asan.* | head -60 >&2
    echo "FAIL leaks-none-in-integration-tests: $n reports, kept in $D/real"
    fails=$((fails + 1))
fi
exit $fails
