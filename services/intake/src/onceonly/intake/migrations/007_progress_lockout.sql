-- The progress lookup's failure lockout per application code and the global budget of
-- failed lookups per minute, in Postgres so that every API replica sees the same counts
-- (onceonly/intake/lockout.py). Rows are forgotten once they no longer matter.
CREATE TABLE intake.progress_failures (
    application_code text        PRIMARY KEY,
    failures         integer     NOT NULL,
    window_started   timestamptz NOT NULL,
    locked_until     timestamptz,
    expires_at       timestamptz NOT NULL
);
CREATE INDEX progress_failures_expiry ON intake.progress_failures (expires_at);

-- One row per deployment (its topic prefix) and minute.
CREATE TABLE intake.progress_failure_minutes (
    scope    text        NOT NULL,
    minute   timestamptz NOT NULL,
    failures integer     NOT NULL,
    PRIMARY KEY (scope, minute)
);

-- ID masks no longer show the last four characters (they were a lookup secret, and
-- need not be shown): stored masks are masked again the same way.
UPDATE intake.applications
SET identifier_masked = left(identifier_masked, 4)
    || repeat('*', greatest(length(identifier_masked) - 4, 0))
WHERE length(identifier_masked) > 4 AND right(identifier_masked, 4) <> '****';
