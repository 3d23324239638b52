#!/bin/bash
# Files depend on each other one way only (issue 15): tools/layers.py reads the
# symbols of the built objects and refuses any loop between files or folders
# that tools/layers.known does not list as still to break. A made-up object
# that calls back into the store proves the check can fail.
. "$(dirname "$0")/lib.sh"
OBJ=${B:-build}/obj

out=$(python3 tools/layers.py "$OBJ" --known tools/layers.known)
rc=$?
echo "$out" | sed 's/^/# /'
check layers-no-new-loop "$rc" 0

# A store file that calls the ingester, which calls the store: a new loop.
mkdir -p "$T/obj/store" "$T/obj/ingest"
cp "$OBJ/store/stmt.o" "$OBJ/store/batch.o" "$OBJ/store/store.o" "$T/obj/store/"
cp "$OBJ/ingest/ingest.o" "$T/obj/ingest/"
printf 'void ingest_stop(void *);\nvoid layers_probe(void) { ingest_stop(0); }\n' > "$T/probe.c"
cc -c -o "$T/obj/store/probe.o" "$T/probe.c" || fail layers-probe-builds
out=$(python3 tools/layers.py "$T/obj" --known tools/layers.known)
rc=$?
[ "$rc" = 1 ] && echo "$out" | grep -q "loop between folders: ingest, store" && pass layers-a-new-loop-fails ||
    fail layers-a-new-loop-fails "rc $rc: $out"
exit $NFAIL
