-- Notify: the delivery ledger (exactly once in effect) and the local provider's outbox.
CREATE SCHEMA IF NOT EXISTS notify;

-- One row per (event, channel, recipient), written before sending and completed after.
-- recipient_hash = HMAC-SHA256(signing secret, recipient): no phone number is stored
-- here; recipient_masked (e.g. 1381234****) is the display form events carry anyway.
CREATE TABLE notify.deliveries (
    event_id              text        NOT NULL,
    channel               text        NOT NULL,
    recipient_hash        text        NOT NULL,
    application_code      text        NOT NULL,
    cause_event_type      text        NOT NULL,
    recipient_masked      text        NOT NULL,
    status                text        NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'failed', 'possibly_sent')),
    template              text        NOT NULL,
    language              text        NOT NULL,
    attempts              integer     NOT NULL DEFAULT 0,
    provider              text,
    provider_message_id   text,
    segments              integer,
    last_error            text,
    -- Set when a send starts, cleared when it ends with a known result: a pending row
    -- with this set after a crash is a send in doubt.
    sending_since         timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    completed_at          timestamptz,
    -- The NotificationSent event went out (a crash before it is repaired on redelivery).
    outcome_published_at  timestamptz,
    PRIMARY KEY (event_id, channel, recipient_hash)
);

CREATE INDEX deliveries_application_idx ON notify.deliveries (application_code, created_at);

-- The local provider's outbox: what an SMS gateway would have delivered, for the demo.
CREATE TABLE notify.local_messages (
    id                uuid        PRIMARY KEY,
    -- The ledger key: the local provider is idempotent by it.
    idempotency_key   text        NOT NULL UNIQUE,
    application_code  text        NOT NULL,
    channel           text        NOT NULL,
    recipient_masked  text        NOT NULL,
    recipient_sealed  text        NOT NULL,
    body              text        NOT NULL,
    segments          integer     NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX local_messages_application_idx ON notify.local_messages (application_code, created_at);
