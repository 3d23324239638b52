-- 006: a device's status in the registry, as IoT Hub keeps it (issue 16).
--
-- IoT Hub's Device object has "status": "enabled" or "disabled", and a
-- disabled device may not connect. `warden registry import` stores it here
-- and in the lab hub's key store, where the broker plugin refuses a disabled
-- device's logins. Every device before this was enabled, IoT Hub's default.
ALTER TABLE devices ADD COLUMN status TEXT NOT NULL DEFAULT 'enabled'
    CHECK (status IN ('enabled', 'disabled'));
