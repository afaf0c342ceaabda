-- Application lists page newest first by (submitted_at, application_code).
CREATE INDEX applications_integrator_newest_idx
    ON intake.applications (integrator_id, submitted_at DESC, application_code DESC);
