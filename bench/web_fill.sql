-- The web benchmark's database: @n alerts and @devices devices written
-- straight into Warden's own tables (sql/002_evaluator.sql), spread evenly
-- over the 30 days before @now (unix ms), newest last, as the evaluator
-- leaves them: the newest @active alerts are Active (one per alert_key, as
-- the alerts_one_open_per_key index demands), the rest Resolved. Texts and
-- extended properties have the shape and size of the evaluator's.
--
--   sqlite3 DB ".parameter set @n 1000000" ".parameter set @devices 10000" \
--       ".parameter set @active 500" ".parameter set @now $(date +%s)000" ".read bench/web_fill.sql"
--
-- on a database `warden db migrate --db DB` made.
PRAGMA journal_mode = WAL;
PRAGMA synchronous = OFF;
PRAGMA cache_size = -200000;
BEGIN;
CREATE TEMP TABLE kinds (k INTEGER PRIMARY KEY, type TEXT, name TEXT, severity TEXT);
INSERT INTO kinds (type, name, severity) VALUES
    ('IoT_TiConnection', 'Suspicious IP address communication', 'Medium'),
    ('IoT_CA_ConnectionToIpNotAllowed', 'Outbound connection to an IP that isn''t allowed', 'Low'),
    ('IoT_CA_ActiveConnectionsNotInAllowedRange', 'Number of active connections is not in the allowed range', 'Low'),
    ('IoT_CA_MqttD2CMessagesNotInAllowedRange', 'Number of device-to-cloud messages (MQTT) is not in the allowed range', 'Low'),
    ('IoT_Cert_Print_Mismatch', 'X.509 device certificate thumbprint mismatch', 'Medium'),
    ('IoT_Invalid_SAS_Token', 'Invalid SAS token signature', 'Low'),
    ('IoT_DeviceSilent', 'Device silent', 'Low');

INSERT INTO devices (device_id, hub, first_seen_ms, last_seen_ms, os_info, agent_version)
WITH RECURSIVE d(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM d WHERE i + 1 < @devices)
SELECT printf('dev-%05d', i), 'lab', @now - 30 * 86400000, @now - (i % 60) * 1000,
       'NetX Duo 6.1 (Azure RTOS)', '4.0.0' FROM d;

INSERT INTO alerts (alert_id, alert_type, alert_key, display_name, severity, device_id, hub, status,
                    start_ms, end_ms, count, value, description, remediation, extended_properties,
                    resolved_ms)
WITH RECURSIVE a(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM a WHERE i < @n),
     row AS (SELECT i, printf('dev-%05d', (i * 7919) % @devices) AS dev,
                    @now - (@n - i) * (30 * 86400000 / @n) AS t,
                    (SELECT type FROM kinds WHERE k = 1 + i % 7) AS type,
                    (SELECT name FROM kinds WHERE k = 1 + i % 7) AS name,
                    (SELECT severity FROM kinds WHERE k = 1 + i % 7) AS sev FROM a)
SELECT i, type, dev || '|' || i, name, sev, dev, 'lab',
       CASE WHEN i > @n - @active THEN 'Active' ELSE 'Resolved' END,
       t, t + 600000, 1 + i % 13, i % 50,
       'Device ' || dev || ' communicated with 203.0.113.' || (i % 250) ||
           ', an address on the threat-intelligence list demo-list, 3 times in the window.',
       'Check the device for malware and, if the connection was not expected, block the address '
           || 'at the firewall and rotate the device''s credentials.',
       '{"RemoteAddress":"203.0.113.' || (i % 250) || '","RemotePort":"443","Protocol":"TCP",'
           || '"Direction":"Outbound","ThreatList":"demo-list","Count":"3"}',
       CASE WHEN i > @n - @active THEN NULL ELSE t + 3600000 END
FROM row;
COMMIT;
PRAGMA synchronous = FULL;
