-- The 20 remote endpoints the fleet talked to most in the last 24 hours.
SELECT remote_ip, remote_port, protocol,
       count(DISTINCT device_id) AS devices,
       count(*) AS flow_records,
       sum(bytes_in + bytes_out) AS bytes
FROM flows
WHERE recv_ms >= (strftime('%s', 'now') - 86400) * 1000
GROUP BY remote_ip, remote_port, protocol
ORDER BY flow_records DESC
LIMIT 20;
