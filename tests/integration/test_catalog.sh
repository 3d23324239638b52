#!/bin/bash
# The README's tables of alert and recommendation types are the catalogue
# (common/catalog.c), row for row: `warden catalog --markdown` prints the rows
# the README must hold. README= points the test at another copy (to prove it
# fails when one row is edited).
. "$(dirname "$0")/lib.sh"
README=${README:-README.md}

# The `| \`IoT_...` rows of the table under heading $1, up to the next heading.
readme_rows() {
    awk -v h="$1" '$0 == h { on = 1; next } on && /^#/ { exit } on && /^\| `IoT_/' "$README"
}

check_table() { # check_table NAME HEADING WHICH
    local want
    want=$("$WARDEN" catalog --markdown "$3") || { fail "$1" "warden catalog failed"; return; }
    if [ -n "$want" ] && [ "$(readme_rows "$2")" = "$want" ]; then
        pass "$1"
    else
        fail "$1" "$(diff <(readme_rows "$2") <(printf '%s\n' "$want") | head -5 | tr '\n' ' ')"
    fi
}

check_table readme-alert-table-is-catalogue "### The alerts" alerts
check_table readme-recommendation-table-is-catalogue "### Recommendations" recommendations
"$WARDEN" catalog --markdown nonsense 2>/dev/null
check catalog-unknown-table-is-usage "$?" 2
exit $NFAIL
