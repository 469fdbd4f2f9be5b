-- Tokens, datasets (chunks and immutable versions), idempotency records, jobs.

CREATE TABLE tokens (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'engineer', 'viewer', 'mes')),
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ
);

CREATE TABLE datasets (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

-- Rows arrive in chunks (the upload, then each append); a version is the first n chunks.
CREATE TABLE dataset_chunks (
    dataset_id  BIGINT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    row_count   BIGINT NOT NULL,
    sha256      TEXT NOT NULL,
    stats       JSONB NOT NULL,
    parquet     BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (dataset_id, seq)
);

CREATE TABLE dataset_versions (
    dataset_id  BIGINT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    n_chunks    INTEGER NOT NULL,
    row_count   BIGINT NOT NULL,
    schema      JSONB NOT NULL,
    stats       JSONB NOT NULL,
    sha256      TEXT NOT NULL,
    source      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (dataset_id, version)
);

CREATE TABLE idempotency (
    scope           TEXT NOT NULL,
    key             TEXT NOT NULL,
    request_sha256  TEXT NOT NULL,
    status          INTEGER NOT NULL,
    response        JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE TABLE jobs (
    id                BIGSERIAL PRIMARY KEY,
    kind              TEXT NOT NULL,
    payload           JSONB NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    max_attempts      INTEGER NOT NULL DEFAULT 3,
    run_at            TIMESTAMPTZ NOT NULL,
    lease_owner       TEXT,
    lease_expires_at  TIMESTAMPTZ,
    heartbeat_at      TIMESTAMPTZ,
    progress          DOUBLE PRECISION NOT NULL DEFAULT 0,
    last_error        TEXT,
    cancel_requested  BOOLEAN NOT NULL DEFAULT FALSE,
    result            JSONB,
    dataset_id        BIGINT REFERENCES datasets(id) ON DELETE RESTRICT,
    created_at        TIMESTAMPTZ NOT NULL,
    started_at        TIMESTAMPTZ,
    finished_at       TIMESTAMPTZ
);
CREATE INDEX jobs_claim ON jobs (status, run_at);
CREATE INDEX jobs_dataset ON jobs (dataset_id) WHERE dataset_id IS NOT NULL;
