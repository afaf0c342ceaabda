-- Integrator webhooks: registrations, which integrator submitted each application, and
-- the retry schedule of webhook deliveries (rows of the same ledger, channel 'webhook',
-- recipient_hash = the integrator id: an organisation, not personal data).

-- The secret must be recoverable to sign, so it is sealed (PiiSealer), not hashed.
CREATE TABLE notify.integrator_webhooks (
    integrator_id  text        PRIMARY KEY,
    url            text        NOT NULL,
    key_id         text        NOT NULL,
    secret_sealed  text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- From ApplicationSubmitted: approval events do not name the integrator.
CREATE TABLE notify.applications (
    application_code  text        PRIMARY KEY,
    integrator_id     text        NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);

-- Approval events that arrived before their application's submission: kept, and turned
-- into deliveries once the application is known (never dropped).
CREATE TABLE notify.webhook_backlog (
    event_id          text        PRIMARY KEY,
    application_code  text        NOT NULL,
    event_type        text        NOT NULL,
    payload           text        NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX webhook_backlog_application_idx ON notify.webhook_backlog (application_code);

ALTER TABLE notify.deliveries
    ADD COLUMN id               uuid        NOT NULL DEFAULT gen_random_uuid(),
    -- The webhook body, stored so that every attempt (and a replay) signs the same bytes.
    ADD COLUMN payload          text,
    ADD COLUMN next_attempt_at  timestamptz,
    ADD COLUMN give_up_at       timestamptz,
    ADD COLUMN http_status      integer,
    ADD COLUMN replays          integer     NOT NULL DEFAULT 0;

ALTER TABLE notify.deliveries ADD CONSTRAINT deliveries_id_key UNIQUE (id);

-- The retry loop's work list: pending webhook deliveries by due time.
CREATE INDEX deliveries_due_idx ON notify.deliveries (next_attempt_at)
    WHERE status = 'pending' AND next_attempt_at IS NOT NULL;
