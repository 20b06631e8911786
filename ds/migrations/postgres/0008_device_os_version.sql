-- The OS version a connector reports (`Platform.os_version`); NULL for devices whose connector
-- does not send it. Mirrors the SQLite file.

ALTER TABLE devices ADD COLUMN os_version TEXT;
