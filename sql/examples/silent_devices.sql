-- Devices that have not sent anything for an hour or more, oldest first.
SELECT device_id, hub, security_group,
       strftime('%Y-%m-%dT%H:%M:%SZ', last_seen_ms / 1000, 'unixepoch') AS last_seen,
       (strftime('%s', 'now') * 1000 - last_seen_ms) / 60000 AS minutes_silent
FROM devices
WHERE last_seen_ms < (strftime('%s', 'now') - 3600) * 1000
ORDER BY last_seen_ms;
