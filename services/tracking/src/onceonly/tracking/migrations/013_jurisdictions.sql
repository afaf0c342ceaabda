-- Jurisdictions (issue 20): where each application was submitted and the division whose
-- bodies decide it, from its ApplicationSubmitted; the search's region filter and the
-- staff's region scope read the latter. NULL for applications submitted before: their
-- code's first six digits (the centre's region) stand in.
ALTER TABLE tracking.application_status ADD COLUMN IF NOT EXISTS submitted_region text;
ALTER TABLE tracking.application_status ADD COLUMN IF NOT EXISTS competent_region text;
CREATE INDEX IF NOT EXISTS application_status_competent_region
    ON tracking.application_status (competent_region text_pattern_ops);
