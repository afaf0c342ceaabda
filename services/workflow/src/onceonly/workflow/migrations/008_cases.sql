-- The department API's lists of supervision cases (/v1/supervision-cases) and
-- rectifications of bad ratings (/v1/rectifications): each case as of its last published
-- event, written by the publishing activity; one paged read instead of a Temporal query
-- per case. `view` holds no personal data (codes, times, the department's own texts).
CREATE TABLE IF NOT EXISTS workflow.cases (
    case_code        text        PRIMARY KEY,
    kind             text        NOT NULL CHECK (kind IN ('rectification', 'supervision_case')),
    department_code  text        NOT NULL,
    application_code text        NOT NULL,
    status           text        NOT NULL,
    opened_at        timestamptz NOT NULL,
    view             jsonb       NOT NULL,
    version          bigint      NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS cases_department
    ON workflow.cases (kind, department_code, opened_at DESC, case_code DESC);
