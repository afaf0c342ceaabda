-- API keys move to the platform's key directory (platform migration 003, applied before
-- every component's migrations), which intake and notify both read through one port.
-- The rows are copied with their hashes, creation and revocation times; keys issued
-- before keep working, revoked ones stay revoked.
INSERT INTO platform.integrator_keys (key_id, integrator_id, secret_sha256, created_at, revoked_at)
SELECT key_id, integrator_id, secret_sha256, created_at, revoked_at FROM intake.api_keys
ON CONFLICT (key_id) DO UPDATE SET revoked_at = coalesce(
    platform.integrator_keys.revoked_at, excluded.revoked_at);
DROP TABLE intake.api_keys;
