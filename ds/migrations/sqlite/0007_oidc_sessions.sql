-- Dashboard sign-in through the OIDC issuer: the sign-ins under way (between the redirect to
-- the issuer and its answer; each used once) and the sessions they opened. An OIDC operator
-- has no local account, so the session holds who they are and the role their tokens granted.
-- Mirrors the PostgreSQL file.

CREATE TABLE oidc_logins (
    state_hash    BLOB PRIMARY KEY,
    nonce         TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    redirect_uri  TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX oidc_logins_by_expiry ON oidc_logins(expires_at);

CREATE TABLE oidc_sessions (
    token_hash      BLOB PRIMARY KEY,
    subject         TEXT NOT NULL,
    username        TEXT,
    role            TEXT NOT NULL,
    organisation_id TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);
CREATE INDEX oidc_sessions_by_expiry ON oidc_sessions(expires_at);
