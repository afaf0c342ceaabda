-- The applicant's latest rating (好差评, 1..5) on the status projection; the ratings
-- distribution of the supervision figures is counted from the timeline.
ALTER TABLE tracking.application_status
    ADD COLUMN IF NOT EXISTS rating smallint CHECK (rating BETWEEN 1 AND 5);
