/*
 * common/catalog.c: the catalogue of alert and recommendation types (see
 * catalog.h). Two long tables that read better whole than split: each row is
 * one type, in the order of the README's tables, which catalog_markdown()
 * prints. An alert's remediation is stored with every alert of its type
 * (evaluator/alerts.c), so changing one here changes what new alerts say.
 * Calls nothing but libc.
 */
#include "catalog.h"

#include <string.h>

/* A time-window rule's alert: its type is IoT_CA_ and the rule, its key the device and the rule. */
#define WIN(rule, title_, label_, counts)                                                          \
    {                                                                                              \
        .type = "IoT_CA_" rule, .title = title_, .label = label_, .severity = "Low",               \
        .kind = CK_WINDOW, .key = "device/ruleType",                                               \
        .when = "the device's count of " counts " over the window of its group's rule `" rule      \
                "` is below `minThreshold` or above `maxThreshold`",                               \
        .remediation = "Check what the device was doing in that window (its page shows the "      \
                       "counts over time). If the activity is expected, widen the range of " rule  \
                       " in the device's security group; if not, isolate the device and look "     \
                       "for a compromised process or a misbehaving cloud application.",            \
    }

/* The remediation of an allow list's alert: list is the rule, what the device does with the address. */
#define ALLOW_FIX(list, what)                                                                      \
    "If the address is a legitimate endpoint of the device, add it (or its network) to " list     \
    " in the device's security group. Otherwise find what on the device " what " it and "         \
    "isolate the device."
#define CERT_FIX                                                                                   \
    "If the device was re-provisioned, update its thumbprint in the registry (warden registry "   \
    "import); otherwise treat it as an attempt to impersonate the device and find where the "     \
    "connection came from."
#define SAS_FIX                                                                                    \
    "Make sure the device's clock is right and that it renews its token before expiry. A token "  \
    "with a bad signature means a wrong key or a forged token: rotate the device's key if it "    \
    "may have leaked."
#define HUB_CERT_FIX                                                                               \
    "Confirm that someone on the lab team made this change. An unexpected certificate lets "      \
    "whoever holds its key enrol devices: remove it and review who can change the hub."
#define HUB_DIAG_FIX                                                                               \
    "Confirm that the change was intended: diagnostic settings decide which hub operations are "  \
    "logged, and an attacker may turn them off to hide. Restore the setting if it was not."
#define AUTH(type_, title_, label_, sev, reason, fix)                                              \
    {                                                                                              \
        .type = type_, .title = title_, .label = label_, .severity = sev, .kind = CK_AUTH,         \
        .key = "device", .when = "hub record `deviceConnect` `Failed` `" reason "`",               \
        .remediation = fix,                                                                        \
    }
/* A hub control-plane alert: its key is the hub and the certificate or the setting. */
#define CERT(type_, title_, label_, record)                                                        \
    {                                                                                              \
        .type = type_, .title = title_, .label = label_, .severity = "Medium",                     \
        .kind = CK_HUB_CERT, .key = "hub/certificate",                                             \
        .when = "hub record `Certificates` " record, .remediation = HUB_CERT_FIX,                  \
    }
#define DIAG(type_, title_, label_, record)                                                        \
    {                                                                                              \
        .type = type_, .title = title_, .label = label_, .severity = "Low", .kind = CK_HUB_DIAG,   \
        .key = "hub/setting", .when = "hub record `DiagnosticSettings` " record,                   \
        .remediation = HUB_DIAG_FIX,                                                               \
    }

static const struct catalog_entry alerts[] = {
    {
        .type = "IoT_TiConnection",
        .title = "Suspicious IP address communication",
        .label = "Suspicious IP address communication",
        .severity = "Medium",
        .kind = CK_FLOW,
        .key = "device/remote-ip",
        .when = "a flow's remote address is on a loaded threat-intelligence list",
        .remediation = "Find the process on the device that opened the connection and whether "
                       "the device was tampered with. Block the address at the lab firewall, and "
                       "check other devices for traffic to it "
                       "(sql/examples/devices_that_talked_to_ip.sql).",
    },
    {
        .type = "IoT_CA_ConnectionToIpNotAllowed",
        .title = "Outbound connection to an IP that isn't allowed",
        .label = "Outbound connection to an IP not allowed",
        .severity = "Low",
        .kind = CK_FLOW,
        .key = "device/remote-ip",
        .when = "an outbound flow (or one whose direction is unknown, as all FlatBuffers flows "
                "are) goes outside the group's `ConnectionToIpNotAllowed` allow list",
        .remediation = ALLOW_FIX("ConnectionToIpNotAllowed", "connects to"),
    },
    {
        .type = "IoT_CA_ConnectionFromIpNotAllowed",
        .title = "Inbound connection from an IP that isn't allowed",
        .label = "Inbound connection from an IP not allowed",
        .severity = "Low",
        .kind = CK_FLOW,
        .key = "device/remote-ip",
        .when = "an inbound flow comes from outside the group's `ConnectionFromIpNotAllowed` "
                "allow list",
        .remediation = ALLOW_FIX("ConnectionFromIpNotAllowed", "accepts connections from"),
    },
    WIN("ActiveConnectionsNotInAllowedRange",
        "Number of active connections is not in the allowed range",
        "Active connections out of range",
        "distinct flows (protocol, local and remote address and port)"),
    WIN("MqttD2CMessagesNotInAllowedRange",
        "Number of device-to-cloud messages (MQTT) is not in the allowed range",
        "Device-to-cloud messages out of range",
        "device-to-cloud messages, security messages included,"),
    WIN("MqttC2DMessagesNotInAllowedRange",
        "Number of cloud-to-device messages (MQTT) is not in the allowed range",
        "Cloud-to-device messages out of range", "cloud-to-device messages"),
    WIN("MqttC2DRejectedMessagesNotInAllowedRange",
        "Number of rejected cloud-to-device messages (MQTT) is not in the allowed range",
        "Rejected C2D messages out of range", "rejected C2D messages (hub records)"),
    WIN("QueuePurgesNotInAllowedRange", "Number of command queue purges is not in the allowed range",
        "Command queue purges out of range", "command queue purges (hub records)"),
    WIN("DirectMethodInvokesNotInAllowedRange",
        "Number of direct method invokes is not in the allowed range",
        "Direct method invokes out of range", "direct method invokes"),
    WIN("TwinUpdatesNotInAllowedRange", "Number of module twin updates is not in the allowed range",
        "Twin updates out of range", "twin and module twin updates"),
    WIN("UnauthorizedOperationsNotInAllowedRange",
        "Number of unauthorized operations is not in the allowed range",
        "Unauthorized operations out of range", "unauthorized operations (hub records)"),
    AUTH("IoT_Cert_Print_Mismatch", "X.509 device certificate thumbprint mismatch",
         "X.509 thumbprint mismatch", "Medium", "X509ThumbprintMismatch", CERT_FIX),
    AUTH("IoT_Cert_Expired", "X.509 certificate expired", "X.509 certificate expired", "Medium",
         "X509CertificateExpired", CERT_FIX),
    AUTH("IoT_Expired_SAS_Token", "Expired SAS token", "Expired SAS token", "Low",
         "SasTokenExpired", SAS_FIX),
    AUTH("IoT_Invalid_SAS_Token", "Invalid SAS token signature", "Invalid SAS token signature",
         "Low", "SasTokenInvalidSignature", SAS_FIX),
    CERT("IoT_CertificateSuccessfullyAddedToHub", "New certificate added to an IoT Hub",
         "Certificate added to a hub", "`write` `Succeeded`"),
    CERT("IoT_CertificateSuccessfullyDeletedFromHub", "Certificate deleted from an IoT Hub",
         "Certificate deleted from a hub", "`delete` `Succeeded`"),
    CERT("IoT_CertificateFailedToBeAddedToHub",
         "Unsuccessful attempt to add a certificate to an IoT Hub", "Failed certificate add",
         "`write` `Failed`"),
    CERT("IoT_CertificateFailedToBeDeletedFromHub",
         "Unsuccessful attempt to delete a certificate from an IoT Hub",
         "Failed certificate delete", "`delete` `Failed`"),
    DIAG("IoT_DiagnosticSettingAddedOrEditedOnHub",
         "Diagnostic setting of an IoT Hub added or edited", "Diagnostic setting added or edited",
         "`write` (any result)"),
    DIAG("IoT_DiagnosticSettingDeletedFromHub", "Diagnostic setting deleted from an IoT Hub",
         "Diagnostic setting deleted", "`delete` (any result)"),
    {
        .type = "IoT_DeviceSilent",
        .title = "Device silent",
        .label = "Device silent",
        .severity = "Low",
        .kind = CK_SILENT,
        .key = "device",
        .when = "a registered device sent nothing for `evaluator.silent_after` (default `PT72H`)",
        .remediation = "Check the device's power, network and broker credentials. A device that "
                       "stops reporting may have crashed or been taken over; its security module "
                       "sends a heartbeat every minute when it runs.",
    },
};
_Static_assert(sizeof(alerts) / sizeof(alerts[0]) == CATALOG_N_ALERTS,
               "CATALOG_N_ALERTS is the number of alert types");

static const struct catalog_entry recs[] = {
    {
        .type = "IoT_SharedCredentials",
        .title = "Identical authentication credentials used by multiple devices",
        .severity = "High",
        .kind = CK_REC,
        .key = "device",
        .when = "another device has the same key or thumbprint fingerprint",
        .why = "Two or more devices authenticate with the same key or certificate thumbprint. If "
               "one device is compromised, its credentials open every device that shares them, "
               "and the hub cannot tell the devices apart.",
        .remediation = "Give each device its own key or certificate in the hub's registry, then "
                       "import the registry again (warden registry import).",
        .setting = "recommendations.shared_credentials",
    },
    {
        .type = "IoT_IPFilter_DenyAll",
        .title = "Default IP filter policy should be deny",
        .severity = "Medium",
        .kind = CK_REC,
        .key = "hub",
        .when = "the hub's default action is not Deny, or it has no rules (or no IP filter at all)",
        .why = "The hub's IP filter accepts connections from any address by default (or has no "
               "rules), so anyone who obtains a device credential can connect from anywhere.",
        .remediation = "Set the hub's default action to Deny and allow only the networks your "
                       "devices use; then import the hub configuration again (warden hub import).",
        .setting = "recommendations.ip_filter_deny_all",
    },
    {
        .type = "IoT_IPFilter_PermissiveRule",
        .title = "IP filter rule includes large IP range",
        .severity = "Medium",
        .kind = CK_REC,
        .key = "hub/filterName",
        .when = "an Allow/Accept rule's prefix is shorter than "
                "`recommendations.max_allow_prefix.ipv4` (16) / `.ipv6` (48)",
        .why = "An allow rule of the hub's IP filter covers a very large address range, which "
               "lets far more addresses connect than the devices need.",
        .remediation = "Narrow the rule to the networks your devices really connect from.",
        .setting = "recommendations.ip_filter_permissive_rule",
    },
    {
        .type = "IoT_DiagnosticsLogs",
        .title = "Enable diagnostics logs in IoT Hub",
        .severity = "Low",
        .kind = CK_REC,
        .key = "hub",
        .when = "no diagnostic setting has an enabled log category with retention off, 0 "
                "(forever) or at least 365 days",
        .why = "The hub keeps no diagnostic logs for at least a year, so a security incident "
               "could not be investigated after the fact.",
        .remediation = "Add a diagnostic setting with the log categories enabled and retention "
                       "off, 0 (forever) or at least 365 days.",
        .setting = "recommendations.diagnostics_logs",
    },
};
#define N_RECS (sizeof(recs) / sizeof(recs[0]))

const char *const catalog_severities[] = {"High", "Medium", "Low", "Informational", NULL};

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

const char *catalog_resolves(enum catalog_kind kind)
{
    switch (kind) {
    case CK_FLOW:
    case CK_AUTH: return "after `evaluator.event_alert_ttl` (default `P1D`) without a repeat";
    case CK_HUB_CERT:
    case CK_HUB_DIAG: return "stays open until dismissed";
    case CK_WINDOW: return "the first pass back in range, or when the rule is disabled";
    case CK_SILENT: return "when the device sends again";
    case CK_REC: break;
    }
    return "at the first pass where it no longer holds";
}

void catalog_markdown(FILE *out, int recommendations)
{
    size_t n;
    const struct catalog_entry *t = recommendations ? catalog_recs(&n) : alerts;

    if (!recommendations) {
        fputs("| alert type | severity | raised when | key | resolves | what to do |\n"
              "|---|---|---|---|---|---|\n",
              out);
        for (size_t i = 0; i < CATALOG_N_ALERTS; i++)
            fprintf(out, "| `%s` — %s | %s | %s | `%s` | %s | %s |\n", t[i].type, t[i].title,
                    t[i].severity, t[i].when, t[i].key, catalog_resolves(t[i].kind),
                    t[i].remediation);
        return;
    }
    fputs("| type | severity | active when | key | switch | why it matters | what to do |\n"
          "|---|---|---|---|---|---|---|\n",
          out);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "| `%s` — %s | %s | %s | `%s` | `%s` | %s | %s |\n", t[i].type, t[i].title,
                t[i].severity, t[i].when, t[i].key, t[i].setting, t[i].why, t[i].remediation);
}
