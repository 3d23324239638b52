/*
 * imports/intelpriv.h: what the files of the threat-intelligence lists share,
 * and nothing outside them may include (SPEC 4.4):
 *
 *   intel_parse.c  one line of a list: the text formats and Spamhaus' JSON lines (the lowest floor)
 *   intel_match.c  the in-memory matcher built from intel_ranges, and the bogon table
 *   intel.c        `warden intel load | list | drop`, and the version counter
 *
 * intel_ranges stores every address as 16 bytes, IPv4 as IPv4-mapped IPv6
 * (::ffff:a.b.c.d): the loader writes that form and the matcher reads it
 * back, so both take it from the helpers below. The helpers are inline, so
 * sharing them makes no file call another.
 */
#ifndef WARDEN_IMPORTS_INTELPRIV_H
#define WARDEN_IMPORTS_INTELPRIV_H

#include "intel.h"

#include <stdio.h>

/* GCC and Clang's 128-bit integer, for address arithmetic while building. */
typedef unsigned __int128 u128;

#define U128_MAX     (~(u128)0)
#define MAPPED_FIRST ((u128)0xffff << 32)         /* ::ffff:0.0.0.0 */
#define MAPPED_LAST  (MAPPED_FIRST | 0xffffffffu) /* ::ffff:255.255.255.255 */

/* A reason in err (when there is room for one), and false. */
static inline bool fail(char *err, size_t errlen, const char *why)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", why);
    return false;
}

static inline bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* ---- addresses as 128-bit numbers ------------------------------------------------ */

static inline u128 u128_from_bytes(const uint8_t b[16])
{
    u128 v = 0;

    for (int i = 0; i < 16; i++)
        v = v << 8 | b[i];
    return v;
}

static inline void u128_to_bytes(u128 v, uint8_t b[16])
{
    for (int i = 15; i >= 0; i--) {
        b[i] = (uint8_t)v;
        v >>= 8;
    }
}

static inline uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static inline uint64_t be64(const uint8_t *b)
{
    return (uint64_t)be32(b) << 32 | be32(b + 4);
}

/* IPv4 becomes ::ffff:a.b.c.d, the form intel_ranges stores. */
static inline u128 ip_to_u128(const struct ip_addr *ip)
{
    if (ip->family == 4)
        return MAPPED_FIRST | be32(ip->b);
    return u128_from_bytes(ip->b);
}

#endif
