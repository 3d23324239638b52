-- Which devices talked to a given remote IP address, when, and how much?
-- Change the address below. Raw flows are kept for a few days (retention.*);
-- the hourly summaries (flows_hourly) reach further back.
SELECT device_id,
       count(*) AS flow_records,
       sum(bytes_in) AS bytes_in,
       sum(bytes_out) AS bytes_out,
       strftime('%Y-%m-%dT%H:%M:%SZ', min(recv_ms) / 1000, 'unixepoch') AS first_seen,
       strftime('%Y-%m-%dT%H:%M:%SZ', max(recv_ms) / 1000, 'unixepoch') AS last_seen
FROM flows
WHERE remote_ip = '52.178.17.3'
GROUP BY device_id
ORDER BY flow_records DESC;
