-- The web console's sign-in (hub/src/console/session.rs): sessions and
-- one-time sign-in links. Only hashes are kept: of the session's cookie, of
-- the link's code and of the API token they stand for (a revoked token ends
-- its sessions at once). Expiries are unix seconds, compared as integers.
CREATE TABLE console_sessions (
    id_sha256 TEXT NOT NULL PRIMARY KEY,
    token_sha256 TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions(expires_at);

CREATE TABLE console_links (
    code_sha256 TEXT NOT NULL PRIMARY KEY,
    token_sha256 TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at TIMESTAMP
);
