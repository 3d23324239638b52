-- 001: what the ingester writes.
--
-- Raw time series are arrival ordered: rows are appended with growing rowids
-- and the only index on them is on recv_ms, which grows too, so every insert
-- lands at the right-hand edge of its B-tree. Nothing is indexed by device:
-- an index whose pages are scattered by device costs an order of magnitude in
-- insert rate. Per-device questions go to device_counts and the hourly flow
-- summaries, which are small.

CREATE TABLE devices (
    id              INTEGER PRIMARY KEY,
    device_id       TEXT NOT NULL UNIQUE,
    hub             TEXT NOT NULL,
    security_group  TEXT NOT NULL DEFAULT 'default',
    auth_type       TEXT,
    first_seen_ms   INTEGER NOT NULL,
    last_seen_ms    INTEGER NOT NULL,
    os_info         TEXT,
    agent_version   TEXT,               -- JSON AgentVersion, or the FlatBuffers module version
    module_version  TEXT,               -- "major.minor.patch" of security_module_version
    module_id       TEXT,               -- security_module_id / AgentId
    clock_skew_ms   INTEGER             -- device time minus received time, last message that had one
);

-- Every address seen, once; flows refer to it by id. ip_blob is the address in
-- network order (4 or 16 bytes), sortable for range searches.
CREATE TABLE addrs (
    id      INTEGER PRIMARY KEY,
    ip      TEXT NOT NULL UNIQUE,
    ip_blob BLOB NOT NULL
);

CREATE TABLE flow_raw (
    id          INTEGER PRIMARY KEY,
    recv_ms     INTEGER NOT NULL,
    dev         INTEGER NOT NULL,       -- devices.id
    skew_ms     INTEGER,                -- device_ms - recv_ms; NULL when the payload had no time
    proto_dir   INTEGER NOT NULL,       -- protocol * 4 + direction (see the flows view)
    laddr       INTEGER NOT NULL,       -- addrs.id
    lport       INTEGER NOT NULL,
    raddr       INTEGER NOT NULL,       -- addrs.id
    rport       INTEGER NOT NULL,
    bytes_in    INTEGER NOT NULL,
    bytes_out   INTEGER NOT NULL,
    process_id  INTEGER,
    user_id     INTEGER,
    executable  TEXT,
    commandline TEXT,
    details     TEXT                    -- JSON object, legacy agents' ExtraDetails
);
CREATE INDEX flow_raw_recv ON flow_raw(recv_ms);

CREATE VIEW flows AS
SELECT f.id AS flow_id,
       d.device_id,
       d.hub,
       f.recv_ms,
       f.recv_ms + f.skew_ms AS device_ms,
       CASE f.proto_dir >> 2 WHEN 0 THEN 'TCP' WHEN 1 THEN 'UDP' ELSE 'ICMP' END AS protocol,
       l.ip AS local_ip,
       f.lport AS local_port,
       r.ip AS remote_ip,
       f.rport AS remote_port,
       f.bytes_in,
       f.bytes_out,
       CASE f.proto_dir & 3 WHEN 1 THEN 'in' WHEN 2 THEN 'out' ELSE 'unknown' END AS direction,
       f.process_id,
       f.user_id,
       f.executable,
       f.commandline,
       f.details
FROM flow_raw f
JOIN devices d ON d.id = f.dev
JOIN addrs l ON l.id = f.laddr
JOIN addrs r ON r.id = f.raddr;

-- One row per device, hour and distinct flow: what a device talked to, kept
-- longer than raw flows. Filled from flow_raw by the store's rollup.
CREATE TABLE flow_hourly (
    hour_ms     INTEGER NOT NULL,
    dev         INTEGER NOT NULL,
    raddr       INTEGER NOT NULL,
    rport       INTEGER NOT NULL,
    proto_dir   INTEGER NOT NULL,
    laddr       INTEGER NOT NULL,
    lport       INTEGER NOT NULL,
    records     INTEGER NOT NULL,
    bytes_in    INTEGER NOT NULL,
    bytes_out   INTEGER NOT NULL,
    first_ms    INTEGER NOT NULL,
    last_ms     INTEGER NOT NULL,
    PRIMARY KEY (hour_ms, dev, raddr, rport, proto_dir, laddr, lport)
) WITHOUT ROWID;

CREATE VIEW flows_hourly AS
SELECT h.hour_ms,
       d.device_id,
       d.hub,
       CASE h.proto_dir >> 2 WHEN 0 THEN 'TCP' WHEN 1 THEN 'UDP' ELSE 'ICMP' END AS protocol,
       l.ip AS local_ip,
       h.lport AS local_port,
       r.ip AS remote_ip,
       h.rport AS remote_port,
       CASE h.proto_dir & 3 WHEN 1 THEN 'in' WHEN 2 THEN 'out' ELSE 'unknown' END AS direction,
       h.records,
       h.bytes_in,
       h.bytes_out,
       h.first_ms,
       h.last_ms
FROM flow_hourly h
JOIN devices d ON d.id = h.dev
JOIN addrs l ON l.id = h.laddr
JOIN addrs r ON r.id = h.raddr;

CREATE TABLE metrics (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
INSERT INTO metrics (id, name) VALUES
    (0, 'd2c_messages'), (1, 'c2d_messages'), (2, 'c2d_rejected_messages'),
    (3, 'direct_method_invokes'), (4, 'twin_updates'), (5, 'queue_purges'),
    (6, 'unauthorized_operations'), (7, 'security_messages'), (8, 'flows');

-- Per device and 10-second bucket, one row with a column per metric: a
-- device that sends a security message every 10 s costs one row a bucket,
-- not three, and zeros take no space in SQLite's record format. Keyed by time
-- first, so the evaluator's window reads are one range scan and inserts stay
-- at the right-hand edge.
CREATE TABLE counts (
    bucket_ms               INTEGER NOT NULL,
    dev                     INTEGER NOT NULL,
    bucket_s                INTEGER NOT NULL,
    d2c_messages            INTEGER NOT NULL DEFAULT 0,
    c2d_messages            INTEGER NOT NULL DEFAULT 0,
    c2d_rejected_messages   INTEGER NOT NULL DEFAULT 0,
    direct_method_invokes   INTEGER NOT NULL DEFAULT 0,
    twin_updates            INTEGER NOT NULL DEFAULT 0,
    queue_purges            INTEGER NOT NULL DEFAULT 0,
    unauthorized_operations INTEGER NOT NULL DEFAULT 0,
    security_messages       INTEGER NOT NULL DEFAULT 0,
    flows                   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket_ms, dev)
) WITHOUT ROWID;
-- For one device's charts. About a thousand rows a second for 10,000
-- devices, so the scattered index is affordable here (it is not on flows).
CREATE INDEX counts_dev ON counts(dev, bucket_ms);

-- The SPEC's shape: one row per device, metric and bucket (zeros left out).
CREATE VIEW device_counts AS
SELECT d.device_id, 'd2c_messages' AS metric, c.bucket_ms, c.bucket_s, c.d2c_messages AS value
  FROM counts c JOIN devices d ON d.id = c.dev WHERE c.d2c_messages != 0
UNION ALL
SELECT d.device_id, 'c2d_messages', c.bucket_ms, c.bucket_s, c.c2d_messages
  FROM counts c JOIN devices d ON d.id = c.dev WHERE c.c2d_messages != 0
UNION ALL
SELECT d.device_id, 'c2d_rejected_messages', c.bucket_ms, c.bucket_s, c.c2d_rejected_messages
  FROM counts c JOIN devices d ON d.id = c.dev WHERE c.c2d_rejected_messages != 0
UNION ALL
SELECT d.device_id, 'direct_method_invokes', c.bucket_ms, c.bucket_s, c.direct_method_invokes
  FROM counts c JOIN devices d ON d.id = c.dev WHERE c.direct_method_invokes != 0
UNION ALL
SELECT d.device_id, 'twin_updates', c.bucket_ms, c.bucket_s, c.twin_updates
  FROM counts c JOIN devices d ON d.id = c.dev WHERE c.twin_updates != 0
UNION ALL
SELECT d.device_id, 'queue_purges', c.bucket_ms, c.bucket_s, c.queue_purges
  FROM counts c JOIN devices d ON d.id = c.dev WHERE c.queue_purges != 0
UNION ALL
SELECT d.device_id, 'unauthorized_operations', c.bucket_ms, c.bucket_s, c.unauthorized_operations
  FROM counts c JOIN devices d ON d.id = c.dev WHERE c.unauthorized_operations != 0
UNION ALL
SELECT d.device_id, 'security_messages', c.bucket_ms, c.bucket_s, c.security_messages
  FROM counts c JOIN devices d ON d.id = c.dev WHERE c.security_messages != 0
UNION ALL
SELECT d.device_id, 'flows', c.bucket_ms, c.bucket_s, c.flows
  FROM counts c JOIN devices d ON d.id = c.dev WHERE c.flows != 0;

CREATE TABLE listening_ports (
    id          INTEGER PRIMARY KEY,
    device_id   TEXT NOT NULL,
    hub         TEXT NOT NULL,
    recv_ms     INTEGER NOT NULL,
    device_ms   INTEGER,
    protocol    TEXT NOT NULL,
    local_ip    TEXT,
    local_port  INTEGER,
    remote_ip   TEXT,
    remote_port INTEGER,
    details     TEXT
);
CREATE INDEX listening_ports_recv ON listening_ports(recv_ms);

CREATE TABLE system_info (
    id          INTEGER PRIMARY KEY,
    device_id   TEXT NOT NULL,
    hub         TEXT NOT NULL,
    recv_ms     INTEGER NOT NULL,
    device_ms   INTEGER,
    os_info     TEXT,
    kernel_info TEXT,
    hw_info     TEXT,
    details     TEXT
);
CREATE INDEX system_info_recv ON system_info(recv_ms);

CREATE TABLE heartbeats (
    id          INTEGER PRIMARY KEY,
    device_id   TEXT NOT NULL,
    hub         TEXT NOT NULL,
    recv_ms     INTEGER NOT NULL,
    device_ms   INTEGER
);
CREATE INDEX heartbeats_recv ON heartbeats(recv_ms);

CREATE TABLE events_other (
    id          INTEGER PRIMARY KEY,
    device_id   TEXT NOT NULL,
    hub         TEXT NOT NULL,
    recv_ms     INTEGER NOT NULL,
    device_ms   INTEGER,
    name        TEXT NOT NULL,
    payload     TEXT
);
CREATE INDEX events_other_recv ON events_other(recv_ms);

-- AUTOINCREMENT: the evaluator reads hub records after a cursor on id, and
-- retention may empty the table; ids must never go back below the cursor.
CREATE TABLE hub_operations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    hub         TEXT NOT NULL,
    recv_ms     INTEGER NOT NULL,
    time_ms     INTEGER NOT NULL,
    category    TEXT NOT NULL,
    operation   TEXT NOT NULL,
    result      TEXT,
    reason      TEXT,
    device_id   TEXT,
    source_ip   TEXT,
    count       INTEGER NOT NULL DEFAULT 1,
    details     TEXT
);
CREATE INDEX hub_operations_recv ON hub_operations(recv_ms);

CREATE TABLE dead_letters (
    id           INTEGER PRIMARY KEY,
    recv_ms      INTEGER NOT NULL,
    topic        TEXT NOT NULL,
    device_id    TEXT,
    reason       TEXT NOT NULL,
    payload_size INTEGER NOT NULL,
    payload      BLOB                   -- the first 64 KiB
);
CREATE INDEX dead_letters_recv ON dead_letters(recv_ms);

-- Event ids seen recently, for storing each security event once. Two
-- generations that take turns: ids go into the current one, both are
-- consulted, and the older is emptied when the current one is a dedup window
-- old. A key is a 63-bit hash of (device, event id).
CREATE TABLE event_ids_0 (key INTEGER PRIMARY KEY);
CREATE TABLE event_ids_1 (key INTEGER PRIMARY KEY);

-- Small key/value state of the store itself (rollup cursor, dedup generation).
CREATE TABLE store_state (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

-- The ingester's heartbeat: one row, rewritten at every commit.
CREATE TABLE ingest_state (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    pid             INTEGER,
    started_ms      INTEGER,
    last_commit_ms  INTEGER,
    connected       INTEGER NOT NULL DEFAULT 0,
    watermark_ms    INTEGER,            -- every message read before this is committed
    last_error      TEXT
);
INSERT INTO ingest_state (id, connected) VALUES (1, 0);

-- Counters for /metrics, kept in the database so a separate `warden serve`
-- can report them: messages by kind, dead letters by reason, and so on.
CREATE TABLE ingest_counters (
    name  TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    value INTEGER NOT NULL,
    PRIMARY KEY (name, label)
) WITHOUT ROWID;

CREATE VIEW v_flows AS
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', recv_ms / 1000.0, 'unixepoch') AS received, *
FROM flows;

CREATE VIEW v_device_activity AS
SELECT d.device_id,
       d.hub,
       d.security_group,
       strftime('%Y-%m-%dT%H:%M:%fZ', d.first_seen_ms / 1000.0, 'unixepoch') AS first_seen,
       strftime('%Y-%m-%dT%H:%M:%fZ', d.last_seen_ms / 1000.0, 'unixepoch') AS last_seen,
       d.os_info,
       d.agent_version,
       d.clock_skew_ms,
       (SELECT COALESCE(SUM(c.d2c_messages), 0) FROM counts c
         WHERE c.dev = d.id
           AND c.bucket_ms >= (SELECT MAX(last_seen_ms) FROM devices) - 86400000) AS d2c_last_24h,
       (SELECT COALESCE(SUM(c.flows), 0) FROM counts c
         WHERE c.dev = d.id
           AND c.bucket_ms >= (SELECT MAX(last_seen_ms) FROM devices) - 86400000) AS flows_last_24h
FROM devices d;

CREATE VIEW v_dead_letters AS
SELECT strftime('%Y-%m-%dT%H:%M:%fZ', recv_ms / 1000.0, 'unixepoch') AS received,
       topic, device_id, reason, payload_size
FROM dead_letters;
