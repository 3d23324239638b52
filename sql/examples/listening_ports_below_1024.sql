-- Which devices listen on a privileged port (below 1024), as last reported?
SELECT device_id, protocol, local_ip, local_port,
       strftime('%Y-%m-%dT%H:%M:%SZ', max(recv_ms) / 1000, 'unixepoch') AS last_reported
FROM listening_ports
WHERE local_port < 1024
GROUP BY device_id, protocol, local_ip, local_port
ORDER BY local_port, device_id;
