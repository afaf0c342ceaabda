-- Supervision on the status projection: the worst open alert level, whether the clock
-- waits for the applicant, the application's due time, and its own-clock alert.
ALTER TABLE tracking.application_status
    ADD COLUMN IF NOT EXISTS supervision_level text NOT NULL DEFAULT 'none',
    ADD COLUMN IF NOT EXISTS paused boolean NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS due_at timestamptz,
    ADD COLUMN IF NOT EXISTS supervision jsonb NOT NULL DEFAULT '{}'::jsonb;

CREATE INDEX IF NOT EXISTS application_status_supervision
    ON tracking.application_status (supervision_level) WHERE supervision_level <> 'none';

-- Figures select a period by event time and type.
CREATE INDEX IF NOT EXISTS timeline_type_time ON tracking.timeline (ce_type, ce_time);
