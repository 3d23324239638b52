-- Devices whose clock is more than 5 minutes off the time Warden received
-- their last message (the default ingest.max_clock_skew).
SELECT device_id, clock_skew_ms / 1000 AS skew_seconds, os_info, agent_version
FROM devices
WHERE abs(clock_skew_ms) > 300000
ORDER BY abs(clock_skew_ms) DESC;
