-- The same question over the longer history of hourly flow summaries:
-- every device that exchanged traffic with a remote IP, per hour.
SELECT strftime('%Y-%m-%dT%H:00Z', hour_ms / 1000, 'unixepoch') AS hour,
       device_id, protocol, remote_port, records, bytes_in, bytes_out
FROM flows_hourly
WHERE remote_ip = '52.178.17.3'
ORDER BY hour_ms DESC, device_id;
