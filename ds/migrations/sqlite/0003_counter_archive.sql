-- Usage counters over months (`ds/src/devices/rollover.rs`): the months closed, one archive
-- entry per (month, label, tag, module, use case), and the per-device rows of closed months,
-- kept one more month so that late data is counted once. Mirrors the PostgreSQL file.

-- A month's row is its lock: the process whose insert lands closes it, any other does nothing.
CREATE TABLE counter_months (
    month     TEXT PRIMARY KEY,
    closed_at INTEGER NOT NULL
);

CREATE TABLE counter_archive (
    month      TEXT NOT NULL,
    label      TEXT NOT NULL,
    tag        TEXT NOT NULL,
    module     TEXT NOT NULL,
    use_case   TEXT NOT NULL,
    total      INTEGER NOT NULL,
    adjustment INTEGER NOT NULL,
    PRIMARY KEY (month, label, tag, module, use_case)
);

CREATE TABLE closed_counters (
    device_id   TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    day         TEXT NOT NULL,
    label       TEXT NOT NULL,
    tag         TEXT NOT NULL,
    module      TEXT NOT NULL,
    use_case    TEXT NOT NULL,
    total       INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, day, label, tag, module, use_case)
);
CREATE INDEX closed_counters_by_day ON closed_counters(day);

CREATE INDEX device_counters_by_day ON device_counters(day);
