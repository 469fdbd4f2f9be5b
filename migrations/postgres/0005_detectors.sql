-- Quality inspection: anomaly detectors, their calibrated versions (each with its own model file,
-- threshold, curves and drift reference) and the rows the MES had scored.

CREATE TABLE detectors (
    id               BIGSERIAL PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    dataset_id       BIGINT NOT NULL REFERENCES datasets(id) ON DELETE RESTRICT,
    -- normal rows, columns, model or VAE spec, calibration, scoring, hold-out, seed
    spec             JSONB NOT NULL,
    -- every column of the dataset when the detector was made (others in a scored row are errors)
    known_columns    JSONB NOT NULL,
    retention_days   INTEGER NOT NULL CHECK (retention_days > 0),
    -- scored rows stored before the answer ('before_answer') or just after it ('after_answer')
    persist          TEXT NOT NULL DEFAULT 'before_answer' CHECK (persist IN ('before_answer', 'after_answer')),
    current_version  INTEGER,
    created_at       TIMESTAMPTZ NOT NULL
);

CREATE TABLE detector_versions (
    id               BIGSERIAL PRIMARY KEY,
    detector_id      BIGINT NOT NULL REFERENCES detectors(id) ON DELETE CASCADE,
    version          INTEGER NOT NULL,
    job_id           BIGINT UNIQUE REFERENCES jobs(id),
    dataset_version  INTEGER NOT NULL,
    dataset_sha256   TEXT NOT NULL,
    -- the model it reused, if it did not train its own
    model_id         BIGINT REFERENCES models(id) ON DELETE RESTRICT,
    -- the model file (safetensors with genfab metadata), immutable
    model            BYTEA NOT NULL,
    threshold        DOUBLE PRECISION NOT NULL,
    -- method, false-alarm rate, recall, precision, F1, ROC and PR curves
    calibration      JSONB NOT NULL,
    -- calibration scores and numeric columns, for drift
    reference        JSONB NOT NULL,
    summary          JSONB NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (detector_id, version)
);

CREATE TABLE detector_scores (
    id           BIGSERIAL PRIMARY KEY,
    detector_id  BIGINT NOT NULL REFERENCES detectors(id) ON DELETE CASCADE,
    version      INTEGER NOT NULL,
    scored_at    TIMESTAMPTZ NOT NULL,
    -- the caller's `_id` of the row (a part or batch number), if it sent one
    part         TEXT,
    score        DOUBLE PRECISION NOT NULL,
    anomaly      BOOLEAN NOT NULL,
    row_values   JSONB NOT NULL,
    top          JSONB NOT NULL
);
CREATE INDEX detector_scores_time ON detector_scores (detector_id, scored_at);
CREATE INDEX detector_scores_recent ON detector_scores (detector_id, id);
