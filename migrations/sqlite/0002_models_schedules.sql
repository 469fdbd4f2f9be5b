-- Same as migrations/postgres/0002; timestamps are RFC 3339 text, JSON is text.

CREATE TABLE schedules (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT NOT NULL UNIQUE,
    cron           TEXT NOT NULL,
    timezone       TEXT NOT NULL,
    template       TEXT NOT NULL,
    paused         BOOLEAN NOT NULL DEFAULT FALSE,
    grace_seconds  INTEGER NOT NULL,
    next_fire_at   TEXT NOT NULL,
    last_fired_at  TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE NOT paused;

ALTER TABLE jobs ADD COLUMN message TEXT;
ALTER TABLE jobs ADD COLUMN depends_on INTEGER REFERENCES jobs(id) ON DELETE SET NULL;
ALTER TABLE jobs ADD COLUMN schedule_id INTEGER REFERENCES schedules(id) ON DELETE SET NULL;
CREATE INDEX jobs_kind ON jobs (kind, id);
CREATE INDEX jobs_status ON jobs (status, id);

CREATE TABLE schedule_fires (
    schedule_id  INTEGER NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
    slot         TEXT NOT NULL,
    manual       BOOLEAN NOT NULL,
    job_ids      TEXT NOT NULL,
    fired_at     TEXT NOT NULL,
    PRIMARY KEY (schedule_id, slot)
);

CREATE TABLE models (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT NOT NULL,
    dataset_id       INTEGER NOT NULL,
    dataset_version  INTEGER NOT NULL,
    dataset_sha256   TEXT NOT NULL,
    spec             TEXT NOT NULL,
    seed             INTEGER NOT NULL,
    code_version     TEXT NOT NULL,
    job_id           INTEGER NOT NULL UNIQUE REFERENCES jobs(id),
    parent_model_id  INTEGER REFERENCES models(id),
    best_epoch       INTEGER,
    epochs_run       INTEGER,
    summary          TEXT,
    file             BLOB,
    file_sha256      TEXT,
    created_at       TEXT NOT NULL,
    trained_at       TEXT,
    FOREIGN KEY (dataset_id, dataset_version) REFERENCES dataset_versions(dataset_id, version) ON DELETE RESTRICT
);
CREATE INDEX models_dataset ON models (dataset_id);

CREATE TABLE model_epochs (
    model_id  INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    epoch     INTEGER NOT NULL,
    metrics   TEXT NOT NULL,
    PRIMARY KEY (model_id, epoch)
);

CREATE TABLE job_checkpoints (
    job_id      INTEGER PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    epoch       INTEGER NOT NULL,
    state       BLOB NOT NULL,
    updated_at  TEXT NOT NULL
);

ALTER TABLE dataset_versions ADD COLUMN lineage TEXT;
