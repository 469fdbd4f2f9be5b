-- Jobs grow dependencies, messages and schedules; models, their epochs, training checkpoints,
-- schedules and the slots they fired; dataset versions record what produced them.

CREATE TABLE schedules (
    id             BIGSERIAL PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    cron           TEXT NOT NULL,
    timezone       TEXT NOT NULL,
    template       JSONB NOT NULL,
    paused         BOOLEAN NOT NULL DEFAULT FALSE,
    grace_seconds  BIGINT NOT NULL,
    next_fire_at   TIMESTAMPTZ NOT NULL,
    last_fired_at  TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE NOT paused;

ALTER TABLE jobs ADD COLUMN message TEXT;
ALTER TABLE jobs ADD COLUMN depends_on BIGINT REFERENCES jobs(id) ON DELETE SET NULL;
ALTER TABLE jobs ADD COLUMN schedule_id BIGINT REFERENCES schedules(id) ON DELETE SET NULL;
CREATE INDEX jobs_kind ON jobs (kind, id);
CREATE INDEX jobs_status ON jobs (status, id);

-- One row per slot: the primary key is what makes a slot fire once however many workers run.
CREATE TABLE schedule_fires (
    schedule_id  BIGINT NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
    slot         TIMESTAMPTZ NOT NULL,
    manual       BOOLEAN NOT NULL,
    job_ids      JSONB NOT NULL,
    fired_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (schedule_id, slot)
);

CREATE TABLE models (
    id               BIGSERIAL PRIMARY KEY,
    name             TEXT NOT NULL,
    dataset_id       BIGINT NOT NULL,
    dataset_version  INTEGER NOT NULL,
    dataset_sha256   TEXT NOT NULL,
    spec             JSONB NOT NULL,
    seed             BIGINT NOT NULL,
    code_version     TEXT NOT NULL,
    -- the job that trains it; unique, so a retried job never makes a second model
    job_id           BIGINT NOT NULL UNIQUE REFERENCES jobs(id),
    parent_model_id  BIGINT REFERENCES models(id),
    best_epoch       INTEGER,
    epochs_run       INTEGER,
    summary          JSONB,
    file             BYTEA,
    file_sha256      TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    trained_at       TIMESTAMPTZ,
    FOREIGN KEY (dataset_id, dataset_version) REFERENCES dataset_versions(dataset_id, version) ON DELETE RESTRICT
);
CREATE INDEX models_dataset ON models (dataset_id);

CREATE TABLE model_epochs (
    model_id  BIGINT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    epoch     INTEGER NOT NULL,
    metrics   JSONB NOT NULL,
    PRIMARY KEY (model_id, epoch)
);

CREATE TABLE job_checkpoints (
    job_id      BIGINT PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    epoch       INTEGER NOT NULL,
    state       BYTEA NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

ALTER TABLE dataset_versions ADD COLUMN lineage JSONB;
