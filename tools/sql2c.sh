#!/bin/sh
# Turn the numbered migrations sql/NNN_name.sql into a C table, so the binary
# carries its schema. Usage: sql2c.sh sql/001_init.sql ... > schema.inc
set -e
echo "/* generated from sql/ by tools/sql2c.sh; do not edit */"
for f in "$@"; do
    base=$(basename "$f" .sql)
    ver=$(echo "$base" | sed 's/^0*\([0-9][0-9]*\)_.*/\1/')
    printf '{%s, "%s",\n' "$ver" "$base"
    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$/\\n"/' "$f"
    printf '},\n'
done
