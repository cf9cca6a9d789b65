-- Bearer tokens of the admin API. Only the SHA-256 of a token is stored: the
-- token itself is shown once, when it is created.
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'coordinator', 'evaluator')),
    -- Territory ids a coordinator acts on, comma-separated (empty otherwise).
    territories TEXT NOT NULL DEFAULT '',
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
-- A name designates one live token; a revoked name may be given again.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens(name) WHERE revoked_at IS NULL;
