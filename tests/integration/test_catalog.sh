#!/bin/bash
# The README's tables of alert and recommendation types are the catalogue
# (common/catalog.c), line for line, heading row included: `warden catalog
# --markdown` prints the tables the README must hold. README= points the test
# at another copy (that is how it was shown to fail when one row is edited).
. "$(dirname "$0")/lib.sh"
README=${README:-README.md}

# The first table under the heading line $1: its lines, up to the first that is not a row.
readme_table() {
    awk -v h="$1" '$0 == h { on = 1; next }
                   on && /^#/ { exit }
                   on && /^\|/ { rows = 1; print; next }
                   rows { exit }' "$README"
}

check_table() { # check_table NAME HEADING WHICH
    local want
    want=$("$WARDEN" catalog --markdown "$3") || { fail "$1" "warden catalog failed"; return; }
    if [ -n "$want" ] && [ "$(readme_table "$2")" = "$want" ]; then
        pass "$1"
    else
        fail "$1" "$(diff <(readme_table "$2") <(printf '%s\n' "$want") | head -5 | tr '\n' ' ')"
    fi
}

check_table readme-alert-table-is-catalogue "### The alerts" alerts
check_table readme-recommendation-table-is-catalogue "### Recommendations" recommendations
"$WARDEN" catalog --markdown nonsense 2>/dev/null
check catalog-unknown-table-is-usage "$?" 2
exit $NFAIL
