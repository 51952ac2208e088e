-- tgdesk schema, SQLite dialect. migrations/postgres/0001_init.sql holds the
-- same schema for PostgreSQL; keep the two in step, number for number.
--
-- Rules (src/store/mod.rs explains them): column types are INTEGER, TEXT or
-- BLOB only; times are Unix seconds UTC; flags are integers or nullable
-- times; sealed columns hold vault blobs (never plaintext).

-- A staff member's Telegram account, created or re-attached by a login.
CREATE TABLE accounts (
    id                          INTEGER PRIMARY KEY AUTOINCREMENT,
    telegram_user_id            INTEGER NOT NULL UNIQUE,
    display_name                TEXT    NOT NULL DEFAULT '',
    username                    TEXT,
    phone_masked                TEXT,
    phone_sealed                BLOB,
    state                       TEXT    NOT NULL DEFAULT 'active'
        CHECK (state IN ('active', 'revoked', 'deactivated', 'reset')),
    home_dc                     INTEGER,
    created_at                  INTEGER NOT NULL,
    logged_in_at                INTEGER,
    last_seen_at                INTEGER,
    state_changed_at            INTEGER,
    -- Set when a reset could not reach Telegram; cleared once auth.logOut succeeded.
    remote_logout_pending_since INTEGER,
    -- Last cursor handed out in this account's event log; never decreases.
    last_event_cursor           INTEGER NOT NULL DEFAULT 0
);

-- Sealed MTProto authorisation: home DC, per-DC auth keys, self user.
-- One row per account, rewritten only when the material changes.
CREATE TABLE account_auth (
    account_id INTEGER PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    sealed     BLOB    NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Update state, apart from the auth material: small and written often (batched).
CREATE TABLE account_update_state (
    account_id INTEGER PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    pts        INTEGER NOT NULL,
    qts        INTEGER NOT NULL,
    date       INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Per-channel pts, one row per channel so a flush writes only what changed.
CREATE TABLE account_channel_state (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    channel_id INTEGER NOT NULL,
    pts        INTEGER NOT NULL,
    PRIMARY KEY (account_id, channel_id)
);

-- Peer cache (access hashes): one sealed row per peer, upserted in batches.
-- peer_id is grammers' PeerId (Bot API dialog id form).
CREATE TABLE account_peers (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    peer_id    INTEGER NOT NULL,
    sealed     BLOB    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, peer_id)
);

-- Browser sessions. The cookie holds a random token; only its SHA-256 is kept.
CREATE TABLE web_sessions (
    id_hash      BLOB    PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    csrf_secret  BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    user_agent   TEXT,
    address      TEXT
);
CREATE INDEX web_sessions_account ON web_sessions (account_id);
CREATE INDEX web_sessions_expires ON web_sessions (expires_at);

-- Bearer tokens for programs: looked up by prefix, verified against SHA-256.
-- Staff tokens belong to an account; admin tokens may belong to none.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id   INTEGER REFERENCES accounts (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    prefix       TEXT    NOT NULL UNIQUE,
    hash         BLOB    NOT NULL,
    role         TEXT    NOT NULL CHECK (role IN ('staff', 'admin')),
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER,
    CHECK (role = 'admin' OR account_id IS NOT NULL)
);
CREATE INDEX api_tokens_account ON api_tokens (account_id);

-- Telegram users granted the admin role (by configuration sync or CLI).
CREATE TABLE admins (
    telegram_user_id INTEGER PRIMARY KEY,
    granted_at       INTEGER NOT NULL,
    granted_by       TEXT    NOT NULL
);

-- Every login attempt: never the code or the password.
CREATE TABLE login_attempts (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    at             INTEGER NOT NULL,
    phone_masked   TEXT,
    address        TEXT,
    method         TEXT    NOT NULL CHECK (method IN ('phone', 'qr', 'password')),
    outcome        TEXT    NOT NULL,
    telegram_error TEXT,
    account_id     INTEGER REFERENCES accounts (id) ON DELETE SET NULL
);
CREATE INDEX login_attempts_at ON login_attempts (at);
CREATE INDEX login_attempts_address ON login_attempts (address, at);
CREATE INDEX login_attempts_phone ON login_attempts (phone_masked, at);

-- Admin actions, logins, logouts, resets, token and key events. Never secrets.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT    NOT NULL,
    action  TEXT    NOT NULL,
    target  TEXT,
    outcome TEXT    NOT NULL,
    detail  TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);

-- Per-account event log: cursor increases monotonically per account
-- (allocated from accounts.last_event_cursor); payload sealed.
-- chat_id is a Bot API dialog id.
CREATE TABLE events (
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    cursor     INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    chat_id    INTEGER NOT NULL,
    message_id INTEGER,
    payload    BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, cursor)
);
CREATE INDEX events_created ON events (created_at);
