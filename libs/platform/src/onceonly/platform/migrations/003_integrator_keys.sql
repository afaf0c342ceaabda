-- The integrator key directory (onceonly.platform.integrator_keys), read by intake and
-- notify through one port. The key presented is `oo_<key_id>_<secret>`; only
-- SHA-256(secret) is kept. Integrators themselves are intake's (intake.integrators):
-- no foreign key across components; intake issues keys only to integrators it has.
-- Intake's migration 011 moves the rows of its former intake.api_keys here.
CREATE TABLE IF NOT EXISTS platform.integrator_keys (
    key_id         text        PRIMARY KEY,
    integrator_id  text        NOT NULL,
    secret_sha256  bytea       NOT NULL CHECK (length(secret_sha256) = 32),
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz
);
CREATE INDEX IF NOT EXISTS integrator_keys_by_integrator
    ON platform.integrator_keys (integrator_id);
