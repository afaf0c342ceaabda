-- The progress lookup's "when?" (issue 17): until when the applicant may provide what
-- acceptance asked for, and the application's latest steps as the approval library's
-- fold keeps them ([{kind, at, department_code, detail}], oldest first; no reasons, no
-- staff). Rows from before start with none and fill as events arrive.
ALTER TABLE intake.approval_status ADD COLUMN supplement_due_at timestamptz;
ALTER TABLE intake.approval_status ADD COLUMN steps jsonb NOT NULL DEFAULT '[]'::jsonb;
