-- TLS keystores handed to connectors for their local HTTPS listener: a chain and its key for
-- the connector's DNS names, for one connector version or for every device (the default).
-- Mirrors the PostgreSQL file.

CREATE TABLE tls_keystores (
    id          TEXT PRIMARY KEY,
    scope_kind  TEXT NOT NULL CHECK (scope_kind IN ('default', 'version')),
    scope_id    TEXT,
    dns_names   TEXT NOT NULL,
    chain_pem   TEXT NOT NULL,
    key_pem     TEXT NOT NULL,
    not_after   INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX tls_keystores_by_scope ON tls_keystores(scope_kind, scope_id, not_after);
CREATE INDEX tls_keystores_by_fingerprint ON tls_keystores(fingerprint);
