-- 004: the collection interval each event carries.
--
-- An Azure RTOS device says, in every event, over how many seconds it
-- collected what the event reports (network activity every 10 s by default,
-- system information and heartbeats every 60 s). It is kept with each event's
-- rows, NULL where the format does not say (JSON agents), so that a gap in a
-- device's data can be read against the cadence it promised; the device keeps
-- the newest of its network activity and of its heartbeats (system
-- information comes at the heartbeat's cadence) for its page.

ALTER TABLE devices ADD COLUMN activity_interval_s INTEGER;
ALTER TABLE devices ADD COLUMN heartbeat_interval_s INTEGER;
ALTER TABLE flow_pack ADD COLUMN interval_s INTEGER;  -- a pack holds flows of one event interval
ALTER TABLE listening_ports ADD COLUMN collection_interval_s INTEGER;
ALTER TABLE system_info ADD COLUMN collection_interval_s INTEGER;
ALTER TABLE heartbeats ADD COLUMN collection_interval_s INTEGER;
ALTER TABLE events_other ADD COLUMN collection_interval_s INTEGER;

DROP VIEW flows;
CREATE VIEW flows AS
SELECT p.id + j.key AS flow_id,
       d.device_id,
       d.hub,
       p.recv_ms,
       p.recv_ms + (j.value ->> 7) AS device_ms,
       CASE (j.value ->> 0) >> 2 WHEN 0 THEN 'TCP' WHEN 1 THEN 'UDP' ELSE 'ICMP' END AS protocol,
       l.ip AS local_ip,
       j.value ->> 2 AS local_port,
       r.ip AS remote_ip,
       j.value ->> 4 AS remote_port,
       j.value ->> 5 AS bytes_in,
       j.value ->> 6 AS bytes_out,
       CASE (j.value ->> 0) & 3 WHEN 1 THEN 'in' WHEN 2 THEN 'out' ELSE 'unknown' END AS direction,
       j.value ->> 8 AS process_id,
       j.value ->> 9 AS user_id,
       j.value ->> 10 AS executable,
       j.value ->> 11 AS commandline,
       j.value ->> 12 AS details,
       p.interval_s AS collection_interval_s
FROM flow_pack p
CROSS JOIN json_each(p.flows) j
JOIN devices d ON d.id = p.dev
JOIN addrs l ON l.id = j.value ->> 1
JOIN addrs r ON r.id = j.value ->> 3;
