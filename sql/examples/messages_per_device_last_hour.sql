-- Messages per device and kind over the last hour, from the 10-second counts.
SELECT device_id, metric, sum(value) AS total
FROM device_counts
WHERE bucket_ms >= (strftime('%s', 'now') - 3600) * 1000
GROUP BY device_id, metric
ORDER BY device_id, metric;
