-- Who queued each job (for the per-token limit on queued and running jobs), and the audit log:
-- who created, changed, exported or deleted what. The audit log never holds bodies or secrets.

ALTER TABLE jobs ADD COLUMN created_by INTEGER REFERENCES tokens(id) ON DELETE SET NULL;
CREATE INDEX jobs_created_by ON jobs (created_by, status);

CREATE TABLE audit_log (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    at             TEXT NOT NULL,
    -- NULL for a refused sign-in; kept when the token is deleted (name and role are copied)
    token_id       INTEGER,
    token_name     TEXT,
    role           TEXT,
    action         TEXT NOT NULL,
    method         TEXT NOT NULL,
    path           TEXT NOT NULL,
    resource_kind  TEXT,
    resource_id    TEXT,
    status         INTEGER NOT NULL,
    request_id     TEXT
);
CREATE INDEX audit_log_token ON audit_log (token_id, id);
CREATE INDEX audit_log_action ON audit_log (action, id);
