-- The event log: every state change appends its events here in the same
-- transaction (see DESIGN.md, Guarantees). Each topic has its own sequence,
-- allocated from the topic's row in event_topic, whose row lock is held until
-- the writer commits. So within a topic, seq order is commit order and has no
-- holes: a reader that has seen seq N of a topic has seen every event of it
-- up to N, and nothing can later appear below N. A subscriber on the bus can
-- therefore tell a missed event from the seq alone. Writers of different
-- topics never wait for each other.
CREATE TABLE event_topic (
    topic    text   PRIMARY KEY CHECK (length(topic) BETWEEN 1 AND 128),
    last_seq bigint NOT NULL CHECK (last_seq >= 0)
);

CREATE TABLE event_log (
    topic      text        NOT NULL,
    seq        bigint      NOT NULL CHECK (seq >= 1),
    payload    bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, seq)
);

-- Where each consumer is in each topic. A consumer moves its cursor in the
-- same transaction as the effect of the events it read, for exactly-once
-- effect.
CREATE TABLE event_cursor (
    consumer   text        NOT NULL CHECK (length(consumer) BETWEEN 1 AND 128),
    topic      text        NOT NULL,
    last_seq   bigint      NOT NULL CHECK (last_seq >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic)
);
