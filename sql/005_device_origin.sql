-- 005: which devices Warden registered by itself.
--
-- A device id first seen on a topic or in a hub record is registered
-- automatically, and ingest.max_auto_devices bounds how many such devices
-- there may be (issue 14: anyone who can publish could otherwise grow the
-- registry without end). Imported devices do not count, and a device that an
-- import names stops counting.
ALTER TABLE devices ADD COLUMN auto_registered INTEGER NOT NULL DEFAULT 0;

-- Databases from before kept no such mark: a device with neither an
-- authentication type nor a credential was seen, not imported.
UPDATE devices SET auto_registered = 1
 WHERE auth_type IS NULL AND device_id NOT IN (SELECT device_id FROM device_credentials);

-- The ingester counts them at start and when the cap is reached.
CREATE INDEX devices_auto ON devices(auto_registered) WHERE auto_registered = 1;
