-- API keys: bearer tokens that authenticate callers of the server. The
-- PostgreSQL twin (postgres/migrations/0009_api_keys.sql) makes the same
-- change and says why; storetest/testdata/schema.golden keeps the two in
-- step.
CREATE TABLE api_keys (
    id            TEXT NOT NULL PRIMARY KEY CHECK (length(id) = 16 AND id NOT GLOB '*[^0-9a-f]*'),
    name          TEXT NOT NULL UNIQUE CHECK (name <> ''),
    secret_sha256 BLOB NOT NULL CHECK (length(secret_sha256) = 32),
    scopes        TEXT NOT NULL CHECK (scopes <> ''),
    created_at    INTEGER NOT NULL,
    created_by    TEXT NOT NULL,
    expires_at    INTEGER,
    revoked_at    INTEGER,
    revoked_by    TEXT,
    CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
) STRICT;
