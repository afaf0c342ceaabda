-- What applicants add after submitting: supplements, withdrawal requests, ratings.
-- Each row is written with its outbox row (event_id) in one transaction.
CREATE TABLE intake.applicant_updates (
    event_id          uuid        PRIMARY KEY,
    application_code  text        NOT NULL REFERENCES intake.applications (application_code),
    kind              text        NOT NULL CHECK (kind IN ('supplement', 'withdrawal', 'rating')),
    details           jsonb       NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX applicant_updates_application_idx
    ON intake.applicant_updates (application_code, created_at);

-- One rating and one withdrawal request per application; a second one is refused.
CREATE UNIQUE INDEX applicant_updates_once_idx
    ON intake.applicant_updates (application_code, kind)
    WHERE kind IN ('rating', 'withdrawal');
