/*
 * Unit tests of the hub operation record decoder (ingest/hubrec.c, SPEC 2.4,
 * and ingest/hubazure.c): a fixture per category from tests/fixtures/hub/
 * decoded field by field, invalid elements reported alone among valid ones,
 * hostile payloads refused as a whole, and IoT Hub's own logs in Azure's
 * shapes mapped onto the same records (an unmappable one kept as Unknown).
 * Run from the repository root.
 */
#include "../../ingest/decode.h"
#include "check.h"

#include <stdlib.h>

#define ARENA_CAP       (1u << 20)
#define MAX_RECORDS     4096
#define RECV_MS         1796000000000LL
#define T_20261129_1000 1795946400000LL /* 2026-11-29T10:00:00Z in unix ms */

/* One decoded payload and the arena that holds it. */
struct decoded {
    struct arena arena;
    struct ingest_hubrecs recs;
    const char *why;
    bool ok;
};


static void decode_bytes(struct decoded *d, const void *buf, size_t len, size_t max_records)
{
    arena_init(&d->arena, ARENA_CAP);
    d->ok = ingest_decode_hubrecs(buf, len, "lab-hub", RECV_MS, max_records, &d->arena, &d->recs,
                                  &d->why);
}

static void decode_text(struct decoded *d, const char *text)
{
    decode_bytes(d, text, strlen(text), MAX_RECORDS);
}

static void decode_fixture(struct decoded *d, const char *name)
{
    char path[256];
    size_t len;
    char *buf;

    snprintf(path, sizeof(path), "tests/fixtures/hub/%s", name);
    buf = slurp(path, &len);
    decode_bytes(d, buf, len, MAX_RECORDS);
    free(buf);
}

static void done(struct decoded *d)
{
    arena_free(&d->arena);
}

/* Expect the payload as a whole to be refused with reason. */
static void expect_unusable(const char *text, const char *reason)
{
    struct decoded d;

    decode_text(&d, text);
    CHECK(!d.ok);
    CHECK_STR(d.why, reason);
    CHECK_INT(d.recs.n, 0);
    done(&d);
}

/* Expect one record (members `rec`) to be refused alone with reason. */
static void expect_invalid(const char *rec, const char *reason)
{
    char text[4096];
    struct decoded d;

    snprintf(text, sizeof(text),
             "[{\"category\":\"C2DCommands\",\"operation\":\"reject\",\"deviceId\":\"ok\"},{%s}]",
             rec);
    decode_text(&d, text);
    CHECK(d.ok);
    CHECK_INT(d.recs.n, 2);
    if (d.ok && d.recs.n == 2) {
        CHECK_STR(d.recs.errors[0], NULL);
        CHECK_STR(d.recs.ops[0].category, "C2DCommands");
        CHECK_STR(d.recs.errors[1], reason);
        CHECK_STR(d.recs.ops[1].category, NULL);
        CHECK(d.recs.raw[1] != NULL && d.recs.raw[1][0] == '{');
    }
    done(&d);
}

/* Expect one record (members `rec`) to be accepted. */
static void expect_valid(const char *rec)
{
    char text[4096];
    struct decoded d;

    snprintf(text, sizeof(text), "{%s}", rec);
    decode_text(&d, text);
    CHECK(d.ok);
    CHECK_INT(d.recs.n, 1);
    if (d.ok && d.recs.n == 1)
        CHECK_STR(d.recs.errors[0], NULL);
    done(&d);
}

#define REC "\"category\":\"C2DCommands\",\"operation\":\"reject\""

/* ---- each category of SPEC 2.4 -------------------------------------------------------- */

static void hub_single_object_connection_failed(void)
{
    struct decoded d;
    const struct store_hubop *op;

    decode_fixture(&d, "connections_failed.json");
    CHECK(d.ok);
    CHECK_STR(d.why, NULL);
    CHECK_INT(d.recs.n, 1);
    if (d.recs.n == 1) {
        op = &d.recs.ops[0];
        CHECK_STR(d.recs.errors[0], NULL);
        CHECK_STR(d.recs.raw[0], NULL);
        CHECK_INT(op->time_ms, T_20261129_1000);
        CHECK_STR(op->hub, "lab-hub");
        CHECK_STR(op->category, "Connections");
        CHECK_STR(op->operation, "deviceConnect");
        CHECK_STR(op->result, "Failed");
        CHECK_STR(op->reason, "SasTokenExpired");
        CHECK_STR(op->device_id, "dev-17");
        CHECK_STR(op->source_ip, "192.0.2.10");
        CHECK_STR(op->details, "{\"protocol\":\"mqtt\",\"authType\":\"sas\"}");
        CHECK_INT(op->count, 1);
    }
    done(&d);
}

static void hub_connection_auth_failures(void)
{
    struct decoded d;
    const struct store_hubop *op;

    decode_fixture(&d, "connections_auth.json");
    CHECK(d.ok);
    CHECK_INT(d.recs.n, 4);
    if (d.recs.n != 4)
        goto out;
    for (size_t i = 0; i < 4; i++) {
        CHECK_STR(d.recs.errors[i], NULL);
        CHECK_STR(d.recs.ops[i].category, "Connections");
        CHECK_STR(d.recs.ops[i].operation, "deviceConnect");
        CHECK_INT(d.recs.ops[i].time_ms, T_20261129_1000 + 1000 * (int64_t)(i + 1));
    }
    op = &d.recs.ops[0];
    CHECK_STR(op->reason, "SasTokenInvalidSignature");
    CHECK_STR(op->source_ip, "2001:db8::10"); /* canonical form */
    CHECK_INT(op->count, 25);
    CHECK_STR(op->details, NULL);
    CHECK_STR(d.recs.ops[1].reason, "X509ThumbprintMismatch");
    CHECK_STR(d.recs.ops[1].device_id, "cam-03");
    CHECK_STR(d.recs.ops[1].source_ip, NULL);
    CHECK_STR(d.recs.ops[2].reason, "X509CertificateExpired");
    CHECK_STR(d.recs.ops[3].result, "Succeeded");
    CHECK_STR(d.recs.ops[3].reason, NULL);
out:
    done(&d);
}

static void hub_c2d_commands(void)
{
    struct decoded d;

    decode_fixture(&d, "c2d_commands.json");
    CHECK(d.ok);
    CHECK_INT(d.recs.n, 3);
    if (d.recs.n == 3) {
        CHECK_STR(d.recs.ops[0].operation, "reject");
        CHECK_INT(d.recs.ops[0].count, 3);
        CHECK_STR(d.recs.ops[1].operation, "purge");
        CHECK_INT(d.recs.ops[1].count, 1);
        CHECK_STR(d.recs.ops[2].operation, "send");
        CHECK_INT(d.recs.ops[2].count, 1000000);
        CHECK_INT(d.recs.ops[2].time_ms, RECV_MS); /* no time: the received time */
        for (size_t i = 0; i < 3; i++) {
            CHECK_STR(d.recs.errors[i], NULL);
            CHECK_STR(d.recs.ops[i].category, "C2DCommands");
            CHECK_STR(d.recs.ops[i].device_id, "dev-17");
        }
    }
    done(&d);
}

static void hub_direct_methods_and_twins(void)
{
    struct decoded d;

    decode_fixture(&d, "methods_twins.json");
    CHECK(d.ok);
    CHECK_INT(d.recs.n, 2);
    if (d.recs.n == 2) {
        CHECK_STR(d.recs.ops[0].category, "DirectMethods");
        CHECK_STR(d.recs.ops[0].operation, "invoke");
        CHECK_INT(d.recs.ops[0].time_ms, T_20261129_1000 + 120000 - 3600000); /* +01:00 */
        CHECK_STR(d.recs.ops[0].details, "{\"methodName\":\"reboot\"}");
        CHECK_STR(d.recs.ops[1].category, "TwinOperations");
        CHECK_STR(d.recs.ops[1].operation, "update");
        CHECK_STR(d.recs.ops[1].details, "{\"section\":\"desired\"}");
    }
    done(&d);
}

static void hub_unauthorized_result_or_reason(void)
{
    struct decoded d;

    decode_fixture(&d, "unauthorized.json");
    CHECK(d.ok);
    CHECK_INT(d.recs.n, 2);
    if (d.recs.n == 2) {
        CHECK_STR(d.recs.ops[0].result, "Unauthorized");
        CHECK_STR(d.recs.ops[0].source_ip, "198.51.100.23");
        CHECK_STR(d.recs.ops[1].result, "Failed");
        CHECK_STR(d.recs.ops[1].reason, "Unauthorized");
    }
    done(&d);
}

static void hub_certificates(void)
{
    struct decoded d;

    decode_fixture(&d, "certificates.json");
    CHECK(d.ok);
    CHECK_INT(d.recs.n, 2);
    if (d.recs.n == 2) {
        CHECK_STR(d.recs.ops[0].category, "Certificates");
        CHECK_STR(d.recs.ops[0].operation, "write");
        CHECK_STR(d.recs.ops[0].result, "Succeeded");
        CHECK_STR(d.recs.ops[0].device_id, NULL); /* hub-scoped */
        CHECK_STR(d.recs.ops[0].details, "{\"certificateName\":\"rogue-ca\"}");
        CHECK_STR(d.recs.ops[1].operation, "delete");
        CHECK_STR(d.recs.ops[1].result, "Failed");
        CHECK_STR(d.recs.ops[1].details, "{\"certificateName\":\"lab-root\"}");
        CHECK_INT(d.recs.ops[1].time_ms, T_20261129_1000 + 270000);
    }
    done(&d);
}

static void hub_diagnostic_settings_keep_config(void)
{
    struct decoded d;

    decode_fixture(&d, "diagnostic_settings.json");
    CHECK(d.ok);
    CHECK_INT(d.recs.n, 2);
    if (d.recs.n == 2) {
        CHECK_STR(d.recs.errors[0], NULL);
        CHECK_STR(d.recs.ops[0].category, "DiagnosticSettings");
        CHECK_STR(d.recs.ops[0].operation, "write");
        CHECK_STR(d.recs.ops[0].details,
                  "{\"settingName\":\"to-disk\",\"config\":{\"name\":\"to-disk\",\"logs\":[{"
                  "\"category\":\"Connections\",\"enabled\":true,\"retentionPolicy\":{"
                  "\"enabled\":true,\"days\":365}}]}}");
        CHECK_STR(d.recs.ops[1].operation, "delete");
        CHECK_STR(d.recs.ops[1].details, "{\"settingName\":\"to-disk\"}");
    }
    done(&d);
}

static void hub_unknown_category_is_accepted(void)
{
    struct decoded d;

    decode_fixture(&d, "unknown_category.json");
    CHECK(d.ok);
    CHECK_INT(d.recs.n, 1);
    if (d.recs.n == 1) {
        CHECK_STR(d.recs.errors[0], NULL);
        CHECK_STR(d.recs.ops[0].category, "FileUploadOperations");
        CHECK_STR(d.recs.ops[0].operation, "initiate");
        CHECK_STR(d.recs.ops[0].details, "{\"blobUri\":\"https://blob.example/x\"}");
    }
    done(&d);
}

static void hub_one_invalid_element_among_valid_ones(void)
{
    struct decoded d;

    decode_fixture(&d, "one_invalid.json");
    CHECK(d.ok);
    CHECK_INT(d.recs.n, 3);
    if (d.recs.n == 3) {
        CHECK_STR(d.recs.errors[0], NULL);
        CHECK_STR(d.recs.errors[1], "hub: count out of range");
        CHECK_STR(d.recs.errors[2], NULL);
        CHECK_STR(d.recs.raw[0], NULL);
        /* The element's own bytes, as sent. */
        CHECK_STR(d.recs.raw[1], "{\"time\": \"2026-11-29T10:08:01Z\", \"category\": \"C2DCommands\", "
                                 "\"operation\": \"reject\",\n   \"result\": \"Succeeded\", "
                                 "\"deviceId\": \"dev-17\", \"count\": 0}");
        CHECK_INT(d.recs.raw_len[1], strlen(d.recs.raw[1]));
        CHECK_STR(d.recs.raw[2], NULL);
        CHECK_STR(d.recs.ops[0].device_id, "dev-17");
        CHECK_STR(d.recs.ops[1].category, NULL); /* zeroed */
        CHECK_INT(d.recs.ops[1].count, 0);
        CHECK_STR(d.recs.ops[2].device_id, "dev-18");
        CHECK_STR(d.recs.ops[2].operation, "purge");
    }
    done(&d);
}

static void hub_empty_array_has_no_records(void)
{
    struct decoded d;

    decode_text(&d, " [ ] ");
    CHECK(d.ok);
    CHECK_INT(d.recs.n, 0);
    done(&d);
}

/* ---- one bad record among good ones ------------------------------------------------------ */

static void hub_count_0_1000001_and_string_are_invalid(void)
{
    expect_invalid(REC ",\"count\":0", "hub: count out of range");
    expect_invalid(REC ",\"count\":1000001", "hub: count out of range");
    expect_invalid(REC ",\"count\":-3", "hub: count out of range");
    expect_invalid(REC ",\"count\":\"5\"", "hub: count not an integer");
    expect_invalid(REC ",\"count\":2.5", "hub: count not an integer");
    expect_invalid(REC ",\"count\":true", "hub: count not an integer");
    expect_valid(REC ",\"count\":1");
    expect_valid(REC ",\"count\":null");
}

static void hub_device_id_too_long(void)
{
    char rec[512], id[200];

    memset(id, 'd', 129);
    id[128] = '\0';
    snprintf(rec, sizeof(rec), REC ",\"deviceId\":\"%s\"", id);
    expect_valid(rec);
    id[128] = 'd';
    id[129] = '\0';
    snprintf(rec, sizeof(rec), REC ",\"deviceId\":\"%s\"", id);
    expect_invalid(rec, "hub: deviceId longer than 128 characters");
    /* 43 euro signs are 129 bytes but 43 characters: what is wrong is that they are not ASCII. */
    for (int i = 0; i < 43; i++)
        memcpy(id + 3 * i, "\xe2\x82\xac", 3);
    id[129] = '\0';
    snprintf(rec, sizeof(rec), REC ",\"deviceId\":\"%s\"", id);
    expect_invalid(rec, "hub: deviceId not ASCII (IoT Hub allows no other letters, look-alikes "
                        "included)");
}

static void hub_device_id_with_control_character(void)
{
    expect_invalid(REC ",\"deviceId\":\"dev\\u0007bell\"", "hub: deviceId has a control character");
    expect_invalid(REC ",\"deviceId\":\"dev\\t17\"", "hub: deviceId has a control character");
    expect_invalid(REC ",\"deviceId\":\"dev\\u007f\"", "hub: deviceId has a control character");
    expect_invalid(REC ",\"deviceId\":\"\"", "hub: deviceId empty");
    expect_invalid(REC ",\"deviceId\":17", "hub: deviceId not a string");
}

/* IoT Hub's alphabet (issue 14): a look-alike or invisible character is not a device id. */
static void hub_device_id_outside_iot_hub_alphabet(void)
{
    static const char *const not_ascii =
        "hub: deviceId not ASCII (IoT Hub allows no other letters, look-alikes included)";

    expect_valid(REC ",\"deviceId\":\"Dev-1.a%_*?!(),:=@$'z\"");
    expect_invalid(REC ",\"deviceId\":\"capteur-\xc3\xa9t\xc3\xa9\"", not_ascii);
    expect_invalid(REC ",\"deviceId\":\"dev1\xe2\x80\x8b\"", not_ascii);  /* zero-width space */
    expect_invalid(REC ",\"deviceId\":\"d\xd0\xb5v1\"", not_ascii);       /* Cyrillic e */
    expect_invalid(REC ",\"deviceId\":\"dev 1\"", "hub: deviceId has a space");
    expect_invalid(REC ",\"deviceId\":\"dev/1\"",
                   "hub: deviceId has a character outside IoT Hub's alphabet (letters, digits, "
                   "-.%_*?!(),:=@$')");
    expect_invalid(REC ",\"deviceId\":\"dev#\"",
                   "hub: deviceId has a character outside IoT Hub's alphabet (letters, digits, "
                   "-.%_*?!(),:=@$')");
}

/*
 * Not UTF-8 is not JSON (RFC 8259). A single object is the payload, refused as a
 * whole; an element of an array is parsed alone, so it alone is refused.
 */
static void hub_device_id_not_utf8(void)
{
    expect_unusable("{" REC ",\"deviceId\":\"\xc0\x80\"}", "hub: invalid UTF-8");
    expect_unusable("{" REC ",\"deviceId\":\"\\ud800\"}", "hub: malformed");
    expect_invalid(REC ",\"deviceId\":\"dev-\xff\"", "hub: invalid UTF-8");
    expect_invalid(REC ",\"deviceId\":\"\\ud800\"", "hub: malformed");
}

static void hub_wrong_types_and_missing_fields(void)
{
    expect_invalid("\"operation\":\"reject\"", "hub: category missing");
    expect_invalid("\"category\":null,\"operation\":\"reject\"", "hub: category missing");
    expect_invalid("\"category\":[],\"operation\":\"reject\"", "hub: category not a string");
    expect_invalid("\"category\":\"\",\"operation\":\"reject\"", "hub: category invalid");
    expect_invalid("\"category\":\"C2D\\nCommands\",\"operation\":\"reject\"",
                   "hub: category invalid");
    expect_invalid("\"category\":\"C2DCommands\"", "hub: operation missing");
    expect_invalid("\"category\":\"C2DCommands\",\"operation\":1", "hub: operation not a string");
    expect_invalid(REC ",\"result\":false", "hub: result not a string");
    expect_invalid(REC ",\"reason\":{}", "hub: reason not a string");
    expect_invalid(REC ",\"time\":1795946400", "hub: time not a string");
    expect_invalid(REC ",\"time\":\"yesterday\"", "hub: time not a date");
    expect_invalid(REC ",\"sourceIp\":\"999.1.1.1\"", "hub: sourceIp not an address");
    expect_invalid(REC ",\"sourceIp\":3221226010", "hub: sourceIp not a string");
    expect_invalid(REC ",\"details\":\"x\"", "hub: details not an object");
    expect_invalid(REC ",\"details\":{\"n\":1}", "hub: details value not a string");
    expect_invalid(REC ",\"details\":{\"config\":{}}", "hub: details value not a string");
    expect_invalid("\"category\":\"DiagnosticSettings\",\"operation\":\"write\","
                   "\"details\":{\"config\":\"to-disk\"}",
                   "hub: details.config not an object");
    expect_invalid("\"category\":\"DiagnosticSettings\",\"operation\":\"write\","
                   "\"details\":{\"settingName\":[\"to-disk\"]}",
                   "hub: details value not a string");
}

static void hub_record_that_is_not_an_object(void)
{
    struct decoded d;

    decode_text(&d, "[42, \"text\", {" REC "}, null]");
    CHECK(d.ok);
    CHECK_INT(d.recs.n, 4);
    if (d.recs.n == 4) {
        CHECK_STR(d.recs.errors[0], "hub: record not an object");
        CHECK_STR(d.recs.raw[0], "42");
        CHECK_STR(d.recs.raw[1], "\"text\"");
        CHECK_STR(d.recs.errors[2], NULL);
        CHECK_STR(d.recs.raw[3], "null");
    }
    done(&d);
}

/* ---- an array's elements, each parsed alone --------------------------------------------- */

/* Decode text (len bytes) and expect n elements, bad ones with these reasons (NULL: valid). */
static void expect_elements(const char *text, size_t len, size_t n, const char *const *reasons)
{
    struct decoded d;

    decode_bytes(&d, text, len, MAX_RECORDS);
    CHECK(d.ok);
    CHECK_STR(d.why, NULL);
    CHECK_INT(d.recs.n, n);
    for (size_t i = 0; d.ok && i < n && i < d.recs.n; i++) {
        CHECK_STR(d.recs.errors[i], reasons[i]);
        CHECK(reasons[i] == NULL || d.recs.raw[i] != NULL);
        if (reasons[i] == NULL)
            CHECK_STR(d.recs.ops[i].category, "C2DCommands");
    }
    done(&d);
}

/* A hub that cut a topic mid-character (issue 14): that record alone is refused. */
static void hub_element_not_utf8_is_refused_alone(void)
{
    static const char text[] = "[{" REC "},{" REC ",\"details\":{\"topic\":\"x/\xc3\xa9\xc3\"}},{" REC "}]";
    static const char *const why[] = {NULL, "hub: invalid UTF-8", NULL};
    struct decoded d;

    expect_elements(text, sizeof(text) - 1, 3, why);
    decode_text(&d, text);
    if (d.ok && d.recs.n == 3) {
        /* The dead letter keeps the element's bytes as they came, invalid ones too. */
        CHECK_STR(d.recs.raw[1], "{" REC ",\"details\":{\"topic\":\"x/\xc3\xa9\xc3\"}}");
        CHECK_INT(d.recs.raw_len[1], strlen(d.recs.raw[1]));
    }
    done(&d);
}

static void hub_element_not_json_is_refused_alone(void)
{
    static const char text[] = "[{" REC "}, {\"category\" \"x\"}, nonsense, {" REC "}}, {" REC
                               ",\"category\":\"Other\"}, {" REC ",\"count\":tru}, {" REC "}]";
    /* "nonsense" reads as a literal cut short (decode.c's cut_short). */
    static const char *const why[] = {NULL,           "hub: malformed",     "hub: truncated",
                                      "hub: trailing data", "hub: duplicate key", "hub: malformed",
                                      NULL};

    expect_elements(text, sizeof(text) - 1, 7, why);
}

/* A NUL byte between tokens: the element's bytes are kept whole, NUL and all. */
static void hub_element_with_a_nul_byte_is_refused_alone(void)
{
    static const char text[] = "[{" REC ",\0\"count\":1},{" REC "}]";
    static const char *const why[] = {"hub: truncated", NULL}; /* Jansson stops at the NUL */
    struct decoded d;

    expect_elements(text, sizeof(text) - 1, 2, why);
    decode_bytes(&d, text, sizeof(text) - 1, MAX_RECORDS);
    if (d.ok && d.recs.n == 2)
        CHECK_INT(d.recs.raw_len[0], strlen("{" REC ",") + 1 + strlen("\"count\":1}"));
    done(&d);
}

/* Brackets, commas and escaped quotes inside strings do not end an element. */
static void hub_element_bounds_skip_strings(void)
{
    static const char text[] = " [ {" REC ",\"details\":{\"a\":\"],}\\\"[{\",\"b\":\"\\\\\"}} ,\n{" REC
                               "} ] \n";
    static const char *const why[] = {NULL, NULL};
    struct decoded d;

    expect_elements(text, sizeof(text) - 1, 2, why);
    decode_text(&d, text);
    if (d.ok && d.recs.n == 2)
        CHECK_STR(d.recs.ops[0].details, "{\"a\":\"],}\\\"[{\",\"b\":\"\\\\\"}");
    done(&d);
}

/* What frames the elements is the payload's: broken, nothing in it is trusted. */
static void hub_broken_array_frame_is_unusable(void)
{
    expect_unusable("[{" REC "},]", "hub: malformed");
    expect_unusable("[,{" REC "}]", "hub: malformed");
    expect_unusable("[{" REC "},,{" REC "}]", "hub: malformed");
    expect_unusable("[{" REC "}", "hub: truncated");
    expect_unusable("[{" REC "},", "hub: truncated");
    expect_unusable("[\"]", "hub: truncated");
    expect_unusable("[{" REC "}] x", "hub: trailing data");
    expect_unusable("[{" REC "}]]", "hub: trailing data");
}

/* 2,000 records as the lab hub sends them, one cut mid-character: 1,999 are kept. */
static void hub_large_batch_keeps_all_but_the_bad_element(void)
{
    size_t cap = 2000 * 400, len = 0, bad = 1234;
    char *buf = malloc(cap);
    struct decoded d;

    buf[len++] = '[';
    for (size_t i = 0; i < 2000; i++)
        len += (size_t)snprintf(buf + len, cap - len,
                                "%s{\"time\":\"2026-11-29T10:00:00.000Z\",\"count\":1,\"category\":"
                                "\"Authorization\",\"operation\":\"publish\",\"result\":"
                                "\"Unauthorized\",\"deviceId\":\"dev-%zu\",\"details\":{\"topic\":"
                                "\"x/%s\"}}",
                                i ? "," : "", i, i == bad ? "\xc3\xa9\xc3" : "\xc3\xa9");
    buf[len++] = ']';
    decode_bytes(&d, buf, len, MAX_RECORDS);
    CHECK(d.ok);
    CHECK_INT(d.recs.n, 2000);
    size_t valid = 0;
    for (size_t i = 0; d.ok && i < d.recs.n; i++)
        valid += d.recs.errors[i] == NULL;
    CHECK_INT(valid, 1999);
    if (d.ok && d.recs.n == 2000) {
        CHECK_STR(d.recs.errors[bad], "hub: invalid UTF-8");
        CHECK_STR(d.recs.ops[bad + 1].device_id, "dev-1235");
    }
    done(&d);
    free(buf);
}

static void hub_source_ip_is_canonical(void)
{
    struct decoded d;

    decode_text(&d, "{" REC ",\"sourceIp\":\"2001:0DB8:0000:0000:0000:0000:0000:0001\"}");
    CHECK(d.ok);
    if (d.recs.n == 1)
        CHECK_STR(d.recs.ops[0].source_ip, "2001:db8::1");
    done(&d);
}

/* ---- payloads unusable as a whole ------------------------------------------------------------ */

static void hub_rejects_top_level_number_or_string(void)
{
    expect_unusable("42", "hub: not an object or array");
    expect_unusable("\"Connections\"", "hub: not an object or array");
    expect_unusable("true", "hub: not an object or array");
    expect_unusable("null", "hub: not an object or array");
}

static void hub_rejects_malformed_and_truncated(void)
{
    expect_unusable("", "hub: empty payload");
    expect_unusable("{\"category\" \"x\"}", "hub: malformed");
    expect_unusable("[{" REC "},]", "hub: malformed");
    expect_unusable("[{" REC "}", "hub: truncated");
    expect_unusable("[{" REC ",\"count\":1", "hub: truncated");
    expect_unusable("[{" REC ",\"count\":tr", "hub: truncated");
    expect_unusable("{" REC "} x", "hub: trailing data");
    expect_unusable("{" REC ",\"category\":\"Other\"}", "hub: duplicate key");
    expect_unusable("{" REC ",\"count\":99999999999999999999999}", "hub: number out of range");
}

static void hub_rejects_depth_10000(void)
{
    char *deep = malloc(20001);

    memset(deep, '[', 10000);
    memset(deep + 10000, ']', 10000);
    deep[20000] = '\0';
    expect_unusable(deep, "hub: too deep");
    free(deep);
    expect_unusable("{" REC ",\"details\":{\"config\":" /* a DiagnosticSettings-sized nest */
                    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}",
                    "hub: too deep");
}

/* An array of 100000 records is refused before Jansson builds it. */
static void hub_rejects_100000_elements_beyond_max_records(void)
{
    size_t n = 100000, len = 0;
    char *buf = malloc(n * 3 + 3);
    struct decoded d;

    buf[len++] = '[';
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            buf[len++] = ',';
        buf[len++] = '{';
        buf[len++] = '}';
    }
    buf[len++] = ']';
    decode_bytes(&d, buf, len, MAX_RECORDS);
    CHECK(!d.ok);
    CHECK_STR(d.why, "hub: too many records");
    CHECK_INT(d.recs.n, 0);
    CHECK_INT(d.arena.used, 0);
    done(&d);
    free(buf);
}

static void hub_max_records_is_inclusive(void)
{
    static const char *three = "[{" REC "},{" REC "},{" REC "}]";
    struct decoded d;

    decode_bytes(&d, three, strlen(three), 3);
    CHECK(d.ok);
    CHECK_INT(d.recs.n, 3);
    done(&d);
    decode_bytes(&d, three, strlen(three), 2);
    CHECK(!d.ok);
    CHECK_STR(d.why, "hub: too many records");
    done(&d);
    /* Commas inside strings and nested values do not count as records. */
    static const char *one = "[{" REC ",\"details\":{\"a\":\",,\\\",,\",\"b\":\"x\"}}]";
    decode_bytes(&d, one, strlen(one), 1);
    CHECK(d.ok);
    CHECK_INT(d.recs.n, 1);
    done(&d);
}

static void hub_fails_cleanly_when_the_arena_is_full(void)
{
    size_t len;
    char *buf = slurp("tests/fixtures/hub/connections_auth.json", &len);
    int ok = 0;

    for (size_t cap = 0; cap < 4096; cap += 16) {
        struct arena a;
        struct ingest_hubrecs recs;
        const char *why;

        arena_init(&a, cap);
        if (ingest_decode_hubrecs((const uint8_t *)buf, len, "lab-hub", RECV_MS, MAX_RECORDS, &a,
                                  &recs, &why)) {
            ok++;
        } else {
            CHECK_STR(why, "hub: out of memory");
            CHECK_INT(recs.n, 0);
        }
        arena_free(&a);
    }
    CHECK(ok > 0);
    free(buf);
}

/* ---- IoT Hub's own logs (ingest/hubazure.c) ------------------------------------------------ */

#define AZ_HUB "/SUBSCRIPTIONS/0000/RESOURCEGROUPS/LAB/PROVIDERS/MICROSOFT.DEVICES/IOTHUBS/LAB-HUB"
/* A refused SAS login as IoT Hub's Connections log writes it: properties is a JSON string. */
#define AZ_CONNECT_401                                                                             \
    "{\"time\":\"2026-11-29T10:00:00Z\",\"resourceId\":\"" AZ_HUB "\","                           \
    "\"operationName\":\"deviceConnect\",\"category\":\"Connections\",\"level\":\"Error\","       \
    "\"resultType\":\"401003\",\"resultDescription\":\"IotHubUnauthorized\",\"durationMs\":\"3\"," \
    "\"location\":\"westeurope\",\"properties\":\"{\\\"deviceId\\\":\\\"dev-17\\\","               \
    "\\\"protocol\\\":\\\"Mqtt\\\",\\\"authType\\\":\\\"{\\\\\\\"scope\\\\\\\":\\\\\\\"device\\\\\\\"," \
    "\\\\\\\"type\\\\\\\":\\\\\\\"sas\\\\\\\"}\\\",\\\"maskedIpAddress\\\":\\\"192.0.2.XXX\\\"}\"}"

static void hub_azure_resource_log_401003_is_a_failed_sas_login(void)
{
    struct decoded d;
    const struct store_hubop *op;

    decode_text(&d, "{\"records\":[" AZ_CONNECT_401 "]}");
    CHECK(d.ok);
    CHECK_INT(d.recs.n, 1);
    if (d.recs.n == 1) {
        op = &d.recs.ops[0];
        CHECK_STR(d.recs.errors[0], NULL);
        CHECK(!d.recs.unknown[0]);
        CHECK_INT(op->time_ms, T_20261129_1000);
        CHECK_STR(op->category, "Connections");
        CHECK_STR(op->operation, "deviceConnect");
        CHECK_STR(op->result, "Failed");
        CHECK_STR(op->reason, "SasTokenInvalidSignature"); /* raises IoT_Invalid_SAS_Token */
        CHECK_STR(op->device_id, "dev-17");
        CHECK_STR(op->source_ip, NULL); /* masked: no address */
        CHECK(op->details != NULL && strstr(op->details, "\"resultType\":\"401003\"") != NULL);
    }
    done(&d);
}

static void hub_azure_properties_not_json_is_kept_as_text(void)
{
    struct decoded d;

    decode_text(&d, "{\"records\":[{\"time\":\"2026-11-29T10:00:00Z\",\"operationName\":\"send\","
                    "\"category\":\"DirectMethods\",\"level\":\"Information\","
                    "\"properties\":\"{\\\"deviceId\\\":<deviceId>,\\\"methodName\\\":x}\"}]}");
    CHECK(d.ok);
    CHECK_INT(d.recs.n, 1);
    if (d.recs.n == 1) {
        CHECK_STR(d.recs.errors[0], NULL);
        CHECK(!d.recs.unknown[0]);
        CHECK_STR(d.recs.ops[0].category, "DirectMethods");
        CHECK_STR(d.recs.ops[0].operation, "invoke");
        CHECK_STR(d.recs.ops[0].result, "Succeeded");
        CHECK_STR(d.recs.ops[0].device_id, NULL);
        CHECK(d.recs.ops[0].details != NULL &&
              strstr(d.recs.ops[0].details, "\"properties\":\"{\\\"deviceId\\\":<deviceId>") !=
                  NULL);
    }
    done(&d);
}

static void hub_azure_storage_archive_objects_back_to_back(void)
{
    struct decoded d;

    decode_text(&d, AZ_CONNECT_401 "\n" AZ_CONNECT_401 AZ_CONNECT_401 "\n");
    CHECK(d.ok);
    CHECK_INT(d.recs.n, 3);
    for (size_t i = 0; i < d.recs.n && i < 3; i++) {
        CHECK_STR(d.recs.errors[i], NULL);
        CHECK_STR(d.recs.ops[i].reason, "SasTokenInvalidSignature");
    }
    done(&d);
    /* A broken frame in a sequence is unusable as a whole, as a broken array is. */
    expect_unusable(AZ_CONNECT_401 "\n{\"operationName\":", "hub: trailing data");
}

static void hub_azure_activity_log_certificate_write(void)
{
    struct decoded d;
    const struct store_hubop *op;

    /* As storage and Event Hubs archive it. */
    decode_text(&d, "{\"records\":[{\"time\":\"2026-11-29T10:00:00Z\",\"resourceId\":\"" AZ_HUB
                    "/CERTIFICATES/LAB-ROOT\",\"operationName\":"
                    "\"MICROSOFT.DEVICES/IOTHUBS/CERTIFICATES/WRITE\",\"category\":\"Write\","
                    "\"resultType\":\"Success\",\"resultSignature\":\"Succeeded.OK\","
                    "\"callerIpAddress\":\"198.51.100.7\",\"level\":\"Information\"}]}");
    CHECK(d.ok);
    CHECK_INT(d.recs.n, 1);
    if (d.recs.n == 1) {
        op = &d.recs.ops[0];
        CHECK_STR(d.recs.errors[0], NULL);
        CHECK_STR(op->category, "Certificates");
        CHECK_STR(op->operation, "write");
        CHECK_STR(op->result, "Succeeded");
        CHECK_STR(op->source_ip, "198.51.100.7");
        CHECK(op->details != NULL && strstr(op->details, "\"certificateName\":\"LAB-ROOT\"") != NULL);
    }
    done(&d);
}

static void hub_azure_activity_log_diagnostic_setting_write(void)
{
    struct decoded d;
    const struct store_hubop *op;

    /* As the REST API lists it, values wrapped in {"value": ...}; the start is not a write. */
    decode_text(&d, "{\"value\":[{\"eventTimestamp\":\"2026-11-29T10:00:00Z\",\"resourceId\":\"" AZ_HUB
                    "/providers/microsoft.insights/diagnosticSettings/to-storage\","
                    "\"operationName\":{\"value\":\"microsoft.insights/diagnosticSettings/write\"},"
                    "\"status\":{\"value\":\"Succeeded\"},\"caller\":\"ops@example.com\"},"
                    "{\"eventTimestamp\":\"2026-11-29T10:00:00Z\",\"resourceId\":\"" AZ_HUB "\","
                    "\"operationName\":{\"value\":\"microsoft.insights/diagnosticSettings/write\"},"
                    "\"status\":{\"value\":\"Started\"}}]}");
    CHECK(d.ok);
    CHECK_INT(d.recs.n, 2);
    if (d.recs.n == 2) {
        op = &d.recs.ops[0];
        CHECK_STR(d.recs.errors[0], NULL);
        CHECK_INT(op->time_ms, T_20261129_1000);
        CHECK_STR(op->category, "DiagnosticSettings");
        CHECK_STR(op->operation, "write");
        CHECK_STR(op->result, "Succeeded");
        CHECK(op->details != NULL && strstr(op->details, "\"settingName\":\"to-storage\"") != NULL &&
              strstr(op->details, "\"caller\":\"ops@example.com\"") != NULL);
        CHECK_STR(d.recs.ops[1].category, "Administrative");
        CHECK_STR(d.recs.ops[1].result, "Started");
    }
    done(&d);
}

static void hub_azure_record_that_cannot_be_mapped_is_kept_as_unknown(void)
{
    struct decoded d;

    decode_text(&d, "{\"records\":[{\"operationName\":42,\"category\":\"Connections\"},"
                    "{\"operationName\":\"deviceConnect\"}," AZ_CONNECT_401 ",17]}");
    CHECK(d.ok);
    CHECK_INT(d.recs.n, 4);
    if (d.recs.n == 4) {
        CHECK_STR(d.recs.errors[0], NULL);
        CHECK(d.recs.unknown[0]);
        CHECK_STR(d.recs.ops[0].category, "Unknown");
        CHECK_STR(d.recs.ops[0].reason, "hub: operationName not a string");
        CHECK(d.recs.ops[0].details != NULL && strstr(d.recs.ops[0].details, "\"record\":") != NULL);
        CHECK(d.recs.unknown[1]);
        CHECK_STR(d.recs.ops[1].reason, "hub: category missing");
        CHECK(!d.recs.unknown[2]);
        CHECK_STR(d.recs.ops[2].category, "Connections");
        CHECK_STR(d.recs.errors[3], "hub: record not an object"); /* not an object: dead letter */
    }
    done(&d);
}

int main(void)
{
    RUN(hub_single_object_connection_failed);
    RUN(hub_connection_auth_failures);
    RUN(hub_c2d_commands);
    RUN(hub_direct_methods_and_twins);
    RUN(hub_unauthorized_result_or_reason);
    RUN(hub_certificates);
    RUN(hub_diagnostic_settings_keep_config);
    RUN(hub_unknown_category_is_accepted);
    RUN(hub_one_invalid_element_among_valid_ones);
    RUN(hub_empty_array_has_no_records);
    RUN(hub_count_0_1000001_and_string_are_invalid);
    RUN(hub_device_id_too_long);
    RUN(hub_device_id_with_control_character);
    RUN(hub_device_id_outside_iot_hub_alphabet);
    RUN(hub_device_id_not_utf8);
    RUN(hub_wrong_types_and_missing_fields);
    RUN(hub_record_that_is_not_an_object);
    RUN(hub_element_not_utf8_is_refused_alone);
    RUN(hub_element_not_json_is_refused_alone);
    RUN(hub_element_with_a_nul_byte_is_refused_alone);
    RUN(hub_element_bounds_skip_strings);
    RUN(hub_broken_array_frame_is_unusable);
    RUN(hub_large_batch_keeps_all_but_the_bad_element);
    RUN(hub_source_ip_is_canonical);
    RUN(hub_rejects_top_level_number_or_string);
    RUN(hub_rejects_malformed_and_truncated);
    RUN(hub_rejects_depth_10000);
    RUN(hub_rejects_100000_elements_beyond_max_records);
    RUN(hub_max_records_is_inclusive);
    RUN(hub_fails_cleanly_when_the_arena_is_full);
    RUN(hub_azure_resource_log_401003_is_a_failed_sas_login);
    RUN(hub_azure_properties_not_json_is_kept_as_text);
    RUN(hub_azure_storage_archive_objects_back_to_back);
    RUN(hub_azure_activity_log_certificate_write);
    RUN(hub_azure_activity_log_diagnostic_setting_write);
    RUN(hub_azure_record_that_cannot_be_mapped_is_kept_as_unknown);
    return CHECK_DONE();
}
