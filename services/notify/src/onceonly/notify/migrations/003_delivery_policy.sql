-- Delivery policy: messages deferred by quiet hours or a per-recipient rate limit wait
-- in the ledger (durable across restarts) until a scheduler sends them; the applicant's
-- contact as submitted, for events that do not carry it (a supplement received).

ALTER TABLE notify.deliveries
    -- Set only while a message waits for the scheduler: the scheduler must be able to
    -- send it without the event. Sealed (PiiSealer, context "notify:<idempotency key>").
    ADD COLUMN recipient_sealed  text,
    -- Urgent messages ignore quiet hours and the rate limit.
    ADD COLUMN urgent            boolean     NOT NULL DEFAULT false,
    -- Why a message waits: 'quiet_hours' or 'rate_limit' (NULL once sent).
    ADD COLUMN deferred_reason   text;

-- The rate limit's count: recent messages to one number on one channel.
CREATE INDEX deliveries_recipient_recent_idx
    ON notify.deliveries (channel, recipient_hash, coalesce(completed_at, sending_since));

-- Settled messages whose outcome event is still to be published (normally none for long).
CREATE INDEX deliveries_unpublished_idx ON notify.deliveries (completed_at)
    WHERE outcome_published_at IS NULL AND status <> 'pending';

-- The applicant's contact from ApplicationSubmitted, still sealed as intake sealed it.
CREATE TABLE notify.contacts (
    application_code  text        PRIMARY KEY,
    mobile_sealed     text        NOT NULL,
    mobile_masked     text        NOT NULL,
    channels          text[]      NOT NULL DEFAULT '{}',
    language          text        NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now()
);
