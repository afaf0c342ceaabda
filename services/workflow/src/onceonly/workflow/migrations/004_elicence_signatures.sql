-- Signed e-licences (issue 17): the token (canonical payload and signature) the QR code
-- carries, the id of the key that signed it, and the revocation, if any. Licences
-- issued before have no token (they were never signed) and verify as unknown.
ALTER TABLE workflow.elicences ADD COLUMN IF NOT EXISTS key_id text NOT NULL DEFAULT '';
ALTER TABLE workflow.elicences ADD COLUMN IF NOT EXISTS token text NOT NULL DEFAULT '';
ALTER TABLE workflow.elicences ADD COLUMN IF NOT EXISTS revoked_at timestamptz;
ALTER TABLE workflow.elicences ADD COLUMN IF NOT EXISTS revocation_reason text NOT NULL DEFAULT '';
ALTER TABLE workflow.elicences ADD COLUMN IF NOT EXISTS revoked_by text NOT NULL DEFAULT '';
