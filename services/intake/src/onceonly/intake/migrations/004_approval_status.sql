-- Where each application stands in the approval, followed from the workflow's approval
-- events by the relay process (the approval follower). `event_ids` holds the events
-- applied so far: a redelivered event is recognised and skipped.
CREATE TABLE intake.approval_status (
    application_code   text        PRIMARY KEY REFERENCES intake.applications (application_code),
    status             text        NOT NULL,
    reason             text        NOT NULL DEFAULT '',
    missing_materials  text[]      NOT NULL DEFAULT '{}',
    missing_since      timestamptz,
    clock              jsonb,
    tasks              jsonb       NOT NULL DEFAULT '{}'::jsonb,
    elicence_number    text        NOT NULL DEFAULT '',
    last_event_at      timestamptz,
    event_ids          uuid[]      NOT NULL DEFAULT '{}',
    updated_at         timestamptz NOT NULL DEFAULT now()
);
