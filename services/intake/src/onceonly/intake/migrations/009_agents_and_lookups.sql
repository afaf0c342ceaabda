-- 帮代办: the agent who submitted on the applicant's behalf and the applicant's
-- authorisation (scope, validity, how it was given). Personal fields sealed and masked as
-- {"sealed", "masked"}, like the form's; NULL when the applicant submitted themselves.
ALTER TABLE intake.applications ADD COLUMN agent jsonb;
-- 授权: the applicant's consents to shared-data checks, [{purpose, reference, given_at}].
ALTER TABLE intake.applications ADD COLUMN consents jsonb NOT NULL DEFAULT '[]'::jsonb;

-- 数据来源: what was looked up for the applicant and when, from the checks' provenance in
-- the workflow's ApplicationAccepted events (fed by the approval follower). One row per
-- check and time: a redelivered event adds nothing.
CREATE TABLE intake.shared_data_lookups (
    application_code  text        NOT NULL REFERENCES intake.applications (application_code),
    check_name        text        NOT NULL,
    checked_at        timestamptz NOT NULL,
    registry          text        NOT NULL,
    record_reference  text        NOT NULL,
    passed            boolean     NOT NULL,
    code              text        NOT NULL,
    reason            text        NOT NULL,
    reason_zh         text        NOT NULL,
    consent_reference text        NOT NULL,
    event_id          uuid        NOT NULL,
    PRIMARY KEY (application_code, check_name, checked_at)
);

-- The checks the matter names that were not run for want of consent (latest acceptance).
CREATE TABLE intake.lookups_not_consented (
    application_code text   NOT NULL PRIMARY KEY
                            REFERENCES intake.applications (application_code),
    checks           text[] NOT NULL
);
