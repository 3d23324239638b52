/*
 * ingest/json_msg.c: the JSON security message, schema 1.0 (SPEC 2.1.2), as
 * legacy agents and early firmware send it.
 *
 * The payload is untrusted. It is read by ingest/jsonread.c, which decides
 * as Jansson would but builds no tree of allocated values: everything it
 * reads, strings included, lives in msg->arena, so what the rows keep needs
 * no copy. Every field is checked for presence and type. Rows are counted
 * before any is filled, so a message that describes too many is refused
 * before it costs memory.
 *
 * Required: AgentId, AgentVersion, MessageSchemaVersion "1.0", Events, and
 * per event EventType, Category, Name, Id and TimestampUTC. Optional but
 * checked when present: IsEmpty, PayloadSchemaVersion, TimestampLocal and
 * Payload (absent means empty). A JSON null counts as absent. Unknown members
 * are ignored, as a newer agent may add some.
 */
#include "decode.h"
#include "jsonread.h"

#include <string.h>
#include <strings.h>

/* Event Ids are GUIDs and Names are short words; both end up as keys. */
#define JSON_MAX_TAG 128

struct enum_name {
    const char *name;
    int value;
};

static const struct enum_name event_types[] = {
    {"Security", 0}, {"Operational", 1}, {"Diagnostic", 2}, {NULL, 0}};
static const struct enum_name categories[] = {
    {"Periodic", 0}, {"Triggered", 1}, {"Aggregated", 2}, {NULL, 0}};
static const struct enum_name protocols[] = {
    {"TCP", STORE_TCP}, {"UDP", STORE_UDP}, {"ICMP", STORE_ICMP}, {NULL, 0}};
static const struct enum_name directions[] = {
    {"In", STORE_DIR_IN}, {"Out", STORE_DIR_OUT}, {NULL, 0}};

/* How a port text reads: one number, several ("22,53", "53248-53250"), or "*". */
enum port_form { PORT_ABSENT, PORT_ONE, PORT_MANY, PORT_ANY };

/* ---- parsing the bytes ------------------------------------------------------- */

/*
 * Duplicate keys are refused: two parsers could read {"Id":"a","Id":"b"}
 * differently, and a security monitor should not guess which one the
 * device meant. A real message nests six levels (root, Events, event,
 * Payload, item, ExtraDetails); INGEST_JSON_MAX_DEPTH is the most allowed.
 */
static const struct jsonread_value *load(const uint8_t *buf, size_t len, struct ingest_msg *msg)
{
    const struct jsonread_value *root;
    enum jsonread_err err;

    if (len == 0) {
        ingest_fail(msg, "json: empty payload");
        return NULL;
    }
    err = jsonread_parse(buf, len, INGEST_JSON_MAX_DEPTH, &msg->arena, &root);
    if (err == JSONREAD_OK)
        return root;
    /*
     * Too deep wins over any other fault, as when the depth was checked before
     * parsing: json_prescan looks at the whole payload, where the reader stops
     * at its first fault. A payload the reader accepts nests no deeper than it
     * allows, so only a refused one needs the look.
     */
    if (json_prescan(buf, len, INGEST_JSON_MAX_DEPTH, 0) != JSON_SCAN_OK)
        ingest_fail(msg, "json: too deep");
    else
        ingest_fail(msg, "json: %s", jsonread_reason(err));
    return NULL;
}

/* ---- fields ------------------------------------------------------------------- */

/* Member key of obj, NULL when absent or JSON null. */
static const struct jsonread_value *member(const struct jsonread_value *obj, const char *key)
{
    const struct jsonread_value *v = jsonread_get(obj, key);

    return v != NULL && v->type == JSONREAD_NULL ? NULL : v;
}

/*
 * String member key, in msg->arena where the reader decoded it: *out is NULL
 * when absent and not required.
 */
static bool take_str(struct ingest_msg *msg, const struct jsonread_value *obj, const char *key,
                     bool required, const char **out)
{
    const struct jsonread_value *v = member(obj, key);

    *out = NULL;
    if (v == NULL)
        return required ? ingest_fail(msg, "json: %s missing", key) : true;
    if (v->type != JSONREAD_STRING)
        return ingest_fail(msg, "json: %s not a string", key);
    *out = v->u.str;
    return true;
}

/*
 * A required short label (event Id, Name): non-empty, bounded and printable,
 * since it becomes a dedup key or a name people read.
 */
static bool take_tag(struct ingest_msg *msg, const struct jsonread_value *obj, const char *key,
                     const char **out)
{
    size_t n;

    if (!take_str(msg, obj, key, true, out))
        return false;
    n = strlen(*out);
    if (n == 0 || n > JSON_MAX_TAG || !text_printable(*out, n))
        return ingest_fail(msg, "json: %s invalid", key);
    return true;
}

/* Enumerated string member; the names compare without case, as agents differ. */
static bool take_enum(struct ingest_msg *msg, const struct jsonread_value *obj, const char *key,
                      const struct enum_name *tab, bool required, int *out)
{
    const char *s;

    if (!take_str(msg, obj, key, required, &s))
        return false;
    if (s == NULL)
        return true;
    for (; tab->name != NULL; tab++) {
        if (strcasecmp(s, tab->name) == 0) {
            *out = tab->value;
            return true;
        }
    }
    return ingest_fail(msg, "json: %s unknown", key);
}

static bool check_bool(struct ingest_msg *msg, const struct jsonread_value *obj, const char *key)
{
    const struct jsonread_value *v = member(obj, key);

    if (v != NULL && v->type != JSONREAD_TRUE && v->type != JSONREAD_FALSE)
        return ingest_fail(msg, "json: %s not a boolean", key);
    return true;
}

/* ISO 8601 member; a missing zone means UTC (time_parse_iso's rule). */
static bool take_time(struct ingest_msg *msg, const struct jsonread_value *obj, const char *key,
                      bool required, int64_t *ms)
{
    const char *s;

    *ms = STORE_NO_TIME;
    if (!take_str(msg, obj, key, required, &s))
        return false;
    if (s != NULL && !time_parse_iso(s, ms))
        return ingest_fail(msg, "json: %s not a date", key);
    return true;
}

/* Decimal digits only, at most max_digits of them; no sign, no spaces. */
static bool parse_decimal(const char *s, size_t n, size_t max_digits, int64_t *out)
{
    int64_t v = 0;

    if (n == 0 || n > max_digits)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* One port number from s[0..n). */
static bool parse_one_port(const char *s, size_t n, int32_t *port)
{
    int64_t v;

    if (!parse_decimal(s, n, 5, &v) || v > 65535)
        return false;
    *port = (int32_t)v;
    return true;
}

/*
 * Port text: "443", "*", or a comma list of ports and ranges ("22,53",
 * "53248-53250", "22,8000-8080"). *first is the first port, -1 for "*".
 * Returns false when the text is none of these.
 */
static bool parse_port_text(const char *s, enum port_form *form, int32_t *first)
{
    bool many = false;

    if (strcmp(s, "*") == 0) {
        *form = PORT_ANY;
        *first = -1;
        return true;
    }
    for (bool at_first = true;; at_first = false) {
        size_t n = strcspn(s, ",");
        const char *dash = memchr(s, '-', n);
        int32_t lo, hi = 0;

        if (dash == NULL) {
            if (!parse_one_port(s, n, &lo))
                return false;
        } else if (!parse_one_port(s, (size_t)(dash - s), &lo) ||
                   !parse_one_port(dash + 1, n - (size_t)(dash - s) - 1, &hi) || hi < lo) {
            return false;
        }
        if (at_first)
            *first = lo;
        many = many || dash != NULL || !at_first;
        if (s[n] == '\0')
            break;
        s += n + 1;
    }
    *form = many ? PORT_MANY : PORT_ONE;
    return true;
}

/*
 * Port member: a string per the schema or, leniently, a JSON integer. *text
 * points at the original string when there was one.
 */
static bool take_port(struct ingest_msg *msg, const struct jsonread_value *obj, const char *key,
                      enum port_form *form, int32_t *port, const char **text)
{
    const struct jsonread_value *v = member(obj, key);

    *form = PORT_ABSENT;
    *port = -1;
    *text = NULL;
    if (v == NULL)
        return true;
    if (v->type == JSONREAD_INTEGER) {
        int64_t i = v->u.integer;
        if (i < 0 || i > 65535)
            return ingest_fail(msg, "json: %s not a port", key);
        *form = PORT_ONE;
        *port = (int32_t)i;
        return true;
    }
    if (v->type != JSONREAD_STRING)
        return ingest_fail(msg, "json: %s not a port", key);
    *text = v->u.str;
    if (!parse_port_text(*text, form, port))
        return ingest_fail(msg, "json: %s not a port", key);
    return true;
}

/*
 * A flow's port must be one number. ICMP has no ports: an ICMP flow may leave
 * them out and they read 0, as in the FlatBuffers records.
 */
static bool take_flow_port(struct ingest_msg *msg, const struct jsonread_value *obj,
                           const char *key, bool icmp, uint16_t *out)
{
    enum port_form form;
    int32_t port;
    const char *text;

    if (!take_port(msg, obj, key, &form, &port, &text))
        return false;
    if (form == PORT_ABSENT && icmp)
        port = 0;
    else if (form == PORT_ABSENT)
        return ingest_fail(msg, "json: %s missing", key);
    else if (form != PORT_ONE)
        return ingest_fail(msg, "json: %s not a port", key);
    *out = (uint16_t)port;
    return true;
}

/*
 * Address member. When wild is not NULL, "*" is accepted and reads as absent
 * (family 0) with *wild set; otherwise only an IPv4 or IPv6 address will do.
 */
static bool take_addr(struct ingest_msg *msg, const struct jsonread_value *obj, const char *key,
                      bool required, bool *wild, struct ip_addr *out)
{
    const char *s;

    memset(out, 0, sizeof(*out));
    if (wild != NULL)
        *wild = false;
    if (!take_str(msg, obj, key, required, &s))
        return false;
    if (s == NULL)
        return true;
    if (wild != NULL && strcmp(s, "*") == 0) {
        *wild = true;
        return true;
    }
    if (!ip_parse(s, out))
        return ingest_fail(msg, "json: %s not an address", key);
    return true;
}

/*
 * ProcessId and UserId: a non-negative JSON integer or a decimal string (the
 * agents differ); -1 when absent or empty.
 */
static bool take_number(struct ingest_msg *msg, const struct jsonread_value *obj, const char *key,
                        int64_t *out)
{
    const struct jsonread_value *v = member(obj, key);

    *out = -1;
    if (v == NULL)
        return true;
    if (v->type == JSONREAD_INTEGER && v->u.integer >= 0) {
        *out = v->u.integer;
        return true;
    }
    if (v->type == JSONREAD_STRING && v->u.str[0] == '\0')
        return true;
    if (v->type == JSONREAD_STRING && parse_decimal(v->u.str, strlen(v->u.str), 18, out))
        return true;
    return ingest_fail(msg, "json: %s not a number", key);
}

/* The compact JSON text of v in the arena, as Jansson's json_dumpb writes it. */
static bool take_dump(struct ingest_msg *msg, const struct jsonread_value *v, const char **out)
{
    if ((*out = jsonread_dump(v, &msg->arena)) == NULL)
        return ingest_fail(msg, "json: out of memory");
    return true;
}

/*
 * ExtraDetails: a map of strings, kept as its JSON text. Numbers and booleans
 * are let through (a HitCount may come as 5 or "5"); nested values are not.
 */
static bool take_details(struct ingest_msg *msg, const struct jsonread_value *obj, const char *key,
                         const char **out)
{
    const struct jsonread_value *v = member(obj, key), *k;

    *out = NULL;
    if (v == NULL)
        return true;
    if (v->type != JSONREAD_OBJECT)
        return ingest_fail(msg, "json: %s not an object", key);
    k = v + 1; /* each member is its key, then its value */
    for (size_t i = 0; i < v->u.count; i++, k += 1 + k[1].skip) {
        if (k[1].type == JSONREAD_OBJECT || k[1].type == JSONREAD_ARRAY)
            return ingest_fail(msg, "json: %s not a string map", key);
    }
    return take_dump(msg, v, out);
}

/* ---- payload items -------------------------------------------------------------- */

/*
 * ConnectionCreate item: one flow. Aggregated events keep StartTimeUtc,
 * EndTimeUtc and HitCount where the agent put them, in ExtraDetails, which
 * becomes the row's details.
 */
static bool decode_flow(struct ingest_msg *msg, const struct jsonread_value *item,
                        struct store_flow *f)
{
    int protocol = STORE_TCP, direction = STORE_DIR_UNKNOWN;

    if (item->type != JSONREAD_OBJECT)
        return ingest_fail(msg, "json: Payload item not an object");
    if (!take_enum(msg, item, "Protocol", protocols, true, &protocol) ||
        !take_enum(msg, item, "Direction", directions, false, &direction))
        return false;
    f->protocol = (uint8_t)protocol;
    f->direction = (uint8_t)direction;
    if (!take_addr(msg, item, "LocalAddress", true, NULL, &f->local) ||
        !take_addr(msg, item, "RemoteAddress", true, NULL, &f->remote) ||
        !take_flow_port(msg, item, "LocalPort", protocol == STORE_ICMP, &f->local_port) ||
        !take_flow_port(msg, item, "RemotePort", protocol == STORE_ICMP, &f->remote_port))
        return false;
    if (!take_number(msg, item, "ProcessId", &f->process_id) ||
        !take_number(msg, item, "UserId", &f->user_id))
        return false;
    return take_str(msg, item, "Executable", false, &f->executable) &&
           take_str(msg, item, "CommandLine", false, &f->commandline) &&
           take_details(msg, item, "ExtraDetails", &f->details);
}

/*
 * The original texts of a listening port's fields that were not one plain
 * value, in the order found; each field at most once.
 */
struct originals {
    const char *key[4], *text[4];
    size_t n;
};

static bool keep_original(struct originals *orig, const char *key, const char *text)
{
    WARDEN_ASSERT(orig->n < 4);
    orig->key[orig->n] = key;
    orig->text[orig->n++] = text;
    return true;
}

/* The originals (one or more) as a JSON object of strings into out, NULL to count; the length. */
static size_t write_originals(const struct originals *orig, char *out)
{
    size_t at = 0;

    for (size_t i = 0; i < orig->n; i++) {
        if (out != NULL)
            out[at] = i == 0 ? '{' : ',';
        at++;
        at += jsonread_quote(orig->key[i], out != NULL ? out + at : NULL);
        if (out != NULL)
            out[at] = ':';
        at++;
        at += jsonread_quote(orig->text[i], out != NULL ? out + at : NULL);
    }
    if (out != NULL)
        out[at] = '}';
    return at + 1;
}

static bool take_originals(struct ingest_msg *msg, const struct originals *orig, const char **out)
{
    size_t n = write_originals(orig, NULL);
    char *p = arena_alloc(&msg->arena, n + 1);

    if (p == NULL)
        return ingest_fail(msg, "json: out of memory");
    write_originals(orig, p);
    p[n] = '\0';
    *out = p;
    return true;
}

/* A listening port's port member, stored as its first port (-1 for "*"). */
static bool take_listen_port(struct ingest_msg *msg, const struct jsonread_value *item,
                             const char *key, bool required, struct originals *orig, int32_t *out)
{
    enum port_form form;
    const char *text;

    if (!take_port(msg, item, key, &form, out, &text))
        return false;
    if (form == PORT_ABSENT && required)
        return ingest_fail(msg, "json: %s missing", key);
    if (form == PORT_MANY || form == PORT_ANY)
        return keep_original(orig, key, text);
    return true;
}

/*
 * The fields of a ListeningPorts item. Ports may be "*", lists or ranges, and
 * addresses "*" (netstat's "*:*"), stored as absent; such texts are collected
 * in orig.
 */
static bool listen_fields(struct ingest_msg *msg, const struct jsonread_value *item,
                          struct originals *orig, struct store_port *p)
{
    int protocol = STORE_TCP;
    bool wild;

    if (!take_enum(msg, item, "Protocol", protocols, true, &protocol))
        return false;
    p->protocol = (uint8_t)protocol;
    if (!take_addr(msg, item, "LocalAddress", true, &wild, &p->local) ||
        (wild && !keep_original(orig, "LocalAddress", "*")))
        return false;
    if (!take_addr(msg, item, "RemoteAddress", false, &wild, &p->remote) ||
        (wild && !keep_original(orig, "RemoteAddress", "*")))
        return false;
    return take_listen_port(msg, item, "LocalPort", true, orig, &p->local_port) &&
           take_listen_port(msg, item, "RemotePort", false, orig, &p->remote_port);
}

static bool decode_listen(struct ingest_msg *msg, const struct jsonread_value *item,
                          struct store_port *p)
{
    struct originals orig = {.n = 0};

    if (item->type != JSONREAD_OBJECT)
        return ingest_fail(msg, "json: Payload item not an object");
    if (!listen_fields(msg, item, &orig, p))
        return false;
    return orig.n == 0 || take_originals(msg, &orig, &p->details);
}

/* "a b", or whichever of a and b is there and not empty; NULL for neither. */
static bool join_words(struct ingest_msg *msg, const char *a, const char *b, const char **out)
{
    size_t na = a != NULL ? strlen(a) : 0, nb = b != NULL ? strlen(b) : 0;
    char *p;

    *out = NULL;
    if (na == 0 && nb == 0)
        return true;
    if ((p = arena_alloc(&msg->arena, na + nb + 2)) == NULL)
        return ingest_fail(msg, "json: out of memory");
    if (na > 0)
        memcpy(p, a, na);
    if (na > 0 && nb > 0)
        p[na++] = ' ';
    if (nb > 0)
        memcpy(p + na, b, nb);
    p[na + nb] = '\0';
    *out = p;
    return true;
}

/*
 * SystemInformation item, mapped onto the three fields the RTOS devices send:
 *   os_info     = OSName and OSVersion ("Ubuntu 18.04.2 LTS (Bionic Beaver)");
 *   kernel_info = KernelVersion when an agent sends one, else OSVersion, which
 *                 is where the Linux agent reports its kernel release;
 *   hw_info     = OsArchitecture ("x86_64"), else HostName: the nearest thing
 *                 to a hardware description this schema has.
 * Everything else (memory figures, BIOS, boot device) stays in details, the
 * whole item as JSON text.
 */
static bool decode_sysinfo(struct ingest_msg *msg, const struct jsonread_value *item,
                           struct store_sysinfo *s)
{
    const char *name, *version, *kernel, *arch, *host;

    if (item->type != JSONREAD_OBJECT)
        return ingest_fail(msg, "json: Payload item not an object");
    if (!take_str(msg, item, "OSName", false, &name) ||
        !take_str(msg, item, "OSVersion", false, &version) ||
        !take_str(msg, item, "KernelVersion", false, &kernel) ||
        !take_str(msg, item, "OsArchitecture", false, &arch) ||
        !take_str(msg, item, "HostName", false, &host))
        return false;
    if (kernel == NULL || *kernel == '\0')
        kernel = version;
    if (arch == NULL || *arch == '\0')
        arch = host;
    return join_words(msg, name, version, &s->os_info) &&
           join_words(msg, kernel, NULL, &s->kernel_info) &&
           join_words(msg, arch, NULL, &s->hw_info) && take_dump(msg, item, &s->details);
}

/* ---- events ------------------------------------------------------------------------ */

static enum ingest_event_kind kind_of(const char *name)
{
    if (strcmp(name, "ConnectionCreate") == 0)
        return EV_NETWORK_ACTIVITY;
    if (strcmp(name, "ListeningPorts") == 0)
        return EV_LISTENING_PORTS;
    if (strcmp(name, "SystemInformation") == 0)
        return EV_SYSTEM_INFO;
    if (strcmp(name, "Heartbeat") == 0)
        return EV_HEARTBEAT;
    return EV_OTHER;
}

/* The event's Payload array, NULL when absent; false on a wrong type. */
static bool payload_of(struct ingest_msg *msg, const struct jsonread_value *event,
                       const struct jsonread_value **out)
{
    *out = member(event, "Payload");
    if (*out != NULL && (*out)->type != JSONREAD_ARRAY)
        return ingest_fail(msg, "json: Payload not an array");
    return true;
}

/* Rows of each kind the message describes, counted before any is decoded. */
struct row_counts {
    size_t flows, ports, sysinfo, other;
};

static bool count_rows(struct ingest_msg *msg, const struct ingest_limits *lim,
                       const struct jsonread_value *events, struct row_counts *rc)
{
    size_t i;
    const struct jsonread_value *event, *payload;
    const char *name;

    memset(rc, 0, sizeof(*rc));
    JSONREAD_EACH(events, i, event) {
        if (event->type != JSONREAD_OBJECT)
            return ingest_fail(msg, "json: event not an object");
        if (!take_tag(msg, event, "Name", &name) || !payload_of(msg, event, &payload))
            return false;
        switch (kind_of(name)) {
        case EV_NETWORK_ACTIVITY:
            rc->flows += jsonread_count(payload);
            break;
        case EV_LISTENING_PORTS:
            rc->ports += jsonread_count(payload);
            break;
        case EV_SYSTEM_INFO:
            rc->sysinfo += jsonread_count(payload);
            break;
        case EV_OTHER:
            rc->other++;
            break;
        case EV_HEARTBEAT:
            break;
        }
    }
    /* The flow limit bounds the other row kinds too: each costs about as much. */
    if (rc->flows > lim->max_flows)
        return ingest_fail(msg, "json: too many flows");
    if (rc->ports > lim->max_flows)
        return ingest_fail(msg, "json: too many ports");
    if (rc->sysinfo > lim->max_flows)
        return ingest_fail(msg, "json: too many SystemInformation items");
    return true;
}

/* Zeroed room for n elements of size bytes, NULL when n is 0. */
static bool alloc_array(struct ingest_msg *msg, size_t n, size_t size, void **out)
{
    *out = NULL;
    if (n == 0)
        return true;
    if (n > SIZE_MAX / size || (*out = arena_alloc(&msg->arena, n * size)) == NULL)
        return ingest_fail(msg, "json: out of memory");
    return true;
}

static bool alloc_rows(struct ingest_msg *msg, size_t n_events, const struct row_counts *rc)
{
    void *events, *flows, *ports, *sysinfo, *other;

    if (!alloc_array(msg, n_events, sizeof(struct ingest_event), &events) ||
        !alloc_array(msg, rc->flows, sizeof(struct store_flow), &flows) ||
        !alloc_array(msg, rc->ports, sizeof(struct store_port), &ports) ||
        !alloc_array(msg, rc->sysinfo, sizeof(struct store_sysinfo), &sysinfo) ||
        !alloc_array(msg, rc->other, sizeof(struct store_event_other), &other))
        return false;
    msg->events = events;
    msg->flows = flows;
    msg->ports = ports;
    msg->sysinfo = sysinfo;
    msg->other = other;
    return true;
}

/* The event members that are not its payload. */
static bool event_header(struct ingest_msg *msg, const struct jsonread_value *event,
                         struct ingest_event *ev)
{
    int ignored;
    const char *schema, *id;
    int64_t local_ms;

    if (!take_enum(msg, event, "EventType", event_types, true, &ignored) ||
        !take_enum(msg, event, "Category", categories, true, &ignored) ||
        !check_bool(msg, event, "IsEmpty") ||
        !take_str(msg, event, "PayloadSchemaVersion", false, &schema))
        return false;
    if (!take_tag(msg, event, "Id", &id))
        return false;
    ev->id = (const uint8_t *)id;
    ev->id_len = strlen(id);
    /* TimestampLocal is checked but not used: without a zone it is ambiguous. */
    return take_time(msg, event, "TimestampUTC", true, &ev->device_ms) &&
           take_time(msg, event, "TimestampLocal", false, &local_ms);
}

/* Decode each payload item of an event into the next free row of its kind. */
static bool event_rows(struct ingest_msg *msg, const struct jsonread_value *event, const char *name,
                       struct ingest_event *ev)
{
    const struct jsonread_value *payload, *item;
    size_t i;
    bool ok = true;

    if (!payload_of(msg, event, &payload))
        return false;
    switch (ev->kind) {
    case EV_NETWORK_ACTIVITY:
        ev->first = msg->n_flows;
        JSONREAD_EACH(payload, i, item) {
            struct store_flow *f = &msg->flows[msg->n_flows++];
            f->device_ms = ev->device_ms;
            if (!(ok = decode_flow(msg, item, f)))
                break;
        }
        ev->count = msg->n_flows - ev->first;
        break;
    case EV_LISTENING_PORTS:
        ev->first = msg->n_ports;
        JSONREAD_EACH(payload, i, item) {
            struct store_port *p = &msg->ports[msg->n_ports++];
            p->device_ms = ev->device_ms;
            if (!(ok = decode_listen(msg, item, p)))
                break;
        }
        ev->count = msg->n_ports - ev->first;
        break;
    case EV_SYSTEM_INFO:
        ev->first = msg->n_sysinfo;
        JSONREAD_EACH(payload, i, item) {
            struct store_sysinfo *s = &msg->sysinfo[msg->n_sysinfo++];
            s->device_ms = ev->device_ms;
            if (!(ok = decode_sysinfo(msg, item, s)))
                break;
        }
        ev->count = msg->n_sysinfo - ev->first;
        break;
    case EV_OTHER: {
        struct store_event_other *o = &msg->other[msg->n_other];
        o->device_ms = ev->device_ms;
        ev->first = msg->n_other++;
        ev->count = 1;
        o->name = name;
        if (payload != NULL)
            ok = take_dump(msg, payload, &o->payload);
        else if ((o->payload = arena_strndup(&msg->arena, "[]", 2)) == NULL)
            ok = ingest_fail(msg, "json: out of memory");
        break;
    }
    case EV_HEARTBEAT:
        break;
    }
    return ok;
}

static bool decode_event(struct ingest_msg *msg, const struct jsonread_value *event,
                         struct ingest_event *ev)
{
    const char *name;

    if (!event_header(msg, event, ev) || !take_tag(msg, event, "Name", &name))
        return false;
    ev->kind = kind_of(name);
    return event_rows(msg, event, name, ev);
}

static bool decode_root(struct ingest_msg *msg, const struct ingest_limits *lim,
                        const struct jsonread_value *root)
{
    const struct jsonread_value *events, *event;
    const char *version;
    struct row_counts rc;
    size_t i;

    if (root->type != JSONREAD_OBJECT)
        return ingest_fail(msg, "json: root not an object");
    if (!take_str(msg, root, "MessageSchemaVersion", true, &version))
        return false;
    if (strcmp(version, "1.0") != 0)
        return ingest_fail(msg, "json: MessageSchemaVersion unsupported");
    if (!take_str(msg, root, "AgentId", true, &msg->module_id) ||
        !take_str(msg, root, "AgentVersion", true, &msg->agent_version))
        return false;
    if ((events = member(root, "Events")) == NULL)
        return ingest_fail(msg, "json: Events missing");
    if (events->type != JSONREAD_ARRAY)
        return ingest_fail(msg, "json: Events not an array");
    if (events->u.count == 0)
        return ingest_fail(msg, "json: Events empty");
    if (events->u.count > lim->max_events)
        return ingest_fail(msg, "json: too many events");
    if (!count_rows(msg, lim, events, &rc) || !alloc_rows(msg, events->u.count, &rc))
        return false;
    JSONREAD_EACH(events, i, event) {
        if (!decode_event(msg, event, &msg->events[msg->n_events++]))
            return false;
    }
    return true;
}

/*
 * Decode a JSON security message into msg. On failure msg->error holds the
 * reason and msg's rows are incomplete; the caller dead-letters the payload
 * and frees msg either way.
 */
bool ingest_decode_json(const uint8_t *buf, size_t len, const struct ingest_limits *lim,
                        struct ingest_msg *msg)
{
    const struct jsonread_value *root = load(buf, len, msg);

    return root != NULL && decode_root(msg, lim, root);
}
