-- Same tables as migrations/postgres/0007; timestamps are RFC 3339 text, JSON is text.

CREATE TABLE webhooks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    url         TEXT NOT NULL,
    events      TEXT NOT NULL,
    secret      TEXT NOT NULL,
    active      INTEGER NOT NULL DEFAULT 1,
    created_by  INTEGER REFERENCES tokens(id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id     INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event          TEXT NOT NULL,
    payload        TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_status    INTEGER,
    last_response  TEXT,
    last_error     TEXT,
    job_id         INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
    created_at     TEXT NOT NULL,
    delivered_at   TEXT
);
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
