/*
 * common/catalog.c: the catalogue of alert and recommendation types. One
 * long table that reads better whole than split: each row is one type, in the
 * order of the README's tables (which `warden catalog --markdown` prints).
 */
#include "catalog.h"

#include <string.h>

#define TTL "after `evaluator.event_alert_ttl` (default `P1D`) without a repeat"
#define WIN_WHEN "the value of its time-window rule is below `minThreshold` or above `maxThreshold`"
#define WIN_RESOLVES "the first pass back in range, or when the rule is disabled"
#define WIN_FIX "Check what the device was doing in that window (its page shows the counts " \
                "over time). If the activity is expected, widen the rule's range in the device's " \
                "security group; if not, isolate the device."
#define WIN(type, title, label) \
    {type, title, label, "Low", CK_WINDOW, "`device/ruleType`", WIN_WHEN, WIN_RESOLVES, NULL, WIN_FIX}
#define CERT_FIX "If the device was re-provisioned, update its thumbprint in the registry " \
                 "(warden registry import); otherwise treat it as an attempt to impersonate the " \
                 "device and find where the connection came from."
#define SAS_FIX "Make sure the device's clock is right and that it renews its token before " \
                "expiry. A token with a bad signature means a wrong key or a forged token: " \
                "rotate the device's key if it may have leaked."
#define HUB_CERT_FIX "Confirm that someone on the lab team made this change. An unexpected " \
                     "certificate lets whoever holds its key enrol devices: remove it and review " \
                     "who can change the hub."
#define HUB_DIAG_FIX "Confirm that the change was intended: diagnostic settings decide which hub " \
                     "operations are logged, and an attacker may turn them off to hide. Restore " \
                     "the setting if it was not."
#define ALLOW_FIX "If the address is a legitimate endpoint of the device, add it (or its network) " \
                  "to the allow list of the device's security group; otherwise isolate the device."

static const struct catalog_entry alerts[] = {
    {"IoT_TiConnection", "Suspicious IP address communication",
     "Suspicious IP address communication", "Medium", CK_FLOW, "`device/remote-ip`",
     "a flow's remote address is on a loaded threat-intelligence list", TTL, NULL,
     "Find the process on the device that opened the connection and whether the device was "
     "tampered with. Block the address at the lab firewall, and check other devices for traffic "
     "to it (sql/examples/devices_that_talked_to_ip.sql)."},
    {"IoT_CA_ConnectionToIpNotAllowed", "Outbound connection to an IP that isn't allowed",
     "Outbound connection to an IP not allowed", "Low", CK_FLOW, "`device/remote-ip`",
     "an outbound flow (or one whose direction is unknown, as all FlatBuffers flows are) goes "
     "outside the group's `ConnectionToIpNotAllowed` allow list", "likewise", NULL, ALLOW_FIX},
    {"IoT_CA_ConnectionFromIpNotAllowed", "Inbound connection from an IP that isn't allowed",
     "Inbound connection from an IP not allowed", "Low", CK_FLOW, "`device/remote-ip`",
     "an inbound flow comes from outside the `ConnectionFromIpNotAllowed` allow list", "likewise",
     NULL, ALLOW_FIX},
    WIN("IoT_CA_ActiveConnectionsNotInAllowedRange",
        "Number of active connections is not in the allowed range", "Active connections out of range"),
    WIN("IoT_CA_MqttD2CMessagesNotInAllowedRange",
        "Number of device-to-cloud messages (MQTT) is not in the allowed range",
        "Device-to-cloud messages out of range"),
    WIN("IoT_CA_MqttC2DMessagesNotInAllowedRange",
        "Number of cloud-to-device messages (MQTT) is not in the allowed range",
        "Cloud-to-device messages out of range"),
    WIN("IoT_CA_MqttC2DRejectedMessagesNotInAllowedRange",
        "Number of rejected cloud-to-device messages (MQTT) is not in the allowed range",
        "Rejected C2D messages out of range"),
    WIN("IoT_CA_QueuePurgesNotInAllowedRange",
        "Number of command queue purges is not in the allowed range", "Command queue purges out of range"),
    WIN("IoT_CA_DirectMethodInvokesNotInAllowedRange",
        "Number of direct method invokes is not in the allowed range", "Direct method invokes out of range"),
    WIN("IoT_CA_TwinUpdatesNotInAllowedRange", "Number of module twin updates is not in the allowed range",
        "Twin updates out of range"),
    WIN("IoT_CA_UnauthorizedOperationsNotInAllowedRange",
        "Number of unauthorized operations is not in the allowed range",
        "Unauthorized operations out of range"),
    {"IoT_Cert_Print_Mismatch", "X.509 device certificate thumbprint mismatch",
     "X.509 thumbprint mismatch", "Medium", CK_AUTH, "`device`",
     "hub record `deviceConnect` `Failed` `X509ThumbprintMismatch`", "after the TTL without a repeat",
     NULL, CERT_FIX},
    {"IoT_Cert_Expired", "X.509 certificate expired", "X.509 certificate expired", "Medium", CK_AUTH,
     "`device`", "hub record ... `X509CertificateExpired`", "likewise", NULL, CERT_FIX},
    {"IoT_Expired_SAS_Token", "Expired SAS token", "Expired SAS token", "Low", CK_AUTH, "`device`",
     "hub record ... `SasTokenExpired`", "likewise", NULL, SAS_FIX},
    {"IoT_Invalid_SAS_Token", "Invalid SAS token signature", "Invalid SAS token signature", "Low",
     CK_AUTH, "`device`", "hub record ... `SasTokenInvalidSignature`", "likewise", NULL, SAS_FIX},
    {"IoT_CertificateSuccessfullyAddedToHub", "New certificate added to an IoT Hub",
     "Certificate added to a hub", "Medium", CK_HUB_CERT, "`hub/certificate`",
     "hub record `Certificates` `write` `Succeeded`", "stays open until dismissed", NULL, HUB_CERT_FIX},
    {"IoT_CertificateSuccessfullyDeletedFromHub", "Certificate deleted from an IoT Hub",
     "Certificate deleted from a hub", "Medium", CK_HUB_CERT, "`hub/certificate`",
     "hub record `Certificates` `delete` `Succeeded`", "likewise", NULL, HUB_CERT_FIX},
    {"IoT_CertificateFailedToBeAddedToHub", "Unsuccessful attempt to add a certificate to an IoT Hub",
     "Failed certificate add", "Medium", CK_HUB_CERT, "`hub/certificate`",
     "hub record `Certificates` `write` `Failed`", "likewise", NULL, HUB_CERT_FIX},
    {"IoT_CertificateFailedToBeDeletedFromHub",
     "Unsuccessful attempt to delete a certificate from an IoT Hub", "Failed certificate delete",
     "Medium", CK_HUB_CERT, "`hub/certificate`", "hub record `Certificates` `delete` `Failed`",
     "likewise", NULL, HUB_CERT_FIX},
    {"IoT_DiagnosticSettingAddedOrEditedOnHub", "Diagnostic setting of an IoT Hub added or edited",
     "Diagnostic setting added or edited", "Low", CK_HUB_DIAG, "`hub/setting`",
     "hub record `DiagnosticSettings` `write` (any result)", "likewise", NULL, HUB_DIAG_FIX},
    {"IoT_DiagnosticSettingDeletedFromHub", "Diagnostic setting deleted from an IoT Hub",
     "Diagnostic setting deleted", "Low", CK_HUB_DIAG, "`hub/setting`",
     "hub record `DiagnosticSettings` `delete` (any result)", "likewise", NULL, HUB_DIAG_FIX},
    {"IoT_DeviceSilent", "Device silent", "Device silent", "Low", CK_SILENT, "`device`",
     "a registered device sent nothing for `evaluator.silent_after` (default `PT72H`)",
     "when the device sends again", NULL,
     "Check the device's power, network and broker credentials. A device that stops reporting "
     "may have crashed or been taken over; its security module sends a heartbeat every minute "
     "when it runs."},
};
_Static_assert(sizeof(alerts) / sizeof(alerts[0]) == CATALOG_N_ALERTS, "CATALOG_N_ALERTS is the alerts' count");

static const struct catalog_entry recs[] = {
    {"IoT_SharedCredentials", "Identical authentication credentials used by multiple devices",
     NULL, "High", CK_REC, "device", "another device has the same key or thumbprint fingerprint",
     "`recommendations.shared_credentials`",
     "Two or more devices authenticate with the same key or certificate thumbprint. If one "
     "device is compromised, its credentials open every device that shares them, and the "
     "hub cannot tell the devices apart.",
     "Give each device its own key or certificate in the hub's registry, then import the "
     "registry again (warden registry import)."},
    {"IoT_IPFilter_DenyAll", "Default IP filter policy should be deny", NULL, "Medium", CK_REC, "hub",
     "the hub's default action is not Deny, or it has no rules (or no IP filter at all)",
     "`recommendations.ip_filter_deny_all`",
     "The hub's IP filter accepts connections from any address by default (or has no rules), "
     "so anyone who obtains a device credential can connect from anywhere.",
     "Set the hub's default action to Deny and allow only the networks your devices use; "
     "then import the hub configuration again (warden hub import)."},
    {"IoT_IPFilter_PermissiveRule", "IP filter rule includes large IP range", NULL, "Medium", CK_REC,
     "hub, rule",
     "an Allow/Accept rule's prefix is shorter than `recommendations.max_allow_prefix.ipv4` (16) / "
     "`.ipv6` (48)",
     "`recommendations.ip_filter_permissive_rule`",
     "An allow rule of the hub's IP filter covers a very large address range, which lets "
     "far more addresses connect than the devices need.",
     "Narrow the rule to the networks your devices really connect from."},
    {"IoT_DiagnosticsLogs", "Enable diagnostics logs in IoT Hub", NULL, "Low", CK_REC, "hub",
     "no diagnostic setting has an enabled log category with retention off, 0 (forever) or at "
     "least 365 days",
     "`recommendations.diagnostics_logs`",
     "The hub keeps no diagnostic logs for at least a year, so a security incident could "
     "not be investigated after the fact.",
     "Add a diagnostic setting with the log categories enabled and retention off, 0 "
     "(forever) or at least 365 days."},
};
#define N_RECS (sizeof(recs) / sizeof(recs[0]))

const struct catalog_entry *catalog_find(const char *type)
{
    for (size_t i = 0; type != NULL && i < CATALOG_N_ALERTS; i++)
        if (strcmp(alerts[i].type, type) == 0)
            return &alerts[i];
    for (size_t i = 0; type != NULL && i < N_RECS; i++)
        if (strcmp(recs[i].type, type) == 0)
            return &recs[i];
    return NULL;
}

const struct catalog_entry *catalog_alerts(void)
{
    return alerts;
}

const struct catalog_entry *catalog_recs(size_t *n)
{
    *n = N_RECS;
    return recs;
}

void catalog_markdown(FILE *out, int recommendations)
{
    const struct catalog_entry *t = recommendations ? recs : alerts;
    size_t n = recommendations ? N_RECS : CATALOG_N_ALERTS;

    for (size_t i = 0; i < n; i++)
        fprintf(out, "| `%s` — %s | %s | %s | %s | %s |\n", t[i].type, t[i].title, t[i].severity,
                t[i].when, t[i].key, t[i].resolves);
}
