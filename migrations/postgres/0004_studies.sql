-- Design optimisation: studies, their runs (one job each; the ask/tell run has none) and every
-- evaluated or asked candidate.

CREATE TABLE studies (
    id               BIGSERIAL PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    dataset_id       BIGINT,
    dataset_version  INTEGER,
    model_id         BIGINT REFERENCES models(id) ON DELETE RESTRICT,
    -- the resolved spec (bounds filled from the data) and the fitted surrogates with their CV scores
    spec             JSONB NOT NULL,
    surrogates       JSONB NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (dataset_id, dataset_version) REFERENCES dataset_versions(dataset_id, version) ON DELETE RESTRICT
);

CREATE TABLE study_runs (
    id           BIGSERIAL PRIMARY KEY,
    study_id     BIGINT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    job_id       BIGINT UNIQUE REFERENCES jobs(id),
    solver       TEXT NOT NULL,
    budget       INTEGER NOT NULL,
    seed         BIGINT NOT NULL,
    evaluations  INTEGER NOT NULL DEFAULT 0,
    summary      JSONB,
    created_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ
);
CREATE INDEX study_runs_study ON study_runs (study_id, id);

CREATE TABLE candidates (
    id           BIGSERIAL PRIMARY KEY,
    study_id     BIGINT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    run_id       BIGINT NOT NULL REFERENCES study_runs(id) ON DELETE CASCADE,
    iteration    INTEGER NOT NULL,
    solver       TEXT NOT NULL,
    -- 'evaluated' by genfab, 'asked' (waiting for a measurement), 'measured' (told)
    status       TEXT NOT NULL CHECK (status IN ('evaluated', 'asked', 'measured')),
    unit         JSONB NOT NULL,
    design       JSONB NOT NULL,
    latent       JSONB,
    objectives   JSONB,
    constraints  JSONB,
    predictions  JSONB,
    -- the first objective in minimisation form, for sorting; NULL until known
    score        DOUBLE PRECISION,
    violation    DOUBLE PRECISION,
    feasible     BOOLEAN,
    novelty      DOUBLE PRECISION,
    pareto       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMPTZ NOT NULL,
    measured_at  TIMESTAMPTZ,
    UNIQUE (run_id, iteration)
);
CREATE INDEX candidates_study ON candidates (study_id, id);
CREATE INDEX candidates_run_score ON candidates (run_id, score, id);
