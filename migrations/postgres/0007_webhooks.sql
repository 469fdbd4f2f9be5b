-- Webhook subscriptions and their deliveries. A delivery is sent by a `webhook` job (retried with
-- backoff by the jobs queue); each attempt overwrites the last_* columns.

CREATE TABLE webhooks (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    url         TEXT NOT NULL,
    events      JSONB NOT NULL,
    -- kept in clear: every delivery is signed with it (HMAC-SHA256)
    secret      TEXT NOT NULL,
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    created_by  BIGINT REFERENCES tokens(id) ON DELETE SET NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE webhook_deliveries (
    id             BIGSERIAL PRIMARY KEY,
    webhook_id     BIGINT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event          TEXT NOT NULL,
    payload        JSONB NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_status    INTEGER,
    -- the receiver's answer, cut to about 2 KB
    last_response  TEXT,
    last_error     TEXT,
    job_id         BIGINT REFERENCES jobs(id) ON DELETE SET NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    delivered_at   TIMESTAMPTZ
);
-- a subscription's deliveries, newest first (the API's list and the dashboard)
CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id);
