-- Operations search (issue 18): when each application arrived, and indexes for the
-- filters of GET /v1/applications (onceonly.tracking.search).
ALTER TABLE tracking.application_status ADD COLUMN IF NOT EXISTS submitted_at timestamptz;

-- The earliest recorded event of each application (its submission, once recorded).
UPDATE tracking.application_status s
   SET submitted_at = coalesce(
       (SELECT min(t.ce_time) FROM tracking.timeline t
         WHERE t.application_code = s.application_code),
       s.last_event_at, s.updated_at)
 WHERE s.submitted_at IS NULL;

ALTER TABLE tracking.application_status
    ALTER COLUMN submitted_at SET DEFAULT now(),
    ALTER COLUMN submitted_at SET NOT NULL;

-- Newest first, with the code as tie-breaker: the cursor's order.
CREATE INDEX IF NOT EXISTS application_status_submitted
    ON tracking.application_status (submitted_at DESC, application_code DESC);
-- Code and region prefixes (LIKE 'prefix%').
CREATE INDEX IF NOT EXISTS application_status_code_prefix
    ON tracking.application_status (application_code text_pattern_ops);
-- A department's applications (tasks ? department).
CREATE INDEX IF NOT EXISTS application_status_departments
    ON tracking.application_status USING gin (tasks);
CREATE INDEX IF NOT EXISTS application_status_matter
    ON tracking.application_status (matter_code, submitted_at DESC);
