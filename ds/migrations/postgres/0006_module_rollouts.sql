-- Module delivery: signed bundles operators upload, rollouts that assign them to devices in
-- steps, each device's progress per rollout, and the serial every module assignment carries.
-- TLS keystores may also be scoped to an organisation. Mirrors the SQLite file.

CREATE TABLE bundles (
    digest       TEXT PRIMARY KEY,
    module       TEXT NOT NULL,
    version      TEXT NOT NULL,
    signer       TEXT NOT NULL,
    contract     TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    description  TEXT NOT NULL,
    size         BIGINT NOT NULL,
    content      BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    UNIQUE (module, version)
);

CREATE TABLE rollouts (
    id                TEXT PRIMARY KEY,
    bundle            TEXT NOT NULL REFERENCES bundles(digest),
    module            TEXT NOT NULL,
    connector_versions TEXT NOT NULL,
    labels            TEXT NOT NULL,
    organisations     TEXT NOT NULL,
    percent           BIGINT NOT NULL CHECK (percent BETWEEN 0 AND 100),
    failure_threshold BIGINT NOT NULL CHECK (failure_threshold >= 0),
    state             TEXT NOT NULL CHECK (state IN ('active', 'paused', 'rolled_back')),
    state_reason      TEXT,
    counted_since     BIGINT NOT NULL,
    sequence          BIGINT NOT NULL UNIQUE,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX rollouts_by_module ON rollouts(module, sequence);

CREATE TABLE rollout_devices (
    rollout_id TEXT NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
    device_id  TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    status     TEXT NOT NULL CHECK (status IN ('assigned', 'installed', 'failed')),
    reason     TEXT,
    changed_at BIGINT NOT NULL,
    PRIMARY KEY (rollout_id, device_id)
);
CREATE INDEX rollout_devices_by_status ON rollout_devices(rollout_id, status, changed_at);

CREATE TABLE assignment_serial (
    id    BIGINT PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO assignment_serial (id, value) VALUES (1, 1);

ALTER TABLE tls_keystores DROP CONSTRAINT tls_keystores_scope_kind_check;
ALTER TABLE tls_keystores ADD CONSTRAINT tls_keystores_scope_kind_check
    CHECK (scope_kind IN ('default', 'version', 'organisation'));
