/*
 * imports/intel.h: threat-intelligence lists (SPEC 4.4). `warden intel load
 * | list | drop` is import_cmd_intel() in imports.h; this header is what the
 * evaluator and the fuzz target use: the parser
 * of one list line, the in-memory matcher built from intel_ranges, the bogon
 * table, and a version number that says when the matcher must be rebuilt.
 *
 * A typical pass:
 *     int64_t v = intel_version(db);
 *     if (v != held_version) { intel_free(in); in = intel_build(db, err, len); held_version = v; }
 *     if ((match_bogons || !intel_is_bogon(&remote)) && intel_match(in, &remote, &list, &cat))
 *         raise IoT_TiConnection;
 */
#ifndef WARDEN_IMPORTS_INTEL_H
#define WARDEN_IMPORTS_INTEL_H

#include "../common/common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sqlite3;

/*
 * Limits of `warden intel load`, so a hostile or broken file cannot make the
 * loader run without bound: a list holds at most INTEL_MAX_ENTRIES addresses
 * or CIDRs (5,000,000; FireHOL's largest sets are under a million), a line
 * is at most INTEL_MAX_LINE bytes (4096) before its newline, and a category
 * longer than INTEL_MAX_CATEGORY bytes (128) is cut at a character boundary.
 * A file over either of the first two limits is refused as a whole.
 */
#define INTEL_MAX_ENTRIES  5000000
#define INTEL_MAX_LINE     4096
#define INTEL_MAX_CATEGORY 128

/* ---- one line of a list ------------------------------------------------------ */

enum intel_line_kind {
    INTEL_LINE_SKIP, /* blank, or a comment */
    INTEL_LINE_ENTRY /* an address or a CIDR */
};

/*
 * One parsed line. text and category point into the line that was parsed
 * (they are not NUL-terminated); category is NULL when the line gives none.
 * first and last are the first and last address of the range, of the same
 * family (4 or 6) as written: an IPv4-mapped IPv6 CIDR stays IPv6 here and is
 * matched as IPv4 by the matcher.
 */
struct intel_entry {
    enum intel_line_kind kind;
    struct ip_addr first, last;
    int prefix;
    const char *text; /* the address or CIDR as written */
    size_t text_len;
    const char *category;
    size_t category_len;
    bool json; /* the line was a JSON object (an entry, or the metadata line skipped) */
};

/*
 * Parse line[0..len) (without its newline; a trailing CR is ignored). The
 * format, which covers FireHOL .netset, Spamhaus DROP, plain lists and CSV:
 *   - a line whose first non-blank character is `#` or `;` is a comment;
 *   - otherwise the first field is an IPv4 or IPv6 address (a /32 or /128) or
 *     a CIDR of any prefix length, /0 included; host bits are cleared;
 *   - after it, `#` starts a comment; `;` starts a note (Spamhaus DROP's SBL
 *     reference) that becomes the category; `,` starts CSV columns
 *     (`ip,category,score`) whose second is the category and the rest are
 *     ignored; anything else separated by blanks is an ignored extra column;
 *   - a CSV field may be wrapped in one pair of double quotes;
 *   - a line that starts with `{` is one JSON object, as Spamhaus' drop_v4.json
 *     and drop_v6.json write them: {"cidr": ..., "sblid": ..., "rir": ...},
 *     the CIDR its entry and the SBL id its category (other members are
 *     ignored), or the {"type": "metadata", ...} line, which is skipped; a
 *     JSON line without cidr, invalid JSON or nesting deeper than 8 is an
 *     error;
 *   - a category must be printable UTF-8; past INTEL_MAX_CATEGORY it is cut.
 * Returns false with a reason in err when the line is none of these. A CSV
 * header is not an entry: see intel_line_is_header().
 */
bool intel_parse_line(const char *line, size_t len, struct intel_entry *out, char *err,
                      size_t errlen);

/*
 * True when line[0..len) reads as a CSV header ("ip,category,score"): it has
 * a comma and its first field is a word, not an address. The loader allows a
 * header only as the first line that is not blank or a comment.
 */
bool intel_line_is_header(const char *line, size_t len);

/* ---- the matcher ----------------------------------------------------------------- */

/*
 * Overlapping ranges, from one list or several, are attributed by one rule:
 * the most specific range wins (the one holding the fewest addresses), then
 * the list name in byte order, then the category (none first, then byte
 * order). So a /24 on list "b" inside a /16 on list "a" reports "b" for the
 * /24 and "a" for the rest of the /16, whatever order they were loaded in.
 * A range inside ::ffff:0:0/96 (IPv4, or IPv4-mapped IPv6 such as
 * ::ffff:1.2.3.0/120) is an IPv4 range; any other IPv6 range matches IPv6
 * addresses only, even one that covers the mapped block (the ::/8 of a bogon
 * list must not match all IPv4 traffic).
 */
struct intel;

/* One range for intel_build_ranges(): first <= last, both of one family. */
struct intel_range {
    struct ip_addr first, last;
    const char *list;     /* NUL-terminated, not NULL */
    const char *category; /* NUL-terminated, or NULL */
};

/*
 * A matcher for ranges[0..n) (n may be 0). The strings are copied; the
 * caller owns the result and frees it with intel_free(). NULL with a reason
 * in err when a range is malformed or memory runs out.
 */
struct intel *intel_build_ranges(const struct intel_range *ranges, size_t n, char *err,
                                 size_t errlen);

/*
 * A matcher for every range of every list in intel_ranges (db is
 * store_sqlite()'s connection). Rows with malformed addresses are skipped
 * with a warning. NULL with a reason in err on a database error or when
 * memory runs out. The caller owns the result (intel_free()).
 */
struct intel *intel_build(struct sqlite3 *db, char *err, size_t errlen);

void intel_free(struct intel *in);

/*
 * True when ip (IPv4, IPv6 or IPv4-mapped IPv6, which is matched as IPv4) is
 * in a range of the matcher; then *list and *category (either pointer may be
 * NULL) name the attribution, *category being NULL when the list gave none.
 * The strings live as long as the matcher. in may be NULL (no lists).
 */
bool intel_match(const struct intel *in, const struct ip_addr *ip, const char **list,
                 const char **category);

/* Bytes the matcher holds. */
size_t intel_memory(const struct intel *in);

/*
 * A number that changes whenever a list is loaded or dropped (a counter kept
 * in evaluator_state under 'intel_version', bumped in the same transaction):
 * 0 before the first load, -1 when it cannot be read.
 */
int64_t intel_version(struct sqlite3 *db);

/*
 * True for the private, loopback, link-local, multicast, reserved and
 * documentation ranges of SPEC 4.4, which matching skips unless
 * intel.match_bogons is set. An IPv4-mapped IPv6 address is judged as IPv4.
 */
bool intel_is_bogon(const struct ip_addr *ip);

#endif
