-- Same as migrations/postgres/0003; timestamps are RFC 3339 text, JSON is text.

CREATE TABLE reports (
    dataset_id     INTEGER NOT NULL,
    version        INTEGER NOT NULL,
    report         TEXT NOT NULL,
    privacy_check  TEXT NOT NULL CHECK (privacy_check IN ('passed', 'failed')),
    created_at     TEXT NOT NULL,
    PRIMARY KEY (dataset_id, version),
    FOREIGN KEY (dataset_id, version) REFERENCES dataset_versions(dataset_id, version) ON DELETE CASCADE
);

CREATE TABLE export_overrides (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset_id  INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    token_id    INTEGER NOT NULL REFERENCES tokens(id),
    reason      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
