-- Votes and trending, owned by rank.

-- One row per standing vote: voter + paper is the natural key, so a vote
-- sent twice is stored once. Withdrawing a vote deletes its row (the
-- vote.cast event log keeps the history).
CREATE TABLE vote (
    paper_id text        NOT NULL REFERENCES paper (id),
    user_id  text        NOT NULL CHECK (length(user_id) BETWEEN 1 AND 128),
    cast_at  timestamptz NOT NULL,
    PRIMARY KEY (paper_id, user_id)
);

-- Signals (0002's paper_signal) count for trending by how far they rise
-- past their highest value seen (peak), at the moment they rise: a value
-- that goes down and back up, or is sent again, gains nothing. Each rise is
-- kept in signal_gain, for rank to rebuild its heat at start.
ALTER TABLE paper_signal
    ADD COLUMN peak double precision NOT NULL DEFAULT 0,
    ADD COLUMN last_gain double precision NOT NULL DEFAULT 0;
UPDATE paper_signal SET peak = value, last_gain = value;

CREATE TABLE signal_gain (
    paper_id    text             NOT NULL REFERENCES paper (id),
    source      text             NOT NULL,
    gain        double precision NOT NULL CHECK (gain > 0),
    observed_at timestamptz      NOT NULL
);
INSERT INTO signal_gain (paper_id, source, gain, observed_at)
    SELECT paper_id, source, value, observed_at FROM paper_signal WHERE value > 0;

-- Records the current VALS of SOURCE for papers IDS at AT, in the caller's
-- transaction, and returns the papers whose value changed, with their gain
-- (0 when the value did not rise past its peak). The one definition of a
-- signal's gain, for ingest (Hugging Face upvotes) and rank (rank.signal,
-- signal.observed) alike. ON CONFLICT DO UPDATE reads the row's latest
-- version under its lock, so two writers of one signal cannot both count
-- the same rise.
CREATE FUNCTION signal_observe (ids text[], src text, vals double precision[], at timestamptz)
RETURNS TABLE (paper_id text, value double precision, gain double precision)
LANGUAGE sql AS $$
    WITH given AS (
        SELECT DISTINCT ON (u.id) u.id, u.v
        FROM unnest (ids, vals) WITH ORDINALITY AS u (id, v, ordinal)
        ORDER BY u.id, u.ordinal DESC
    ), stored AS (
        INSERT INTO paper_signal AS s (paper_id, source, value, peak, last_gain, observed_at)
        SELECT given.id, src, given.v, given.v, given.v, at FROM given
        ON CONFLICT (paper_id, source) DO UPDATE
        SET value = excluded.value,
            peak = greatest (s.peak, excluded.value),
            last_gain = greatest (excluded.value - s.peak, 0),
            observed_at = excluded.observed_at
        WHERE s.value <> excluded.value
        RETURNING s.paper_id, s.value, s.last_gain
    ), kept AS (
        INSERT INTO signal_gain (paper_id, source, gain, observed_at)
        SELECT stored.paper_id, src, stored.last_gain, at FROM stored
        WHERE stored.last_gain > 0
    )
    SELECT stored.paper_id, stored.value, stored.last_gain FROM stored
$$;

-- The last trending.updated: what its top was and when it went out. A
-- worker publishes a new top only by moving this row forward, under its
-- lock, so that several rank workers publish at most once per interval.
CREATE TABLE trending_state (
    singleton    boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    top          text[]      NOT NULL,
    published_at timestamptz NOT NULL
);
INSERT INTO trending_state (top, published_at) VALUES ('{}', '-infinity');
