-- The division (行政区划: GB/T 2260 code, or a township's nine digits) each console user
-- works for; '' is the whole province. Their session token carries it as `region`.
ALTER TABLE platform.staff_directory ADD COLUMN IF NOT EXISTS region text NOT NULL DEFAULT '';
