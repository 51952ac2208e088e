-- Webhooks, SQLite dialect (migrations/postgres/0003_webhooks.sql is the same
-- for PostgreSQL). An account's event log is POSTed to each of its webhooks,
-- signed with the webhook's own secret (sealed, purpose "webhook_secret",
-- bound to the row id). src/webhooks/ explains the delivery rules.
CREATE TABLE webhooks (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id       INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    url              TEXT    NOT NULL,
    secret_sealed    BLOB    NOT NULL,
    created_at       INTEGER NOT NULL,
    -- Every event up to this cursor was delivered (a 2xx) or given up on.
    delivered_cursor INTEGER NOT NULL,
    last_success_at  INTEGER,
    last_error       TEXT,
    last_error_at    INTEGER,
    -- Failed attempts at the event being delivered; 0 when healthy.
    attempts         INTEGER NOT NULL DEFAULT 0,
    -- When the current run of failures began; NULL after a success.
    failing_since    INTEGER,
    -- Set while delivery is paused by its owner; NULL: enabled.
    disabled_at      INTEGER
);
CREATE INDEX webhooks_account ON webhooks (account_id);
