#!/bin/bash
# Files depend on each other one way only (issue 15): tools/layers.py reads the
# symbols of the built objects and refuses any loop between files or folders
# that tools/layers.known does not list as still to break, and holds the
# README's folder table to the tree (every .c file named in its folder's row, a
# folder calling only the folders its row lists). A made-up object that calls
# back into the store, and a README that forgets a file or a call, prove the
# checks can fail.
. "$(dirname "$0")/lib.sh"
OBJ=${B:-build}/obj

out=$(python3 tools/layers.py "$OBJ" --known tools/layers.known --map README.md)
rc=$?
echo "$out" | sed 's/^/# /'
check layers-no-new-loop-and-the-map-is-true "$rc" 0

# The map must name every file and every call: forget windows.c, and that
# evaluator/ calls imports/.
sed -e '/^| `evaluator\/` |/s/`windows.c`/`windowz.c`/' \
    -e '/^| `evaluator\/` |/s/| imports, store |$/| store |/' README.md > "$T/README.md"
out=$(python3 tools/layers.py "$OBJ" --known tools/layers.known --map "$T/README.md")
rc=$?
[ "$rc" = 1 ] && echo "$out" | grep -q "evaluator/windows.c is not named" &&
    echo "$out" | grep -q "evaluator/ uses imports/" && pass layers-map-faults-fail ||
    fail layers-map-faults-fail "rc $rc: $out"

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
