-- The operators' data: organisations, labels, versions and installers, API keys, publisher
-- keys, accounts, sessions, the audit log and the application-token signing keys.
-- Times are seconds since the Unix epoch; flags are 0/1 integers (one SQL text serves SQLite
-- and PostgreSQL through sqlx's Any driver). The PostgreSQL file mirrors this one.

CREATE TABLE organisations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE labels (
    id              TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL REFERENCES organisations(id) ON DELETE CASCADE,
    name            TEXT NOT NULL UNIQUE,
    application     TEXT NOT NULL,
    domains         TEXT NOT NULL,
    tags            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX labels_by_organisation ON labels(organisation_id, name);

CREATE TABLE versions (
    id          TEXT PRIMARY KEY,
    recommended INTEGER NOT NULL,
    mandatory   INTEGER NOT NULL,
    allowed     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE installers (
    version_id  TEXT NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    os          TEXT NOT NULL,
    source      TEXT NOT NULL,
    PRIMARY KEY (version_id, os)
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    label_id    TEXT REFERENCES labels(id) ON DELETE CASCADE,
    version_id  TEXT REFERENCES versions(id) ON DELETE CASCADE,
    hash        BLOB NOT NULL UNIQUE,
    hint        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    revoked_at  INTEGER,
    CHECK ((label_id IS NULL) <> (version_id IS NULL))
);
CREATE INDEX api_keys_by_label ON api_keys(label_id);
CREATE INDEX api_keys_by_version ON api_keys(version_id);

CREATE TABLE publisher_keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    public_key  TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    password_hash   TEXT NOT NULL,
    role            TEXT NOT NULL,
    organisation_id TEXT REFERENCES organisations(id) ON DELETE CASCADE,
    created_at      INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash  BLOB PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions(expires_at);

CREATE TABLE audit_log (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    at              INTEGER NOT NULL,
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,
    object_kind     TEXT NOT NULL,
    object_id       TEXT NOT NULL,
    organisation_id TEXT,
    detail          TEXT NOT NULL
);
CREATE INDEX audit_by_organisation ON audit_log(organisation_id, id);

CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,
    generation      INTEGER NOT NULL UNIQUE,
    algorithm       TEXT NOT NULL,
    private_pkcs8   BLOB,
    public_jwk      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    activates_at    INTEGER NOT NULL,
    published_until INTEGER
);
