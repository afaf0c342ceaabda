-- 帮代办: an agent whose authorisation includes `receive_notifications` hears what the
-- applicant hears, until the authorisation's last day (China time). The mobile stays
-- sealed as intake sealed it (context "<application_code>:agent:mobile").
CREATE TABLE notify.agent_contacts (
    application_code  text        PRIMARY KEY,
    mobile_sealed     text        NOT NULL,
    mobile_masked     text        NOT NULL,
    valid_until       date        NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
