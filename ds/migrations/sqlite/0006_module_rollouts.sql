-- Module delivery: signed bundles operators upload, rollouts that assign them to devices in
-- steps, each device's progress per rollout, and the serial every module assignment carries.
-- TLS keystores may also be scoped to an organisation. Mirrors the PostgreSQL file.

CREATE TABLE bundles (
    digest       TEXT PRIMARY KEY,
    module       TEXT NOT NULL,
    version      TEXT NOT NULL,
    signer       TEXT NOT NULL,
    contract     TEXT NOT NULL,
    capabilities TEXT NOT NULL,
    description  TEXT NOT NULL,
    size         INTEGER NOT NULL,
    content      BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    UNIQUE (module, version)
);

CREATE TABLE rollouts (
    id                TEXT PRIMARY KEY,
    bundle            TEXT NOT NULL REFERENCES bundles(digest),
    module            TEXT NOT NULL,
    connector_versions TEXT NOT NULL,
    labels            TEXT NOT NULL,
    organisations     TEXT NOT NULL,
    percent           INTEGER NOT NULL CHECK (percent BETWEEN 0 AND 100),
    failure_threshold INTEGER NOT NULL CHECK (failure_threshold >= 0),
    state             TEXT NOT NULL CHECK (state IN ('active', 'paused', 'rolled_back')),
    state_reason      TEXT,
    counted_since     INTEGER NOT NULL,
    sequence          INTEGER NOT NULL UNIQUE,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX rollouts_by_module ON rollouts(module, sequence);

CREATE TABLE rollout_devices (
    rollout_id TEXT NOT NULL REFERENCES rollouts(id) ON DELETE CASCADE,
    device_id  TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    status     TEXT NOT NULL CHECK (status IN ('assigned', 'installed', 'failed')),
    reason     TEXT,
    changed_at INTEGER NOT NULL,
    PRIMARY KEY (rollout_id, device_id)
);
CREATE INDEX rollout_devices_by_status ON rollout_devices(rollout_id, status, changed_at);

CREATE TABLE assignment_serial (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO assignment_serial (id, value) VALUES (1, 1);

-- SQLite cannot change a CHECK constraint in place: the table is rebuilt.
CREATE TABLE tls_keystores_new (
    id          TEXT PRIMARY KEY,
    scope_kind  TEXT NOT NULL CHECK (scope_kind IN ('default', 'version', 'organisation')),
    scope_id    TEXT,
    dns_names   TEXT NOT NULL,
    chain_pem   TEXT NOT NULL,
    key_pem     TEXT NOT NULL,
    not_after   INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
INSERT INTO tls_keystores_new SELECT id, scope_kind, scope_id, dns_names, chain_pem, key_pem, not_after, fingerprint, created_at, revoked_at FROM tls_keystores;
DROP TABLE tls_keystores;
ALTER TABLE tls_keystores_new RENAME TO tls_keystores;
CREATE INDEX tls_keystores_by_scope ON tls_keystores(scope_kind, scope_id, not_after);
CREATE INDEX tls_keystores_by_fingerprint ON tls_keystores(fingerprint);
