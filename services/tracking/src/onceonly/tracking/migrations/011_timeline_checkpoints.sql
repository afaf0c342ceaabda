-- Signed checkpoints over every timeline's chain head (onceonly.tracking.checkpoint): at
-- most one per cadence slot, numbered in order. The signed bytes and signature are kept
-- as signed; the signing key is not in the database, so rows written here by anyone else
-- do not verify. `held_back` counts heads that did not extend the previous checkpoint's
-- (their previous leaf was kept). `published_at` is set once it is on Kafka.
CREATE TABLE IF NOT EXISTS tracking.timeline_checkpoints (
    number        bigint      PRIMARY KEY CHECK (number > 0),
    slot          timestamptz NOT NULL UNIQUE,
    made_at       timestamptz NOT NULL,
    size          bigint      NOT NULL,
    root          text        NOT NULL,
    payload       bytea       NOT NULL,
    signature     bytea       NOT NULL,
    held_back     integer     NOT NULL DEFAULT 0,
    published_at  timestamptz
);

CREATE INDEX IF NOT EXISTS timeline_checkpoints_unpublished
    ON tracking.timeline_checkpoints (number) WHERE published_at IS NULL;

-- The leaves of the latest checkpoints (older ones are pruned: their roots stay), from
-- which inclusion proofs are made.
CREATE TABLE IF NOT EXISTS tracking.timeline_checkpoint_leaves (
    number            bigint NOT NULL
        REFERENCES tracking.timeline_checkpoints (number) ON DELETE CASCADE,
    application_code  text   NOT NULL,
    head_seq          bigint NOT NULL,
    head_hash         text   NOT NULL,
    PRIMARY KEY (number, application_code)
);
