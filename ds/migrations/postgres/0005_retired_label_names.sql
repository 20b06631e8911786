-- Names of deleted labels: a label's name is the subject its usage is counted under, so a name
-- is never given to another label (which could be another organisation's). Mirrors the
-- SQLite file.

CREATE TABLE retired_label_names (
    name            TEXT PRIMARY KEY,
    organisation_id TEXT NOT NULL,
    retired_at      BIGINT NOT NULL
);
