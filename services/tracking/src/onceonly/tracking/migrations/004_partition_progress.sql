-- How far the agent processed each partition of the topics it follows (the next offset
-- to process), kept by tracking itself so that offsets the consumer skipped are found
-- and read again (onceonly.tracking.continuity). Written lazily: a lagging value only
-- causes re-reads, which the event-id deduplication ignores.
CREATE TABLE IF NOT EXISTS tracking.partition_progress (
    topic       text        NOT NULL,
    partition   integer     NOT NULL CHECK (partition >= 0),
    next_offset bigint      NOT NULL CHECK (next_offset >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);
