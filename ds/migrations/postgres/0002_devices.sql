-- The device protocol: the DS's own message keys, registration tokens, devices, seen message
-- ids (replay protection) and usage counters per device and day. Mirrors the SQLite file.

CREATE TABLE device_protocol_keys (
    generation      BIGINT PRIMARY KEY,
    signing_kid     TEXT NOT NULL UNIQUE,
    encryption_kid  TEXT NOT NULL UNIQUE,
    private_keys    TEXT,
    public_keys     TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    activates_at    BIGINT NOT NULL,
    published_until BIGINT
);

CREATE TABLE registration_tokens (
    hash        BYTEA PRIMARY KEY,
    version_id  TEXT NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX registration_tokens_by_expiry ON registration_tokens(expires_at);

CREATE TABLE devices (
    id              TEXT PRIMARY KEY,
    signing_key     TEXT NOT NULL,
    encryption_key  TEXT NOT NULL,
    installed_with  TEXT NOT NULL,
    version         TEXT NOT NULL,
    os              TEXT NOT NULL,
    arch            TEXT NOT NULL,
    state           TEXT NOT NULL,
    labels          TEXT NOT NULL,
    browsers        TEXT NOT NULL,
    modules         TEXT NOT NULL,
    failed_installs TEXT NOT NULL,
    registered_at   BIGINT NOT NULL,
    last_seen       BIGINT NOT NULL,
    revoked_at      BIGINT
);
CREATE INDEX devices_by_last_seen ON devices(last_seen);

CREATE TABLE seen_messages (
    device_id   TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    seen_at     BIGINT NOT NULL,
    PRIMARY KEY (device_id, message_id)
);
CREATE INDEX seen_messages_by_time ON seen_messages(seen_at);

CREATE TABLE device_counters (
    device_id   TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    day         TEXT NOT NULL,
    label       TEXT NOT NULL,
    tag         TEXT NOT NULL,
    module      TEXT NOT NULL,
    use_case    TEXT NOT NULL,
    total       BIGINT NOT NULL,
    seq         BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (device_id, day, label, tag, module, use_case)
);
CREATE INDEX device_counters_by_label_day ON device_counters(label, day);
