/*
 * libFuzzer target for the CONNECT parser and rewriter of the TLS front end
 * (hub/mqttconn.c). Besides the sanitizers' own checks, it asserts what
 * the front end relies on: a parsed packet lies within the input and the
 * cap, every field lies within the packet, and the rewritten packet parses
 * again to the same fields with the user name and password flags set and
 * the new password in place.
 */
#include "../../hub/mqttconn.h"
#include "../../common/common.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_within(struct mqttconn_field f, const uint8_t *p, size_t n)
{
    WARDEN_ASSERT(f.len == 0 || (f.p >= p && f.len <= n && (size_t)(f.p - p) <= n - f.len));
}

static bool same(struct mqttconn_field a, struct mqttconn_field b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t pw[] = "WardenFront1;fuzz";
    struct mqttconn c, r;
    uint8_t *out;
    size_t outlen;
    int n = mqttconn_parse(data, size, &c);

    WARDEN_ASSERT(n >= -1);
    if (n <= 0)
        return 0;
    WARDEN_ASSERT((size_t)n <= size && (size_t)n <= MQTTCONN_MAX_PACKET);
    WARDEN_ASSERT(c.level >= 3 && c.level <= 5);
    check_within(c.proto_name, data, (size_t)n);
    check_within(c.props, data, (size_t)n);
    check_within(c.client_id, data, (size_t)n);
    check_within(c.will_props, data, (size_t)n);
    check_within(c.will_topic, data, (size_t)n);
    check_within(c.will_payload, data, (size_t)n);
    check_within(c.username, data, (size_t)n);
    check_within(c.password, data, (size_t)n);
    /* A shorter prefix is never a whole packet. */
    WARDEN_ASSERT(mqttconn_parse(data, (size_t)n - 1, &r) != n);

    out = mqttconn_rewrite(&c, pw, sizeof(pw) - 1, &outlen);
    WARDEN_ASSERT(out != NULL);
    WARDEN_ASSERT(mqttconn_parse(out, outlen, &r) == (int)outlen);
    WARDEN_ASSERT(r.level == c.level && r.keepalive == c.keepalive);
    WARDEN_ASSERT(r.flags == (c.flags | MQTTCONN_FLAG_USERNAME | MQTTCONN_FLAG_PASSWORD));
    WARDEN_ASSERT(same(r.client_id, c.client_id) && same(r.props, c.props));
    WARDEN_ASSERT(same(r.will_props, c.will_props) && same(r.will_topic, c.will_topic));
    WARDEN_ASSERT(same(r.will_payload, c.will_payload) && same(r.username, c.username));
    WARDEN_ASSERT(r.password.len == sizeof(pw) - 1 &&
                  memcmp(r.password.p, pw, r.password.len) == 0);
    free(out);
    return 0;
}
