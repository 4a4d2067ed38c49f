-- The event log: every state change appends its events here in the same
-- transaction (see DESIGN.md, Guarantees). seq is allocated from the single
-- row of event_log_head, whose row lock is held until the writer commits, so
-- seq order is commit order and has no holes: a reader that has seen seq N
-- has seen every event up to N, and nothing can later appear below it.
CREATE TABLE event_log (
    seq        bigint      PRIMARY KEY,
    topic      text        NOT NULL CHECK (length(topic) BETWEEN 1 AND 128),
    payload    bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE event_log_head (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    last_seq  bigint  NOT NULL
);
INSERT INTO event_log_head (singleton, last_seq) VALUES (true, 0);

-- Where each consumer is in the log. A consumer moves its cursor in the same
-- transaction as the effect of the events it read, for exactly-once effect.
CREATE TABLE event_cursor (
    consumer   text        PRIMARY KEY CHECK (length(consumer) BETWEEN 1 AND 128),
    last_seq   bigint      NOT NULL CHECK (last_seq >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
