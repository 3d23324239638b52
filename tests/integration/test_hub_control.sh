#!/bin/bash
# The hub's control plane with the real binary: `warden hub cert|diag` and the
# API under /api/v1/hub/ (with the admin token, without it, with a wrong one)
# change certificates and diagnostic settings, write the hub record of every
# attempt, keep the key store (mode 0640) in step, and `warden evaluate --once`
# then raises the six control-plane alerts from those records, and none from
# the unauthorized attempts.
. "$(dirname "$0")/web_lib.sh"
DB=$T/warden.db
KEYS=$T/warden-hub.keys

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj /CN=lab-root -keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null ||
    { fail openssl-makes-ca; exit 1; }
THUMB=$(openssl x509 -in "$T/ca.pem" -noout -fingerprint -sha1 | cut -d= -f2 | tr -d :)
echo 'this is not a certificate' > "$T/bad.pem"
cat > "$T/diag.json" <<'EOF'
{"name": "to-disk", "logs": [{"category": "Connections", "enabled": true,
  "retentionPolicy": {"enabled": true, "days": 365}}]}
EOF

hub() { "$WARDEN" hub "$@" --db "$DB" >> "$T/cli.log" 2>&1; }

# ---- the command line ----
hub cert add lab-root "$T/ca.pem"; check cli-cert-add "$?" 0
check cli-cert-thumbprint "$(sql "SELECT thumbprint FROM hub_certificates WHERE name = 'lab-root'")" "$THUMB"
check keystore-mode "$(stat -c %a "$KEYS")" 640
keystore_der=$(awk -F'\t' '$1 == "cert" && $2 == "lab-root" {print $3}' "$KEYS")
check keystore-holds-the-certificate \
    "$(echo "$keystore_der" | base64 -d | openssl x509 -inform der -noout -fingerprint -sha1 | cut -d= -f2 | tr -d :)" "$THUMB"
hub cert add lab-root "$T/ca.pem"; check cli-duplicate-is-exit-2 "$?" 2
hub cert add broken "$T/bad.pem"; check cli-invalid-pem-is-exit-2 "$?" 2
hub cert delete ghost "$T/ca.pem"; check cli-unknown-delete-is-exit-2 "$?" 2
hub cert frobnicate x; check cli-usage-is-exit-2 "$?" 2
hub diag set to-disk "$T/diag.json"; check cli-diag-set "$?" 0
check cli-diag-stored "$(sql "SELECT json_extract(config_json, '\$.logs[0].retentionPolicy.days') FROM hub_diagnostic_settings WHERE name = 'to-disk'")" 365
check cli-records "$(sql "SELECT group_concat(category || ' ' || operation || ' ' || result || ' ' || coalesce(reason, '-'), ', ') FROM (SELECT * FROM hub_operations ORDER BY id)")" \
    "Certificates write Succeeded -, Certificates write Failed CertificateAlreadyExists, Certificates write Failed InvalidPem, Certificates delete Failed CertificateNotFound, DiagnosticSettings write Succeeded -"

# ---- the API ----
start_serve
CERT_BODY=$(sqlite3 -batch -noheader :memory: \
    "SELECT json_object('name', 'api-root', 'pem', CAST(readfile('$T/ca.pem') AS TEXT))")
check api-add-without-token "$(req POST /api/v1/hub/certificates -d "$CERT_BODY")" 401
check api-add-wrong-token "$(req POST /api/v1/hub/certificates -H 'Authorization: Bearer nope' -d "$CERT_BODY")" 401
check api-delete-without-token "$(req DELETE /api/v1/hub/certificates/lab-root)" 401
# Repeats within a minute add to one record's count (two records if the minute turned between).
check api-unauthorized-records "$(sql "SELECT group_concat(operation || ' ' || name || ' ' || source_ip || ' ' || n, ', ') FROM (SELECT operation, min(json_extract(details, '\$.certificateName')) AS name, source_ip, sum(count) AS n, min(id) AS first FROM hub_operations WHERE reason = 'Unauthorized' AND result = 'Failed' GROUP BY operation, source_ip ORDER BY first)")" \
    "write api-root 127.0.0.1 2, delete lab-root 127.0.0.1 1"
check api-unauthorized-changed-nothing "$(sql "SELECT group_concat(name) FROM hub_certificates")" lab-root
AUTH="Authorization: Bearer $TOKEN"
check api-add "$(req POST /api/v1/hub/certificates -H "$AUTH" -d "$CERT_BODY")" 201
check api-add-thumbprint "$(json "json_extract(j, '\$.thumbprint')")" "$THUMB"
check api-add-duplicate "$(req POST /api/v1/hub/certificates -H "$AUTH" -d "$CERT_BODY")" 409
check api-add-duplicate-reason "$(json "json_extract(j, '\$.error')")" CertificateAlreadyExists
check api-add-bad-pem "$(req POST /api/v1/hub/certificates -H "$AUTH" -d '{"name": "x", "pem": "nope"}')" 400
grep -q "cert	api-root	" "$KEYS" && pass api-keystore-has-cert || fail api-keystore-has-cert
check api-delete "$(req DELETE /api/v1/hub/certificates/api-root -H "$AUTH")" 200
grep -q "cert	api-root	" "$KEYS" && fail api-keystore-lost-cert || pass api-keystore-lost-cert
check api-delete-again "$(req DELETE /api/v1/hub/certificates/api-root -H "$AUTH")" 404
check api-diag-put "$(req PUT /api/v1/hub/diagnostic-settings/api-diag -H "$AUTH" --data-binary '{"logs": [{"category": "Connections", "enabled": true}]}')" 200
check api-diag-put-answer "$(json "json_extract(j, '\$.name') || ' ' || json_array_length(j, '\$.logs')")" "api-diag 1"
check api-diag-put-invalid "$(req PUT /api/v1/hub/diagnostic-settings/api-diag -H "$AUTH" -d '{"logs": 1}')" 400
check api-diag-delete-without-token "$(req DELETE /api/v1/hub/diagnostic-settings/to-disk)" 401
check api-diag-delete "$(req DELETE /api/v1/hub/diagnostic-settings/to-disk -H "$AUTH")" 200
check api-diag-delete-unknown "$(req DELETE /api/v1/hub/diagnostic-settings/to-disk -H "$AUTH")" 404
stop_pid "$SERVE_PID"

# ---- and the CLI again: deleting the first certificate empties the key store's certs ----
hub cert delete lab-root; check cli-cert-delete "$?" 0
check keystore-lost-cert "$(grep -c '^cert	' "$KEYS")" 0
check keystore-mode-after-delete "$(stat -c %a "$KEYS")" 640

# ---- the evaluator raises the six control-plane alerts from these records ----
"$WARDEN" evaluate --once --db "$DB" >> "$T/eval.log" 2>&1
check evaluate-once "$?" 0
alerts() { sql "SELECT group_concat(alert_key, ' ') FROM (SELECT alert_key FROM alerts WHERE alert_type = '$1' ORDER BY alert_key)"; }
check alert-cert-added "$(alerts IoT_CertificateSuccessfullyAddedToHub)" "lab-hub/api-root lab-hub/lab-root"
check alert-cert-add-failed "$(alerts IoT_CertificateFailedToBeAddedToHub)" "lab-hub/api-root lab-hub/broken lab-hub/lab-root lab-hub/x"
check alert-cert-deleted "$(alerts IoT_CertificateSuccessfullyDeletedFromHub)" "lab-hub/api-root lab-hub/lab-root"
check alert-cert-delete-failed "$(alerts IoT_CertificateFailedToBeDeletedFromHub)" "lab-hub/api-root lab-hub/ghost"
check alert-diag-written "$(alerts IoT_DiagnosticSettingAddedOrEditedOnHub)" "lab-hub/api-diag lab-hub/to-disk"
check alert-diag-deleted "$(alerts IoT_DiagnosticSettingDeletedFromHub)" "lab-hub/to-disk"
# lab-root's unauthorized delete came before its real one; api-root's unauthorized adds
# before its real add: counted by the real records only.
check alert-counts-exclude-unauthorized "$(sql "SELECT count FROM alerts WHERE alert_type = 'IoT_CertificateSuccessfullyDeletedFromHub' AND alert_key = 'lab-hub/lab-root'")" 1
check alert-names-certificate "$(sql "SELECT DISTINCT json_extract(extended_properties, '\$.certificate_name') FROM alerts WHERE alert_key = 'lab-hub/lab-root'")" lab-root
sanitizers_clean hub-control-sanitizers
exit $NFAIL
