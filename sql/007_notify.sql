-- 007: notifications to Prometheus Alertmanager (issue 17).
--
-- Every alert and recommendation goes to every configured Alertmanager
-- (notify.alertmanager.urls), each with its own sender. What an Alertmanager
-- has still to be told is a row of notify_queue, written by the triggers below
-- in the same transaction as the transition, whoever makes it (the evaluator,
-- a dismissal on the web, SQL): a transition is never lost between commit and
-- send, even to SIGKILL. A row names the alert, not its state: the sender reads
-- the alert when it sends, so the newest state replaces the older and the queue
-- holds at most one row per (Alertmanager, alert), however often it changed.

-- The Alertmanagers of the configuration, synced by `warden run` at start. The
-- triggers queue for the rows present, so with none nothing is queued.
CREATE TABLE notify_targets (
    target_id  INTEGER PRIMARY KEY,
    url        TEXT NOT NULL UNIQUE,
    added_ms   INTEGER NOT NULL,
    uptime     TEXT,              -- Alertmanager's start time, from GET /api/v2/status
    polled_ms  INTEGER,           -- the last poll that succeeded
    last_error TEXT               -- the last send or poll that failed, and why
);

-- kind is 'alert' (ref = alerts.alert_id) or 'recommendation' (ref = rec_id).
-- queued_ms is when the oldest transition not yet delivered was queued; gen
-- grows at every later one, so a sender deletes only the row it read.
CREATE TABLE notify_queue (
    target_id INTEGER NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('alert', 'recommendation')),
    ref       INTEGER NOT NULL,
    queued_ms INTEGER NOT NULL,
    gen       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (target_id, kind, ref)
) WITHOUT ROWID;
-- A sender takes its rows oldest first, 64 at a time: in this order, with no sort.
CREATE INDEX notify_queue_order ON notify_queue(target_id, queued_ms, kind, ref);

-- Per alert and Alertmanager: when it last accepted the alert firing and
-- resolved, how long the last queued transition took to be accepted, and what
-- the last poll of GET /api/v2/alerts said of it (state, silences, inhibitors).
CREATE TABLE notify_deliveries (
    target_id    INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    ref          INTEGER NOT NULL,
    firing_ms    INTEGER,
    resolved_ms  INTEGER,
    delay_ms     INTEGER,
    last_error   TEXT,
    am_state     TEXT,            -- active, suppressed or unprocessed; NULL when not held
    silenced_by  TEXT,            -- JSON array of silence ids
    inhibited_by TEXT,            -- JSON array of alert fingerprints
    polled_ms    INTEGER,
    PRIMARY KEY (target_id, kind, ref)
) WITHOUT ROWID;

-- The alert pages look up an alert's row for every Alertmanager.
CREATE INDEX notify_deliveries_ref ON notify_deliveries(kind, ref);

-- The silences each Alertmanager holds that are not expired, from GET /api/v2/silences.
CREATE TABLE notify_silences (
    target_id  INTEGER NOT NULL,
    silence_id TEXT NOT NULL,
    state      TEXT NOT NULL,
    comment    TEXT,
    created_by TEXT,
    starts_ms  INTEGER,
    ends_ms    INTEGER,
    matchers   TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (target_id, silence_id)
) WITHOUT ROWID;

-- The senders' counters behind /metrics, counting alerts, not requests.
CREATE TABLE notify_counters (
    target_id     INTEGER PRIMARY KEY,
    sent          INTEGER NOT NULL DEFAULT 0,
    errors        INTEGER NOT NULL DEFAULT 0,
    dropped       INTEGER NOT NULL DEFAULT 0,   -- refused with 400, not retried
    latency_sum   REAL NOT NULL DEFAULT 0,      -- seconds, over every request
    latency_count INTEGER NOT NULL DEFAULT 0,
    latency_q50   REAL,                         -- over the last 1024 requests
    latency_q90   REAL,
    latency_q99   REAL
);

-- The full resend reads the alerts resolved within notify.resolved_retention.
CREATE INDEX alerts_resolved ON alerts(resolved_ms);

CREATE TRIGGER notify_alert_transition AFTER INSERT ON alert_transitions
BEGIN
    INSERT INTO notify_queue (target_id, kind, ref, queued_ms)
    SELECT target_id, 'alert', NEW.alert_id,
           CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
    FROM notify_targets WHERE true
    ON CONFLICT (target_id, kind, ref) DO UPDATE SET gen = gen + 1;
END;

CREATE TRIGGER notify_rec_insert AFTER INSERT ON recommendations
BEGIN
    INSERT INTO notify_queue (target_id, kind, ref, queued_ms)
    SELECT target_id, 'recommendation', NEW.rec_id,
           CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
    FROM notify_targets WHERE true
    ON CONFLICT (target_id, kind, ref) DO UPDATE SET gen = gen + 1;
END;

CREATE TRIGGER notify_rec_state AFTER UPDATE OF state ON recommendations
    WHEN OLD.state IS NOT NEW.state
BEGIN
    INSERT INTO notify_queue (target_id, kind, ref, queued_ms)
    SELECT target_id, 'recommendation', NEW.rec_id,
           CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
    FROM notify_targets WHERE true
    ON CONFLICT (target_id, kind, ref) DO UPDATE SET gen = gen + 1;
END;

-- Retention deletes old alerts and recommendations; what was noted about them goes too.
CREATE TRIGGER notify_alert_delete AFTER DELETE ON alerts
BEGIN
    DELETE FROM notify_queue WHERE kind = 'alert' AND ref = OLD.alert_id;
    DELETE FROM notify_deliveries WHERE kind = 'alert' AND ref = OLD.alert_id;
END;

CREATE TRIGGER notify_rec_delete AFTER DELETE ON recommendations
BEGIN
    DELETE FROM notify_queue WHERE kind = 'recommendation' AND ref = OLD.rec_id;
    DELETE FROM notify_deliveries WHERE kind = 'recommendation' AND ref = OLD.rec_id;
END;

-- A target leaves the configuration: its queue, deliveries and silences go with it.
CREATE TRIGGER notify_target_delete AFTER DELETE ON notify_targets
BEGIN
    DELETE FROM notify_queue WHERE target_id = OLD.target_id;
    DELETE FROM notify_deliveries WHERE target_id = OLD.target_id;
    DELETE FROM notify_silences WHERE target_id = OLD.target_id;
    DELETE FROM notify_counters WHERE target_id = OLD.target_id;
END;

-- Per alert and Alertmanager, as people read it.
CREATE VIEW v_notifications AS
SELECT t.url AS alertmanager, d.kind, d.ref,
       strftime('%Y-%m-%dT%H:%M:%fZ', d.firing_ms / 1000.0, 'unixepoch') AS firing_accepted,
       strftime('%Y-%m-%dT%H:%M:%fZ', d.resolved_ms / 1000.0, 'unixepoch') AS resolved_accepted,
       d.delay_ms, d.last_error, d.am_state, d.silenced_by, d.inhibited_by,
       EXISTS (SELECT 1 FROM notify_queue q WHERE q.target_id = d.target_id AND q.kind = d.kind
               AND q.ref = d.ref) AS pending
FROM notify_deliveries d JOIN notify_targets t USING (target_id);
