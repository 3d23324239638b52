-- What could not be stored in the last day, and why.
SELECT reason, count(*) AS messages, sum(payload_size) AS bytes,
       strftime('%Y-%m-%dT%H:%M:%SZ', max(recv_ms) / 1000, 'unixepoch') AS last
FROM dead_letters
WHERE recv_ms >= (strftime('%s', 'now') - 86400) * 1000
GROUP BY reason
ORDER BY messages DESC;
