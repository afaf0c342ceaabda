-- The relay is woken by a NOTIFY the API sends after the rows' commit (relay_wake.py),
-- not by this trigger from inside each transaction: Postgres serialises the commits of
-- transactions that NOTIFY, so submissions queued for each other's WAL flush.
DROP TRIGGER IF EXISTS outbox_notify ON intake.outbox;
DROP FUNCTION IF EXISTS intake.outbox_notify();
