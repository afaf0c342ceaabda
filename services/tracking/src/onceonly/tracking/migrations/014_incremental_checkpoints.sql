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
-- until a later row for it. The full copies written before this migration read the same
-- way (each checkpoint's rows supersede all earlier ones) and are pruned as before.
CREATE INDEX IF NOT EXISTS timeline_checkpoint_leaves_application
    ON tracking.timeline_checkpoint_leaves (application_code, number);
