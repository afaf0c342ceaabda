-- Checkpoints work on the heads that moved, not on every application (checkpoint_store).
--
-- Each head records the seq and hash the checkpoints hold for it (set after a
-- checkpoint, only while the head is still there). `unchecked` is computed by Postgres
-- from the row itself, so every change of a head sets it, whoever makes it; the partial
-- index lists those heads (new, moved on, or changed in place) and, being on a flag
-- rather than on last_seq, leaves an append's update of its head a HOT update once the
-- flag is set. NULL at first: the first checkpoint after this migration looks at every
-- head once.
ALTER TABLE tracking.timeline_heads
    ADD COLUMN IF NOT EXISTS checkpointed_seq bigint,
    ADD COLUMN IF NOT EXISTS checkpointed_hash text;
ALTER TABLE tracking.timeline_heads
    ADD COLUMN IF NOT EXISTS unchecked boolean GENERATED ALWAYS AS (
        last_seq > 0
        AND (checkpointed_seq IS DISTINCT FROM last_seq
             OR checkpointed_hash IS DISTINCT FROM last_hash)
    ) STORED;

CREATE INDEX IF NOT EXISTS timeline_heads_unchecked
    ON tracking.timeline_heads (application_code) WHERE unchecked;

-- Leaves become versions: a row is its application's leaf from checkpoint `number` on,
-- until a later row for it. Before this migration every checkpoint had a full copy;
-- only the latest's is kept (all its leaves, on which the next checkpoints add their
-- versions): a reader of the older ones would otherwise read every copy, and proofs are
-- made against the latest checkpoint. Through a copy and TRUNCATE, not a DELETE of the
-- other copies: at province scale those are tens of millions of rows.
CREATE TEMPORARY TABLE latest_leaves ON COMMIT DROP AS
    SELECT * FROM tracking.timeline_checkpoint_leaves
     WHERE number = (SELECT max(number) FROM tracking.timeline_checkpoints);
TRUNCATE tracking.timeline_checkpoint_leaves;
INSERT INTO tracking.timeline_checkpoint_leaves SELECT * FROM latest_leaves;

CREATE INDEX IF NOT EXISTS timeline_checkpoint_leaves_application
    ON tracking.timeline_checkpoint_leaves (application_code, number);
