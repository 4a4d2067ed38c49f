-- Accounts, signing in by magic link, sessions and API tokens, owned by
-- notify (which mails the links). Nothing here is a secret on its own: a
-- token is kept only as its BLAKE2b-256 hash, so whoever reads the
-- database cannot sign in. Unsubscribing from digests leaves all this be.

-- A person, known by an address. Made at the first sign-in; its number is
-- the user id other services see ("u42").
CREATE TABLE account (
    id         bigserial   PRIMARY KEY,
    email      text        NOT NULL UNIQUE CHECK (length (email) BETWEEN 3 AND 254),
    created_at timestamptz NOT NULL
);

-- A sign-in link mailed and not yet expired. used_at marks the one use it
-- has: the update that sets it is the only way to a session. Rows stay an
-- hour past expiry, for the limit of sign-in mails an address gets an hour.
CREATE TABLE signin_request (
    token_hash bytea       PRIMARY KEY CHECK (length (token_hash) = 32),
    email      text        NOT NULL CHECK (length (email) BETWEEN 3 AND 254),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL CHECK (expires_at > created_at),
    used_at    timestamptz CHECK (used_at >= created_at)
);
CREATE INDEX signin_request_email ON signin_request (email, created_at);
CREATE INDEX signin_request_expires ON signin_request (expires_at);

-- A browser session (opened by a sign-in link) or an API token (made from a
-- browser session, with a label). token_hash is the key every request
-- looks up. last_used_at is refreshed at most once an hour, so checking a
-- session stays a read.
CREATE TABLE account_session (
    token_hash   bytea       PRIMARY KEY CHECK (length (token_hash) = 32),
    account_id   bigint      NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    kind         text        NOT NULL CHECK (kind IN ('browser', 'api')),
    label        text        CHECK (length (label) BETWEEN 1 AND 64 AND label !~ '[[:cntrl:]]'),
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL CHECK (expires_at > created_at),
    last_used_at timestamptz NOT NULL,
    CHECK ((kind = 'api') = (label IS NOT NULL))
);
CREATE INDEX account_session_account ON account_session (account_id);
CREATE INDEX account_session_expires ON account_session (expires_at);

-- Sign-in mails go through the mail jobs like confirmations: the token sits
-- in the job row, in the clear, only until the mail is handed to the
-- server, and the job goes with its request.
ALTER TABLE mail_job
    ADD COLUMN signin_hash bytea REFERENCES signin_request (token_hash) ON DELETE CASCADE,
    DROP CONSTRAINT mail_job_kind_check,
    ADD CONSTRAINT mail_job_kind_check CHECK (kind IN ('confirm', 'digest', 'signin')),
    ADD CONSTRAINT mail_job_signin_check CHECK ((kind = 'signin') = (signin_hash IS NOT NULL)),
    ADD CONSTRAINT mail_job_token_check CHECK (token IS NULL OR kind IN ('confirm', 'signin'));
