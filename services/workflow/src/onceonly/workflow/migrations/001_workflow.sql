-- The workflow service keeps its state in Temporal; this schema holds what it issues
-- (e-licence records) and is where later tables of this service go.
CREATE SCHEMA IF NOT EXISTS workflow;
