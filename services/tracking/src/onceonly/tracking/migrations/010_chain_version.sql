-- The chain format each timeline row was written with (onceonly.tracking.chain): rows
-- before this migration are version 1 (the event alone); new rows are version 2, whose
-- hash also covers the summary, topic, partition, offset and recorded_at shown with it.
-- Adding a column does not fire the append-only trigger.
ALTER TABLE tracking.timeline ADD COLUMN IF NOT EXISTS chain_version smallint NOT NULL DEFAULT 1;
