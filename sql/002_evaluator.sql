-- 002: configuration brought from Azure, and what the evaluator writes.

-- Fingerprints of device credentials, never the secrets (SPEC 4.2).
CREATE TABLE device_credentials (
    device_id   TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('sas_primary', 'sas_secondary',
                                              'x509_primary', 'x509_secondary')),
    fingerprint TEXT NOT NULL,          -- hex SHA-256 of the key, or the normalised thumbprint
    PRIMARY KEY (device_id, kind)
) WITHOUT ROWID;
CREATE INDEX device_credentials_fingerprint ON device_credentials(fingerprint);

-- Security groups in Azure's deviceSecurityGroups shape (SPEC 4.1). The
-- document stored is the normalised one: every rule present.
CREATE TABLE security_groups (
    name       TEXT PRIMARY KEY,
    rules_json TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
);

-- The hub's network and diagnostic configuration (SPEC 4.3).
CREATE TABLE hub_config (
    hub         TEXT PRIMARY KEY,
    config_json TEXT NOT NULL,          -- the imported document's "properties"
    updated_ms  INTEGER NOT NULL
);
CREATE TABLE hub_diagnostic_settings (
    hub         TEXT NOT NULL,
    name        TEXT NOT NULL,
    config_json TEXT NOT NULL,
    updated_ms  INTEGER NOT NULL,
    PRIMARY KEY (hub, name)
);
CREATE TABLE hub_certificates (
    hub          TEXT NOT NULL,
    name         TEXT NOT NULL,
    thumbprint   TEXT,
    not_after_ms INTEGER,
    pem          TEXT,
    updated_ms   INTEGER NOT NULL,
    PRIMARY KEY (hub, name)
);

-- Threat intelligence (SPEC 4.4). Addresses are 16-byte blobs: IPv4 as
-- IPv4-mapped IPv6 (::ffff:a.b.c.d), so one ordering covers both families.
CREATE TABLE intel_lists (
    name      TEXT PRIMARY KEY,
    source    TEXT,
    loaded_ms INTEGER NOT NULL,
    entries   INTEGER NOT NULL
);
CREATE TABLE intel_ranges (
    list     TEXT NOT NULL,
    first_ip BLOB NOT NULL,
    last_ip  BLOB NOT NULL,
    category TEXT,
    source   TEXT                       -- the line as written (CIDR or address)
);
CREATE INDEX intel_ranges_list ON intel_ranges(list);

-- Alerts (SPEC 3.3, 5.2). A key has at most one open alert (Active or
-- Dismissed): the partial unique index makes that an invariant of the table.
CREATE TABLE alerts (
    alert_id            INTEGER PRIMARY KEY,
    alert_type          TEXT NOT NULL,
    alert_key           TEXT NOT NULL,
    display_name        TEXT NOT NULL,
    severity            TEXT NOT NULL CHECK (severity IN ('High', 'Medium', 'Low', 'Informational')),
    device_id           TEXT,
    hub                 TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('Active', 'Resolved', 'Dismissed')),
    start_ms            INTEGER NOT NULL,
    end_ms              INTEGER NOT NULL,
    count               INTEGER NOT NULL DEFAULT 1,
    value               NUMERIC,            -- integers stay integers
    description         TEXT NOT NULL,
    remediation         TEXT NOT NULL,
    extended_properties TEXT NOT NULL DEFAULT '{}',
    resolved_ms         INTEGER
);
CREATE UNIQUE INDEX alerts_one_open_per_key ON alerts(alert_type, alert_key)
    WHERE status IN ('Active', 'Dismissed');
CREATE INDEX alerts_start ON alerts(start_ms);
CREATE INDEX alerts_device ON alerts(device_id, start_ms);
CREATE INDEX alerts_status ON alerts(status, alert_type);

CREATE TABLE alert_transitions (
    id          INTEGER PRIMARY KEY,
    alert_id    INTEGER NOT NULL,
    at_ms       INTEGER NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    note        TEXT
);
CREATE INDEX alert_transitions_alert ON alert_transitions(alert_id, at_ms);

-- Recommendations (SPEC 5.3). rec_key names what it is about (device, hub,
-- hub/rule), one Active per (type, key).
CREATE TABLE recommendations (
    rec_id          INTEGER PRIMARY KEY,
    rec_type        TEXT NOT NULL,
    rec_key         TEXT NOT NULL,
    display_name    TEXT NOT NULL,
    severity        TEXT NOT NULL,
    device_id       TEXT,
    hub             TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('Active', 'Resolved')),
    discovered_ms   INTEGER NOT NULL,
    resolved_ms     INTEGER,
    additional_data TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX recommendations_one_active ON recommendations(rec_type, rec_key)
    WHERE state = 'Active';

-- What the evaluator needs to resume after a restart: the last pass time,
-- the flow cursor, the hub-record cursor, and so on.
CREATE TABLE evaluator_state (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

-- When Warden was ingesting: one row per run of the ingester, its last_ms
-- moved forward at every commit (at least once a second). A gap between runs
-- is Warden's own downtime: windows overlapping it are not judged against
-- minThreshold, because the silence was Warden's, not the devices'.
CREATE TABLE ingest_runs (
    id         INTEGER PRIMARY KEY,
    started_ms INTEGER NOT NULL,
    last_ms    INTEGER NOT NULL
);

-- Alert transitions waiting to be published on MQTT (SPEC 5.4). Whoever holds
-- an MQTT connection publishes and deletes them, so a transition made while
-- the broker is away, or by a process without a connection, still goes out.
-- AUTOINCREMENT: the publisher keeps a cursor on id, and an emptied table
-- must not hand out ids below it again.
CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    topic      TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);

CREATE VIEW v_alerts AS
SELECT alert_id, alert_type, alert_key, display_name, severity, device_id, hub, status,
       strftime('%Y-%m-%dT%H:%M:%fZ', start_ms / 1000.0, 'unixepoch') AS start_time,
       strftime('%Y-%m-%dT%H:%M:%fZ', end_ms / 1000.0, 'unixepoch') AS end_time,
       count, value, description, remediation, extended_properties
FROM alerts;

CREATE VIEW v_alerts_daily AS
SELECT alert_type,
       date(start_ms / 1000, 'unixepoch') AS day,
       count(*) AS alerts,
       count(DISTINCT device_id) AS devices,
       (SELECT group_concat(device_id, ',') FROM (
            SELECT a2.device_id, count(*) AS n FROM alerts a2
            WHERE a2.alert_type = a.alert_type AND a2.device_id IS NOT NULL
              AND date(a2.start_ms / 1000, 'unixepoch') = date(a.start_ms / 1000, 'unixepoch')
            GROUP BY a2.device_id ORDER BY n DESC, a2.device_id LIMIT 10)) AS top_devices
FROM alerts a
GROUP BY alert_type, day;

CREATE VIEW v_recommendations_active AS
SELECT rec_id, rec_type, display_name, severity, device_id, hub,
       strftime('%Y-%m-%dT%H:%M:%fZ', discovered_ms / 1000.0, 'unixepoch') AS discovered,
       additional_data
FROM recommendations
WHERE state = 'Active';
