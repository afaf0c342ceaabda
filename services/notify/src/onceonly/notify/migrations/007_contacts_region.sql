-- 行政区划: the division competent for each application (ApplicationSubmitted's
-- competent_region), so that staff of a division see only what lies in it. NULL for rows
-- recorded before: their code's first six digits stand in.
ALTER TABLE notify.contacts ADD COLUMN IF NOT EXISTS competent_region text;
