-- Harvests: one row per harvested source (an arXiv category by OAI-PMH or
-- by the query API). The cursor (a resumption token, or the next start
-- index) moves in the same transaction as the papers of the page it
-- follows, so a harvest resumes after a crash exactly where it stopped. A
-- worker harvests a source only while it holds the lease; next_at spaces the
-- requests the way arXiv asks (one every 3 seconds).
CREATE TABLE harvest (
    source      text        PRIMARY KEY,       -- "oai:cs.LG", "api:cat:cs.LG"
    kind        text        NOT NULL CHECK (kind IN ('oai', 'api')),
    base_url    text        NOT NULL,
    query       text        NOT NULL,          -- OAI set, or API search_query
    since       date,                          -- OAI from=
    cursor      text        NOT NULL DEFAULT '',
    state       text        NOT NULL DEFAULT 'pending'
                            CHECK (state IN ('pending', 'running', 'done', 'failed')),
    pages       integer     NOT NULL DEFAULT 0,
    papers      integer     NOT NULL DEFAULT 0,
    empty_pages integer     NOT NULL DEFAULT 0, -- empty pages in a row, mid-listing
    last_error  text,
    lease_owner text,
    lease_until timestamptz,
    next_at     timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
