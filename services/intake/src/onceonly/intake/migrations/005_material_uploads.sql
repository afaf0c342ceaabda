-- Materials uploaded by integrators (PDF, PNG, JPEG), referenced from applications and
-- supplements as `upload:<upload_id>`. Content-addressed per integrator: the same bytes
-- uploaded again are the same upload, so a retried upload changes nothing.
CREATE TABLE intake.material_uploads (
    upload_id      uuid        PRIMARY KEY,
    integrator_id  text        NOT NULL REFERENCES intake.integrators (id),
    content_type   text        NOT NULL,
    size_bytes     integer     NOT NULL CHECK (size_bytes > 0),
    sha256         bytea       NOT NULL CHECK (length(sha256) = 32),
    content        bytea       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (integrator_id, sha256)
);
