-- Tokens, datasets (chunks and immutable versions), idempotency records, jobs.
-- Same tables as migrations/postgres; timestamps are RFC 3339 text, JSON is text.

CREATE TABLE tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'engineer', 'viewer', 'mes')),
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT,
    revoked_at    TEXT
);

CREATE TABLE datasets (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE dataset_chunks (
    dataset_id  INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    row_count   INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    stats       TEXT NOT NULL,
    parquet     BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (dataset_id, seq)
);

CREATE TABLE dataset_versions (
    dataset_id  INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    n_chunks    INTEGER NOT NULL,
    row_count   INTEGER NOT NULL,
    schema      TEXT NOT NULL,
    stats       TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    source      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (dataset_id, version)
);

CREATE TABLE idempotency (
    scope           TEXT NOT NULL,
    key             TEXT NOT NULL,
    request_sha256  TEXT NOT NULL,
    status          INTEGER NOT NULL,
    response        TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE TABLE jobs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    kind              TEXT NOT NULL,
    payload           TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    max_attempts      INTEGER NOT NULL DEFAULT 3,
    run_at            TEXT NOT NULL,
    lease_owner       TEXT,
    lease_expires_at  TEXT,
    heartbeat_at      TEXT,
    progress          REAL NOT NULL DEFAULT 0,
    last_error        TEXT,
    cancel_requested  INTEGER NOT NULL DEFAULT 0,
    result            TEXT,
    dataset_id        INTEGER REFERENCES datasets(id) ON DELETE RESTRICT,
    created_at        TEXT NOT NULL,
    started_at        TEXT,
    finished_at       TEXT
);
CREATE INDEX jobs_claim ON jobs (status, run_at);
CREATE INDEX jobs_dataset ON jobs (dataset_id);
