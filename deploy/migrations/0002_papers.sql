-- Papers, owned by ingest. One row per paper: the arXiv id without its
-- version (or a stable id for papers without one: "doi:..." or "t:<hash of
-- title and first author>"), holding the newest version seen.
CREATE TABLE paper (
    id           text        PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
    version      integer     NOT NULL CHECK (version >= 1),
    title        text        NOT NULL CHECK (length(title) >= 1),
    abstract     text        NOT NULL DEFAULT '',
    authors      text[]      NOT NULL DEFAULT '{}',
    categories   text[]      NOT NULL DEFAULT '{}', -- the primary first
    published    timestamptz,                       -- version 1 appeared
    updated      timestamptz,                       -- this version appeared
    listed       date,                              -- first listing day seen
    doi          text,
    comment      text,
    journal_ref  text,
    source       text        NOT NULL,
    content_hash text        NOT NULL,              -- md5 of the normalised fields
    ingested_at  timestamptz NOT NULL DEFAULT now(),
    changed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX paper_listed ON paper (listed);
CREATE INDEX paper_published ON paper (published);

-- External signals about papers (Hugging Face upvotes, GitHub stars, ...),
-- one current value per paper and source; rank folds them into trending.
CREATE TABLE paper_signal (
    paper_id    text             NOT NULL REFERENCES paper (id),
    source      text             NOT NULL,
    value       double precision NOT NULL,
    observed_at timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (paper_id, source)
);
