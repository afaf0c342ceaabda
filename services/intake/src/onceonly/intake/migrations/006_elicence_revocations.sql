-- An e-licence's revocation, followed from ELicenceRevoked (issue 17): the public
-- verification answers "revoked" from this row, not from the workflow's tables.
ALTER TABLE intake.approval_status ADD COLUMN IF NOT EXISTS elicence_revoked_at timestamptz;
ALTER TABLE intake.approval_status
    ADD COLUMN IF NOT EXISTS elicence_revocation_reason text NOT NULL DEFAULT '';
