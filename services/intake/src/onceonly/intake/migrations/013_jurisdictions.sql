-- Jurisdictions (issue 20): where each application was submitted and the division whose
-- bodies decide it (GB/T 2260 six digits, or a nine-digit township code). Rows from
-- before stay NULL: their code's region stands for both.
ALTER TABLE intake.applications ADD COLUMN submitted_region text;
ALTER TABLE intake.applications ADD COLUMN competent_region text;
