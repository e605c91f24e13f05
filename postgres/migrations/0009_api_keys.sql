-- API keys: bearer tokens that authenticate callers of the server. The
-- SQLite twin (sqlite/migrations/0009_api_keys.sql) makes the same change;
-- storetest/testdata/schema.golden keeps the two in step.
--
-- A token is "lsk_{id}_{secret}": id finds the row, and only the SHA-256 of
-- the secret is kept, so the table gives nobody a working token. Keys are
-- revoked, never deleted: the row says who created and who revoked a key,
-- and the name it authenticated as stays taken, so the audit trail's actor
-- names one key for ever.
CREATE TABLE api_keys (
    id            TEXT COLLATE "C" PRIMARY KEY CHECK (id ~ '^[0-9a-f]{16}$'),
    name          TEXT COLLATE "C" NOT NULL UNIQUE CHECK (name <> ''),
    secret_sha256 BYTEA NOT NULL CHECK (length(secret_sha256) = 32),
    scopes        TEXT NOT NULL CHECK (scopes <> ''),
    created_at    TIMESTAMPTZ NOT NULL,
    created_by    TEXT NOT NULL,
    expires_at    TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ,
    revoked_by    TEXT,
    CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);
