-- Intake: integrators and their API keys, applications, the outbox the relay
-- publishes to Kafka, idempotency keys and the daily application code sequence.
CREATE SCHEMA IF NOT EXISTS intake;

CREATE TABLE intake.integrators (
    id          text        PRIMARY KEY,
    name        text        NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The key presented is `oo_<key_id>_<secret>`; only SHA-256(secret) is kept.
CREATE TABLE intake.api_keys (
    key_id         text        PRIMARY KEY,
    integrator_id  text        NOT NULL REFERENCES intake.integrators (id),
    secret_sha256  bytea       NOT NULL CHECK (length(secret_sha256) = 32),
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz
);

CREATE INDEX api_keys_integrator_idx ON intake.api_keys (integrator_id);

-- Personal data is sealed (AES-GCM, context "<application_code>:<field>") next to
-- its masked display form; nothing here is readable without the PII key.
CREATE TABLE intake.applications (
    application_code    text        PRIMARY KEY,
    integrator_id       text        NOT NULL REFERENCES intake.integrators (id),
    matter_code         text        NOT NULL,
    applicant_kind      text        NOT NULL CHECK (applicant_kind IN ('person', 'organisation')),
    name_sealed         text        NOT NULL,
    name_masked         text        NOT NULL,
    identifier_sealed   text        NOT NULL,
    identifier_masked   text        NOT NULL,
    mobile_sealed       text        NOT NULL,
    mobile_masked       text        NOT NULL,
    channels            text[]      NOT NULL,
    language            text        NOT NULL,
    materials           jsonb       NOT NULL DEFAULT '[]'::jsonb,
    form                jsonb       NOT NULL DEFAULT '{}'::jsonb,
    status              text        NOT NULL DEFAULT 'submitted',
    submitted_at        timestamptz NOT NULL,
    -- The ApplicationSubmitted event (outbox event_id) that announced it.
    event_id            uuid        NOT NULL
);

CREATE INDEX applications_integrator_idx
    ON intake.applications (integrator_id, submitted_at DESC, application_code);

-- The last sequence number given out per region and day (China time).
CREATE TABLE intake.code_sequences (
    region_code  text    NOT NULL,
    day          date    NOT NULL,
    last_seq     integer NOT NULL CHECK (last_seq BETWEEN 1 AND 999999),
    PRIMARY KEY (region_code, day)
);

-- The first answer to a request that carried an Idempotency-Key, stored in the same
-- transaction as the effect it reports.
CREATE TABLE intake.idempotency_keys (
    integrator_id    text        NOT NULL REFERENCES intake.integrators (id),
    key              text        NOT NULL,
    request_sha256   bytea       NOT NULL,
    response_status  integer     NOT NULL,
    response_body    jsonb       NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (integrator_id, key)
);

CREATE INDEX idempotency_keys_created_idx ON intake.idempotency_keys (created_at);

-- Events waiting for the relay: written with the business rows, published after.
CREATE TABLE intake.outbox (
    id            bigserial   PRIMARY KEY,
    event_id      uuid        NOT NULL UNIQUE,
    topic         text        NOT NULL,
    message_key   text        NOT NULL,
    ce_type       text        NOT NULL,
    ce_source     text        NOT NULL,
    ce_time       timestamptz NOT NULL,
    traceparent   text        NOT NULL DEFAULT '',
    tracestate    text        NOT NULL DEFAULT '',
    payload       bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);

CREATE INDEX outbox_unpublished_idx ON intake.outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_published_idx ON intake.outbox (published_at) WHERE published_at IS NOT NULL;

-- Wake the relay when rows commit (NOTIFY is delivered at commit, and several in one
-- transaction fold into one): it publishes at once instead of at its next poll.
CREATE FUNCTION intake.outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('intake_outbox', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_notify
    AFTER INSERT ON intake.outbox
    FOR EACH STATEMENT EXECUTE FUNCTION intake.outbox_notify();
