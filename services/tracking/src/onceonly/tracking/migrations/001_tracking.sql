-- Tracking: the hash-chained timeline of every application and its status projection.
CREATE SCHEMA IF NOT EXISTS tracking;

-- One row per recorded event, numbered per application; `hash` chains each entry to
-- the previous one (see onceonly.tracking.chain). `data` is the event exactly as it
-- travelled (personal data inside it is sealed); `summary` is its readable form with
-- personal data reduced to masks.
CREATE TABLE IF NOT EXISTS tracking.timeline (
    application_code  text        NOT NULL,
    seq               bigint      NOT NULL CHECK (seq > 0),
    event_id          text        NOT NULL UNIQUE,
    ce_type           text        NOT NULL,
    ce_source         text        NOT NULL,
    ce_time           timestamptz NOT NULL,
    topic             text        NOT NULL,
    partition         integer     NOT NULL,
    kafka_offset      bigint      NOT NULL,
    data              bytea       NOT NULL,
    summary           jsonb       NOT NULL,
    prev_hash         text        NOT NULL,
    hash              text        NOT NULL,
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (application_code, seq)
);

CREATE INDEX IF NOT EXISTS timeline_recorded_at ON tracking.timeline (recorded_at);

-- The newest entry of each timeline. Appends lock this row, which serialises the
-- appends of one application across agents (they read different topics) while
-- applications proceed in parallel; it also records the chain's end, so that deleting
-- the newest entries is detected too.
CREATE TABLE IF NOT EXISTS tracking.timeline_heads (
    application_code  text        PRIMARY KEY,
    last_seq          bigint      NOT NULL DEFAULT 0,
    last_hash         text        NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- The timeline is append-only: ordinary updates and deletes are refused. Tampering by
-- someone who can lift this (the table owner) is what the hash chain is there to catch.
CREATE OR REPLACE FUNCTION tracking.refuse_timeline_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'tracking.timeline is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

DROP TRIGGER IF EXISTS timeline_append_only ON tracking.timeline;
CREATE TRIGGER timeline_append_only
    BEFORE UPDATE OR DELETE ON tracking.timeline
    FOR EACH ROW EXECUTE FUNCTION tracking.refuse_timeline_change();

-- Current status per application, updated in the same transaction as each append.
-- `tasks` maps department code to that department's task state.
CREATE TABLE IF NOT EXISTS tracking.application_status (
    application_code  text        PRIMARY KEY,
    matter_code       text,
    status            text        NOT NULL,
    tasks             jsonb       NOT NULL DEFAULT '{}'::jsonb,
    last_event_at     timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS application_status_status
    ON tracking.application_status (status, last_event_at);
