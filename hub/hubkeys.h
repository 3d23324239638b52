/*
 * hub/hubkeys.h: the lab hub's key store, the one file the broker plugin
 * reads and Warden's registry and hub commands write.
 *
 * It holds what the monitoring database must not: the devices' symmetric
 * keys, next to what the plugin needs to decide a connection without touching
 * SQLite (thumbprints, the hub's IP filter, the hub's CA certificates and the
 * service secret that Warden and the TLS front end use to prove themselves).
 * The file is written whole to a temporary name and renamed, mode 0640, group
 * `mosquitto` when that group exists, so a reader sees the old or the new
 * version, never half of one; the plugin reloads it when its mtime changes.
 *
 * Format (text, one record a line, fields separated by one TAB, `#` comments):
 *   warden-hub-keys	1
 *   hub	NAME
 *   service	SECRET                       64 hex digits
 *   device	ID	AUTH	PRIMARY	SECONDARY	THUMB1	THUMB2	[disabled]
 *           AUTH is sas|selfSigned|certificateAuthority|none; PRIMARY and
 *           SECONDARY are base64 keys, THUMB1/THUMB2 normalised lowercase hex;
 *           "-" for an empty field. A disabled device (IoT Hub's status
 *           "disabled") has an eighth field; an enabled one's line is as a
 *           store of before it had one, which older plugins still read.
 *   ipfilter	MODE	DEFAULT              MODE rules|legacy, DEFAULT Allow|Deny
 *   iprule	NAME	ACTION	CIDR             ACTION Allow|Deny (rules) or Accept|Reject
 *   cert	NAME	BASE64-DER               a hub (CA) certificate, DER in base64
 */
#ifndef WARDEN_BROKER_HUBKEYS_H
#define WARDEN_BROKER_HUBKEYS_H

#include "../common/common.h"

#include <stdbool.h>
#include <stddef.h>

#define HUB_KEYS_ID_MAX     128  /* device id bytes, as SPEC 2.3 */
#define HUB_KEYS_NAME_MAX   128  /* rule and certificate names */
#define HUB_KEYS_KEY_MAX    512  /* base64 key text */
#define HUB_KEYS_THUMB_MAX  64   /* SHA-256 in hex */
#define HUB_KEYS_SECRET_HEX 64
#define HUB_KEYS_FILE_MAX   (64u << 20)

enum hub_keys_ip_mode {
    HUB_KEYS_IP_NONE = 0, /* no filter: every address may connect */
    HUB_KEYS_IP_RULES,    /* networkRuleSets: an Allow rule admits, else the default */
    HUB_KEYS_IP_LEGACY,   /* ipFilterRules: first match decides, no match accepts */
};

struct hub_keys_device {
    char id[HUB_KEYS_ID_MAX + 1];
    char auth[24];                          /* sas, selfSigned, certificateAuthority, none */
    char primary[HUB_KEYS_KEY_MAX + 1];     /* base64 symmetric key, "" when none */
    char secondary[HUB_KEYS_KEY_MAX + 1];
    char thumb[2][HUB_KEYS_THUMB_MAX + 1];  /* lowercase hex, "" when none */
    bool disabled;                          /* status "disabled": every login refused */
};

struct hub_keys_rule {
    char name[HUB_KEYS_NAME_MAX + 1];
    bool allow; /* Allow/Accept */
    struct ip_addr net;
    int prefix;
};

struct hub_keys_cert {
    char name[HUB_KEYS_NAME_MAX + 1];
    char *der_b64; /* malloc'd */
};

struct hub_keys {
    char hub[HUB_KEYS_NAME_MAX + 1];
    char service[HUB_KEYS_SECRET_HEX + 1]; /* "" until one is made */
    struct hub_keys_device *devices;       /* sorted by id after load */
    size_t ndevices;
    enum hub_keys_ip_mode ip_mode;
    bool default_allow;
    struct hub_keys_rule *rules;
    size_t nrules;
    struct hub_keys_cert *certs;
    size_t ncerts;
};

/* Reads PATH into *k (zeroed first). A missing file is an empty store (true). */
bool hub_keys_load(const char *path, struct hub_keys *k, char *err, size_t errlen);

/* Parses a store from memory; what hub_keys_load does after reading. */
bool hub_keys_parse(const char *buf, size_t len, struct hub_keys *k, char *err, size_t errlen);

/*
 * An edit of the store: hub_keys_begin takes the writers' lock (flock on
 * PATH.lock) and loads the store into *k; hub_keys_end saves *k when SAVE,
 * then unlocks and frees it. Holding the lock from load to save keeps two
 * commands editing the store at once from losing one another's change.
 * Readers (the plugin, the TLS front end) need no lock: a save replaces the
 * file whole. begin returns the lock for end, or -1 with *err set (nothing held).
 */
int hub_keys_begin(const char *path, struct hub_keys *k, char *err, size_t errlen);
bool hub_keys_end(int lock, const char *path, struct hub_keys *k, bool save, char *err,
                  size_t errlen);

/* Writes *k to PATH atomically (temporary file, fsync, rename), mode 0640. */
bool hub_keys_save(const char *path, const struct hub_keys *k, char *err, size_t errlen);

void hub_keys_free(struct hub_keys *k);

/* The device with this id, or NULL. Needs the sorted order load gives. */
const struct hub_keys_device *hub_keys_find(const struct hub_keys *k, const char *id);

/* Adds or replaces a device (by id); keeps the order. False on allocation failure. */
bool hub_keys_put_device(struct hub_keys *k, const struct hub_keys_device *d);

/* Removes a device; false when it was not there. */
bool hub_keys_remove_device(struct hub_keys *k, const char *id);

/* Adds or replaces (by name) / removes a hub certificate. */
bool hub_keys_put_cert(struct hub_keys *k, const char *name, const char *der_b64);
bool hub_keys_remove_cert(struct hub_keys *k, const char *name);

/* Makes the service secret if there is none (from the OS random source). */
bool hub_keys_ensure_service(struct hub_keys *k);

/* Whether the hub's IP filter admits ADDR; *rule names the deciding rule or NULL. */
bool hub_keys_ip_allowed(const struct hub_keys *k, const struct ip_addr *addr,
                         const struct hub_keys_rule **rule);

/*
 * A client's MQTT password from a file: its first line, or, when the file is a
 * key store, the service secret (Warden's own login to the lab hub).
 */
bool hub_keys_read_password(const char *path, char *out, size_t outlen, char *err, size_t errlen);

/* Where the key store lives: KEYSTORE (config hub.keystore) when set, else
 * warden-hub.keys in the directory of the database DB_PATH. */
void hub_keys_default_path(const char *keystore, const char *db_path, char *out, size_t outlen);

#endif
