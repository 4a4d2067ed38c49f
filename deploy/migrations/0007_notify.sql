-- Subscriptions and their mail, owned by notify.

-- A confirmed subscription: one per address. An address becomes a
-- subscription only through a confirmed subscription_request (double
-- opt-in), so nothing but the confirmation mail goes to an address that did
-- not ask. last_period is the newest digest period queued for it: the
-- scheduler queues a period only if it is newer, and marks it in the same
-- statement.
CREATE TABLE subscription (
    id             bigserial   PRIMARY KEY,
    email          text        NOT NULL UNIQUE CHECK (length(email) BETWEEN 3 AND 254),
    query          text        NOT NULL DEFAULT '',
    categories     text[]      NOT NULL DEFAULT '{}',
    authors        text[]      NOT NULL DEFAULT '{}',
    trending_top   integer     NOT NULL DEFAULT 0 CHECK (trending_top BETWEEN 0 AND 50),
    cadence        text        NOT NULL CHECK (cadence IN ('daily', 'weekly')),
    send_hour      integer     NOT NULL CHECK (send_hour BETWEEN 0 AND 23),
    time_zone      text        NOT NULL,
    confirmed_at   timestamptz NOT NULL,
    last_period    date,
    last_sent_at   timestamptz,
    bouncing_since timestamptz,
    bounce_reason  text
);

-- A request to subscribe, waiting for its confirmation link to be followed.
-- Only the hash of the token is kept (BLAKE2b-256 of its 32 random bytes):
-- the database alone cannot confirm anything. A confirmed request stays
-- until it expires, so following the link twice is harmless.
CREATE TABLE subscription_request (
    token_hash   bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    email        text        NOT NULL,
    query        text        NOT NULL,
    categories   text[]      NOT NULL,
    authors      text[]      NOT NULL,
    trending_top integer     NOT NULL,
    cadence      text        NOT NULL,
    send_hour    integer     NOT NULL,
    time_zone    text        NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    confirmed_at timestamptz
);
CREATE INDEX subscription_request_email ON subscription_request (email, created_at);

-- Every mail to send: confirmations and digests. A sender claims a queued
-- job with FOR UPDATE SKIP LOCKED and holds that row lock while it composes
-- and sends, so a sender that dies releases its job at once. The token of
-- a confirmation is kept here, in the clear, only until its mail is
-- accepted; it goes when its request does. (subscription_id, period) is a digest's natural key: a period
-- is queued once.
CREATE TABLE mail_job (
    id              bigserial   PRIMARY KEY,
    kind            text        NOT NULL CHECK (kind IN ('confirm', 'digest')),
    subscription_id bigint      REFERENCES subscription (id) ON DELETE CASCADE,
    email           text        NOT NULL,
    request_hash    bytea       REFERENCES subscription_request (token_hash) ON DELETE CASCADE,
    token           text,
    period          date,
    state           text        NOT NULL DEFAULT 'queued'
                                CHECK (state IN ('queued', 'sent', 'empty', 'failed', 'bounced')),
    due_at          timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    papers          integer     NOT NULL DEFAULT 0,
    done_at         timestamptz,
    run_id          bigint,
    UNIQUE (subscription_id, period),
    CHECK ((kind = 'digest') = (subscription_id IS NOT NULL AND period IS NOT NULL)),
    CHECK ((kind = 'confirm') = (request_hash IS NOT NULL))
);
CREATE INDEX mail_job_due ON mail_job (due_at, id) WHERE state = 'queued';
CREATE INDEX mail_job_email ON mail_job (email);
CREATE INDEX mail_job_run ON mail_job (run_id) WHERE run_id IS NOT NULL;

-- A request to queue the digests due (notify.run, `paperctl digests run`):
-- the scheduler works through the subscriptions in chunks, taking AT for
-- now, marks each job with the run, and sets done_at at the end, so that
-- whoever asked can follow its digests.
CREATE TABLE digest_run (
    id           bigserial   PRIMARY KEY,
    forced       boolean     NOT NULL,
    at           timestamptz NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now (),
    queued       bigint      NOT NULL DEFAULT 0,
    done_at      timestamptz
);
CREATE INDEX digest_run_pending ON digest_run (id) WHERE done_at IS NULL;

-- The mark a sender commits just before it ends a message's DATA (the final
-- dot), from a second connection, and only if no mark exists yet: so at most
-- one sender ever completes a job's message, and a job with a mark but no
-- recorded outcome (its sender died waiting for the server's answer) is
-- recorded as sent, never sent again. No foreign key: a key-share lock on
-- the job would wait for the sender's own row lock.
CREATE TABLE mail_handed (
    job_id    bigint      PRIMARY KEY,
    paper_ids text[]      NOT NULL,
    handed_at timestamptz NOT NULL DEFAULT now()
);

-- Papers each subscriber has been sent: a paper goes to an address once.
CREATE TABLE digest_paper (
    subscription_id bigint NOT NULL REFERENCES subscription (id) ON DELETE CASCADE,
    paper_id        text   NOT NULL,
    job_id          bigint NOT NULL,
    PRIMARY KEY (subscription_id, paper_id)
);

-- The scheduler's lease: one notify process at a time queues digests, on
-- the clock and for digest_run requests.
CREATE TABLE notify_lease (
    name       text        PRIMARY KEY,
    holder     text        NOT NULL,
    expires_at timestamptz NOT NULL
);

-- The key that signs unsubscribe links, made once by the first notify
-- process, shared by all.
CREATE TABLE notify_secret (
    name  text  PRIMARY KEY,
    value bytea NOT NULL CHECK (length(value) = 32)
);

-- The digest period of a subscription that is due at NOW, or NULL: a day
-- (daily) or the Monday of an ISO week (weekly), in the subscriber's time
-- zone, due from SEND_HOUR that day. FORCE takes the current period as due
-- even before its hour (`paperctl digests run --now`). A period that began
-- before the subscription was confirmed is not due, unless forced, so the
-- first digest comes at the next hour named.
CREATE FUNCTION notify_due_period (cadence text, send_hour integer, tz text,
                                   confirmed timestamptz, now timestamptz, force boolean)
RETURNS date LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN force OR (p.period + make_interval (hours => send_hour)) AT TIME ZONE tz >= confirmed
                THEN p.period END
    FROM (SELECT CASE cadence
                     WHEN 'daily' THEN l.shifted::date
                     ELSE date_trunc ('week', l.shifted)::date
                 END AS period
          FROM (SELECT (now AT TIME ZONE tz)
                       - CASE WHEN force THEN interval '0' ELSE make_interval (hours => send_hour) END
                       AS shifted) l) p
$$;
