#!/usr/bin/env bash
# Documents as Azure writes them, taking effect on the real lab hub: the
# IotHubs GET body of a hub with another name than the lab's reaches the key
# store the broker plugin reads, so a device whose address the body's
# networkRuleSets do not allow is refused at login (and recorded as
# IpFilterRejected); with an Allow rule for it, it logs in again; the same
# body imported --hub for another hub changes nothing the broker enforces.
# Security groups as Azure writes them: every rule shown on the group page,
# the ones the lab cannot count marked so; the API takes a PUT body and
# refuses a LIST body instead of storing an empty group. Spamhaus' JSON
# lists load with their SBL ids; one with a broken line loads nothing.
. "$(dirname "$0")/web_lib.sh"

KEYS="$T/warden-hub.keys"
HOST=lab.example
w() { "$WARDEN" "$@" --db "$T/warden.db" 2>>"$T/cli.err"; }

# device_login: exit status of one login and publish of the SAS device az-1.
device_login() {
    mosquitto_pub -p "$BROKER_PORT" -i az-1 -u "$HOST/az-1/?api-version=2021-04-12" -P "$DEV_TOKEN" \
        -q 1 -t devices/az-1/messages/events/ -m hello 2>/dev/null
}

# until_login WANT [SECONDS]: poll until a login succeeds (WANT=0) or is refused (WANT=1).
# The plugin rereads the key store when its mtime changes, checked once a second.
until_login() {
    if [ "$1" = 0 ]; then wait_until device_login "${2:-10}"; else wait_until '! device_login' "${2:-10}"; fi
}

cat > "$T/registry.json" <<'EOF'
[{"deviceId": "az-1", "authentication": {"type": "sas", "symmetricKey": {
   "primaryKey": "YXotMS1wcmltYXJ5LWtleS1mb3ItYXp1cmUtZG9jcy0x"}}}]
EOF
w registry import "$T/registry.json" > /dev/null || fail registry-import
start_hub_broker "$KEYS"
start_web --mqtt.username=warden-service --mqtt.password_file="$KEYS" --evaluator.interval=PT1S
DEV_TOKEN=$(w registry token az-1 --host "$HOST")
until_login 0 || fail login-before-filter

# ---- the GET body, named azure-hub-7, for the lab hub (lab-hub) -----------------------
out=$(w hub import tests/fixtures/hubconf/iothub_get_body.json)
check get-body-imported-for-lab-hub "$(echo "$out" | grep -c 'the document is for hub "azure-hub-7"; imported for "lab-hub", the lab hub')" 1
check get-body-enforced "$(echo "$out" | grep -c 'the lab hub now enforces networkRuleSets (default Deny, 2 rules)')" 1
check keystore-rules "$(grep -c '^iprule' "$KEYS")" 2
if until_login 1; then pass get-body-deny-refuses-login
else fail get-body-deny-refuses-login "127.0.0.1 is outside 10.99.0.0/16 and 192.0.2.44"; fi
if wait_sql "SELECT COUNT(*) > 0 FROM hub_operations WHERE reason='IpFilterRejected' AND device_id='az-1'" 1 10
then pass record-ip-filter-rejected; else fail record-ip-filter-rejected; fi

# ---- an Allow rule for the lab's address admits the device again ----------------------
sed 's#"10.99.0.0/16"#"127.0.0.0/8"#' tests/fixtures/hubconf/iothub_get_body.json > "$T/hub-allow.json"
w hub import "$T/hub-allow.json" > /dev/null || fail hub-import-allow
if until_login 0; then pass get-body-allow-rule-admits; else fail get-body-allow-rule-admits; fi

# ---- for another hub: stored, not enforced, said in one line --------------------------
sum=$(sha256sum < "$KEYS")
out=$(w hub import tests/fixtures/hubconf/iothub_get_body.json --hub other-hub)
check other-hub-said "$(echo "$out" | grep -c 'IP filter stored but not enforced: the lab hub is "lab-hub", not "other-hub"')" 1
check other-hub-keystore-unchanged "$(sha256sum < "$KEYS")" "$sum"
check other-hub-stored "$(sql "SELECT json_extract(config_json, '$.networkRuleSets.defaultAction') FROM hub_config WHERE hub='other-hub'")" Deny

# ---- a diagnostic setting is a setting, never a hub named after it --------------------
w hub import tests/fixtures/hubconf/diag_setting_get_body.json > /dev/null || fail setting-import
check setting-not-a-hub "$(sql "SELECT COUNT(*) FROM hub_config WHERE hub='everything-to-storage'")" 0
check setting-for-lab-hub "$(sql "SELECT COUNT(*) FROM hub_diagnostic_settings WHERE hub='lab-hub' AND name='everything-to-storage'")" 1

# ---- security groups: the page and the API ------------------------------------------
w groups import tests/fixtures/groups/azure_get_body.json > /dev/null || fail group-import
check group-page "$(req GET /groups/floor-sensors)" 200
row=$(tr '\n' ' ' < "$T/body" | grep -o '<tr><td class="mono">AmqpD2CMessagesNotInAllowedRange</td>.\{0,400\}</tr>' | head -1)
check group-page-unobservable-marked "$(echo "$row" | grep -c 'not observable in this lab')" 1
check group-page-unobservable-values "$(echo "$row" | grep -c '<td class="num">5</td><td class="num">500</td>')" 1
check group-page-users-listed "$(grep -c '<code>svc-backup</code>' "$T/body")" 1
auth=(-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json')
check api-put-body "$(req PUT /api/v1/security-groups/pumps "${auth[@]}" --data-binary @tests/fixtures/groups/azure_put_body.json)" 200
check api-put-body-kept "$(json "(SELECT json_extract(r.value, '$.maxThreshold') FROM json_each(j, '$.properties.timeWindowRules') r WHERE json_extract(r.value, '$.ruleType') = 'HttpD2CMessagesNotInAllowedRange')")" 44
check api-list-body-refused "$(req PUT /api/v1/security-groups/listed "${auth[@]}" --data-binary @tests/fixtures/groups/azure_list_body.json)" 400
check api-list-body-says-why "$(grep -c 'a LIST body' "$T/body")" 1
check api-list-body-stored-nothing "$(sql "SELECT COUNT(*) FROM security_groups WHERE name='listed'")" 0

# ---- Spamhaus' JSON lists ----------------------------------------------------------
w intel load tests/fixtures/intel/spamhaus_drop_v4.json --name drop > /dev/null || fail intel-json-v4
w intel load tests/fixtures/intel/spamhaus_drop_v6.json --name drop6 > /dev/null || fail intel-json-v6
check intel-json-sbl-ids "$(sql "SELECT group_concat(source || '=' || category, ' ') FROM (SELECT * FROM intel_ranges WHERE list IN ('drop', 'drop6') ORDER BY list, source)")" \
    "103.77.240.0/21=SBL700102 185.250.44.0/24=SBL700103 198.51.100.0/24=SBL700104 45.140.8.0/22=SBL700101 2403:7e00::/32=SBL700202 2a0d:5e40::/29=SBL700201"
"$WARDEN" intel load tests/fixtures/intel/spamhaus_drop_bad_line.json --name drop --db "$T/warden.db" > /dev/null 2> "$T/intel.err"
check intel-json-bad-line-exit "$?" 2
check intel-json-bad-line-number "$(grep -c 'spamhaus_drop_bad_line.json:3: invalid JSON' "$T/intel.err")" 1
check intel-json-bad-line-kept-list "$(sql "SELECT entries FROM intel_lists WHERE name='drop'")" 4

[ "$NFAIL" -eq 0 ]
