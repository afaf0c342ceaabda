-- E-licences (电子证照) issued on completion: the record the applicant downloads.
-- One per application; the holder's identifier is kept sealed, with a masked form.
CREATE TABLE IF NOT EXISTS workflow.elicences (
    number            text        PRIMARY KEY,
    application_code  text        NOT NULL UNIQUE,
    matter_code       text        NOT NULL,
    licence_type      text        NOT NULL,
    holder_sealed     text        NOT NULL,
    holder_masked     text        NOT NULL,
    issued_at         timestamptz NOT NULL,
    valid_until       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now()
);
