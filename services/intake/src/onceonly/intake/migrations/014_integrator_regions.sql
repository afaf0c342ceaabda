-- 全省通办 (issue 20): the division of an integrator's service centre (or channel), where
-- its applications count as submitted; NULL: the intake's own region (ONCEONLY_REGION_CODE).
ALTER TABLE intake.integrators ADD COLUMN IF NOT EXISTS region_code text
    CHECK (region_code ~ '^[0-9]{6}([0-9]{3})?$');
