-- 003: raw flows packed one row per message.
--
-- A security message carries its flows together (20 a message from Azure
-- RTOS), and SQLite's cost is per row: one row and one index entry a flow
-- made the inserts two thirds of the ingester's CPU. A message's flows now
-- go in one flow_pack row, as a JSON array with one array per flow:
--
--   [proto_dir, laddr, lport, raddr, rport, bytes_in, bytes_out, skew_ms
--    (, process_id, user_id, executable, commandline, details)]
--
-- proto_dir is protocol * 4 + direction, laddr and raddr are addrs.id,
-- skew_ms is device_ms - recv_ms or null, and the last five (legacy JSON
-- agents only) are there only when one of them is. Flow n of a pack (from 0)
-- has the id id + n, so ids stay dense and arrival ordered, and the flows
-- view reads exactly as before, with SQLite's own json_each: any sqlite3
-- can query it, no extension needed.

CREATE TABLE flow_pack (
    id      INTEGER PRIMARY KEY,    -- the id of the pack's first flow
    recv_ms INTEGER NOT NULL,
    dev     INTEGER NOT NULL,       -- devices.id
    n       INTEGER NOT NULL,       -- flows in the pack
    flows   TEXT NOT NULL           -- JSON array, one array per flow (above)
);
CREATE INDEX flow_pack_recv ON flow_pack(recv_ms);

-- What 001 stored, a pack of one flow per row, ids kept.
INSERT INTO flow_pack (id, recv_ms, dev, n, flows)
SELECT id, recv_ms, dev, 1,
       CASE WHEN process_id IS NULL AND user_id IS NULL AND executable IS NULL
                 AND commandline IS NULL AND details IS NULL
            THEN json_array(json_array(proto_dir, laddr, lport, raddr, rport, bytes_in, bytes_out,
                                       skew_ms))
            ELSE json_array(json_array(proto_dir, laddr, lport, raddr, rport, bytes_in, bytes_out,
                                       skew_ms, process_id, user_id, executable, commandline,
                                       details))
       END
FROM flow_raw ORDER BY id;

DROP VIEW flows;
DROP TABLE flow_raw;

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
       j.value ->> 12 AS details
FROM flow_pack p
CROSS JOIN json_each(p.flows) j
JOIN devices d ON d.id = p.dev
JOIN addrs l ON l.id = j.value ->> 1
JOIN addrs r ON r.id = j.value ->> 3;
