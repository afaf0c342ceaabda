-- The staff directory for signing in to the operations console where no single sign-on
-- provider is configured (onceonly.platform.staff_directory): who may sign in, as what,
-- and their password's scrypt hash. Failed attempts lock an account for a while.
CREATE TABLE IF NOT EXISTS platform.staff_directory (
    staff_id         text        PRIMARY KEY,
    display_name     text        NOT NULL,
    department_code  text        NOT NULL,
    roles            text[]      NOT NULL,
    password_hash    text        NOT NULL,
    failed_attempts  integer     NOT NULL DEFAULT 0,
    locked_until     timestamptz,
    disabled         boolean     NOT NULL DEFAULT false,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
