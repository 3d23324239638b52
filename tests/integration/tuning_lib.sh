# Shared by the tuning tests (bash, after lib.sh or web_lib.sh): seven days of a group's
# history (tuning_data.py) in $DB, and the documents the tests use.
#   $T/lab.json    the group "lab" as seeded: D2C and ActiveConnections on, wide ranges
#   $T/tight.json  the same with D2C at [106, 244]: the quiet nights fall below it
#   $EXP           what the baseline must be, worked out by tuning_data.py on its own
DB=$T/warden.db
TO=2026-12-07T00:00:00Z
TO_MS=1796601600000
EXP=$T/expected.json
D2C=MqttD2CMessagesNotInAllowedRange
CONN=ActiveConnectionsNotInAllowedRange

# tuning_seed NAME: migrate, import lab.json, seed; fails NAME and exits on any error.
tuning_seed() {
    cat > "$T/lab.json" <<'JSON'
{"name": "lab", "properties": {"timeWindowRules": [
  {"ruleType": "MqttD2CMessagesNotInAllowedRange", "isEnabled": true, "minThreshold": 0,
   "maxThreshold": 100000, "timeWindowSize": "PT15M"},
  {"ruleType": "ActiveConnectionsNotInAllowedRange", "isEnabled": true, "minThreshold": 0,
   "maxThreshold": 1000, "timeWindowSize": "PT15M"}],
 "allowlistRules": [], "thresholdRules": [], "denylistRules": []}}
JSON
    sed -e '0,/"minThreshold": 0,$/s//"minThreshold": 106,/' \
        -e 's/"maxThreshold": 100000,/"maxThreshold": 244,/' "$T/lab.json" > "$T/tight.json"
    "$WARDEN" db migrate --db "$DB" > /dev/null 2>&1 &&
        "$WARDEN" groups import "$T/lab.json" --db "$DB" > /dev/null &&
        python3 tests/integration/tuning_data.py seed "$DB" "$TO_MS" "$EXP" &&
        [ "$(grep -c '"minThreshold": 106,' "$T/tight.json")" = 1 ] ||
        { fail "$1"; exit 1; }
}
