/*
 * Who may register a device (SPEC 2.3 as issue 14 narrows it), through the
 * real router into a real SQLite file: a topic registers its device up to
 * ingest.max_auto_devices and the excess is dead-lettered; a hub record
 * registers its device only when it is a successful authentication, and any
 * other record naming an unknown device is stored without registering it.
 * The integration tests (test_registry_growth.sh) replay the same attacks
 * through a broker.
 */
#include "../../ingest/route.h"
#include "check.h"
#include "check_sql.h"

#include <sqlite3.h>
#include <unistd.h>

#define RECV_MS 1796000000000LL
#define HUB_T   "hub/lab-hub/operations"

static struct store *store;
static struct config cfg;
static char dbpath[64];

static int64_t q(const char *sql)
{
    return check_sql_int(store_sqlite(store), sql);
}

static void fresh(int64_t max_auto)
{
    char err[256];

    if (store != NULL)
        store_close(store);
    check_sql_remove(dbpath);
    config_defaults(&cfg);
    cfg.ingest_max_auto_devices = max_auto;
    store = store_open(dbpath, err, sizeof(err));
    if (store == NULL) {
        fprintf(stderr, "store_open: %s\n", err);
        exit(1);
    }
}

/* Route one message in its own batch. */
static void route(const char *topic, const char *payload)
{
    struct route_ctx ctx = {store, &cfg};

    CHECK_INT(store_batch_begin(store), STORE_OK);
    CHECK_INT(ingest_route(&ctx, topic, payload, strlen(payload), RECV_MS), STORE_OK);
    CHECK_INT(store_batch_commit(store, RECV_MS), STORE_OK);
}

static int64_t counter(const char *name, const char *label)
{
    char sql[256];

    snprintf(sql, sizeof(sql),
             "SELECT coalesce(sum(value), 0) FROM ingest_counters WHERE name = '%s' AND "
             "label = '%s'",
             name, label);
    return q(sql);
}

static void topics_register_up_to_max_auto_devices(void)
{
    char topic[128];

    fresh(3);
    for (int i = 0; i < 5; i++) {
        snprintf(topic, sizeof(topic), "devices/dev-%d/messages/events/", i);
        route(topic, "x");
    }
    CHECK_INT(q("SELECT count(*) FROM devices WHERE auto_registered = 1"), 3);
    CHECK_INT(q("SELECT count(*) FROM dead_letters WHERE device_id IN ('dev-3', 'dev-4') AND "
                "reason LIKE 'device: not registered: ingest.max_auto_devices (3) %'"),
              2);
    CHECK_INT(counter("warden_dead_letters_total", "reason=\"max_auto_devices\""), 2);
    CHECK_INT(counter("warden_devices_refused_total", "reason=\"max_auto_devices\""), 2);
    /* At the cap, a registered device goes on being counted. */
    route("devices/dev-0/messages/events/", "x");
    CHECK_INT(q("SELECT sum(d2c_messages) FROM counts c JOIN devices d ON d.id = c.dev "
                "WHERE d.device_id = 'dev-0'"),
              2);
    CHECK_INT(q("SELECT count(*) FROM dead_letters"), 2);
}

static void max_auto_devices_0_registers_only_from_the_registry(void)
{
    int64_t dev;

    fresh(0);
    CHECK_INT(store_batch_begin(store), STORE_OK);
    CHECK_INT(store_device(store, "known", "lab-hub", RECV_MS, &dev), STORE_OK);
    CHECK_INT(sqlite3_exec(store_sqlite(store),
                           "UPDATE devices SET auto_registered = 0 WHERE device_id = 'known'",
                           NULL, NULL, NULL),
              SQLITE_OK);
    CHECK_INT(store_batch_commit(store, RECV_MS), STORE_OK);
    route("devices/known/messages/events/", "x");
    route("devices/stranger/messages/events/", "x");
    CHECK_INT(q("SELECT count(*) FROM devices"), 1);
    CHECK_INT(q("SELECT count(*) FROM dead_letters WHERE device_id = 'stranger'"), 1);
}

static void look_alike_topic_ids_register_nothing(void)
{
    static const char *const topics[] = {
        "devices/dev1\xe2\x80\x8b/messages/events/", /* dev1 + zero-width space */
        "devices/d\xd0\xb5v1/messages/events/",      /* Cyrillic e */
        "devices/dev 1/messages/events/",
        "devices/<b>/messages/devicebound/",
    };

    fresh(10);
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
        route(topics[i], "x");
    CHECK_INT(q("SELECT count(*) FROM devices"), 0);
    CHECK_INT(q("SELECT count(*) FROM dead_letters WHERE reason LIKE 'topic: device id %'"), 4);
    CHECK_INT(counter("warden_dead_letters_total", "reason=\"device_id\""), 4);
    CHECK_INT(counter("warden_devices_refused_total", "reason=\"device_id\""), 4);
}

/* What the lab hub wrote for 958 refused CONNECTs on main: each one registered its client id. */
static void refused_connect_records_register_nothing(void)
{
    fresh(10);
    route(HUB_T, "[{\"category\":\"Connections\",\"operation\":\"deviceConnect\","
                 "\"result\":\"Failed\",\"reason\":\"DeviceNotFound\",\"deviceId\":\"warden\"},"
                 "{\"category\":\"Connections\",\"operation\":\"deviceConnect\","
                 "\"result\":\"Failed\",\"reason\":\"SasTokenInvalidSignature\","
                 "\"deviceId\":\"DEV1\"},"
                 "{\"category\":\"Authorization\",\"operation\":\"publish\","
                 "\"result\":\"Unauthorized\",\"deviceId\":\"dev1\"}]");
    CHECK_INT(q("SELECT count(*) FROM hub_operations"), 3);
    CHECK_INT(q("SELECT count(*) FROM devices"), 0);
    CHECK_INT(q("SELECT count(*) FROM counts"), 0);
    CHECK_INT(q("SELECT count(*) FROM dead_letters"), 0);
    CHECK_INT(counter("warden_devices_refused_total", "reason=\"not_authenticated\""), 3);
}

static void successful_connect_record_registers_its_device(void)
{
    fresh(1);
    route(HUB_T, "{\"category\":\"Connections\",\"operation\":\"deviceConnect\","
                 "\"result\":\"Succeeded\",\"deviceId\":\"rtos-1\"}");
    CHECK_INT(q("SELECT count(*) FROM devices WHERE device_id = 'rtos-1' AND auto_registered = 1"),
              1);
    /* Now registered, its records count against it. */
    route(HUB_T, "{\"category\":\"Authorization\",\"operation\":\"publish\","
                 "\"result\":\"Unauthorized\",\"deviceId\":\"rtos-1\"}");
    CHECK_INT(q("SELECT sum(unauthorized_operations) FROM counts"), 1);
    /* Past the cap, the record is stored and registers nothing. */
    route(HUB_T, "{\"category\":\"Connections\",\"operation\":\"deviceConnect\","
                 "\"result\":\"Succeeded\",\"deviceId\":\"rtos-2\"}");
    CHECK_INT(q("SELECT count(*) FROM devices"), 1);
    CHECK_INT(q("SELECT count(*) FROM hub_operations WHERE device_id = 'rtos-2'"), 1);
    CHECK_INT(counter("warden_devices_refused_total", "reason=\"max_auto_devices\""), 1);
}

int main(void)
{
    snprintf(dbpath, sizeof(dbpath), "/tmp/warden-test-register-%d.db", (int)getpid());
    RUN(topics_register_up_to_max_auto_devices);
    RUN(max_auto_devices_0_registers_only_from_the_registry);
    RUN(look_alike_topic_ids_register_nothing);
    RUN(refused_connect_records_register_nothing);
    RUN(successful_connect_record_registers_its_device);
    store_close(store);
    check_sql_remove(dbpath);
    return CHECK_DONE();
}
