-- Quality and privacy reports of synthetic dataset versions, and the exports that overrode a
-- failed privacy check.

CREATE TABLE reports (
    dataset_id     BIGINT NOT NULL,
    version        INTEGER NOT NULL,
    report         JSONB NOT NULL,
    privacy_check  TEXT NOT NULL CHECK (privacy_check IN ('passed', 'failed')),
    created_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (dataset_id, version),
    FOREIGN KEY (dataset_id, version) REFERENCES dataset_versions(dataset_id, version) ON DELETE CASCADE
);

CREATE TABLE export_overrides (
    id          BIGSERIAL PRIMARY KEY,
    dataset_id  BIGINT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    token_id    BIGINT NOT NULL REFERENCES tokens(id),
    reason      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
