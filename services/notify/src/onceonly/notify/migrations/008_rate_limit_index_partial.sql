-- The rate limit's index holds only the rows the rate limit counts (sent, possibly sent,
-- or being sent now: store._RECENT_SENDS says the same). Holding every row, it also
-- served, in the planner's eyes, the ledger's statements by key, since (channel,
-- recipient_hash) are two of the key's three columns: on a table without statistics
-- (a fresh install) the plans Postgres keeps for the prepared multi-row updates chose it
-- over the primary key, and read every delivery ever made to the number for each row they
-- changed (test_ledger_plans.py; docs/performance.md). No statement by key implies this
-- predicate, so none can use the index now.
-- Built in the migration's transaction: writes to the ledger wait while it builds.
DROP INDEX notify.deliveries_recipient_recent_idx;
CREATE INDEX deliveries_recipient_recent_idx
    ON notify.deliveries (channel, recipient_hash, coalesce(completed_at, sending_since))
    WHERE status IN ('sent', 'possibly_sent') OR (status = 'pending' AND sending_since IS NOT NULL);
