-- Same as migrations/postgres/0004; timestamps are RFC 3339 text, JSON is text.
-- Design optimisation: studies, their runs (one job each; the ask/tell run has none) and every
-- evaluated or asked candidate.

CREATE TABLE studies (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT NOT NULL UNIQUE,
    dataset_id       INTEGER,
    dataset_version  INTEGER,
    model_id         INTEGER REFERENCES models(id) ON DELETE RESTRICT,
    -- the resolved spec (bounds filled from the data) and the fitted surrogates with their CV scores
    spec             TEXT NOT NULL,
    surrogates       TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    FOREIGN KEY (dataset_id, dataset_version) REFERENCES dataset_versions(dataset_id, version) ON DELETE RESTRICT
);

CREATE TABLE study_runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    study_id     INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    job_id       INTEGER UNIQUE REFERENCES jobs(id),
    solver       TEXT NOT NULL,
    budget       INTEGER NOT NULL,
    seed         INTEGER NOT NULL,
    evaluations  INTEGER NOT NULL DEFAULT 0,
    summary      TEXT,
    created_at   TEXT NOT NULL,
    finished_at  TEXT
);
CREATE INDEX study_runs_study ON study_runs (study_id, id);

CREATE TABLE candidates (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    study_id     INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    run_id       INTEGER NOT NULL REFERENCES study_runs(id) ON DELETE CASCADE,
    iteration    INTEGER NOT NULL,
    solver       TEXT NOT NULL,
    -- 'evaluated' by genfab, 'asked' (waiting for a measurement), 'measured' (told)
    status       TEXT NOT NULL CHECK (status IN ('evaluated', 'asked', 'measured')),
    unit         TEXT NOT NULL,
    design       TEXT NOT NULL,
    latent       TEXT,
    objectives   TEXT,
    constraints  TEXT,
    predictions  TEXT,
    -- the first objective in minimisation form, for sorting; NULL until known
    score        REAL,
    violation    REAL,
    feasible     BOOLEAN,
    novelty      REAL,
    pareto       BOOLEAN NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    measured_at  TEXT,
    UNIQUE (run_id, iteration)
);
CREATE INDEX candidates_study ON candidates (study_id, id);
CREATE INDEX candidates_run_score ON candidates (run_id, score, id);
