-- The department API's task list (/v1/tasks): each application's tasks as of its last
-- published event, written by the publishing activity; one read per list instead of a
-- Temporal query per open application. `shown` is an open task of a running application.
CREATE TABLE IF NOT EXISTS workflow.task_list (
    application_code  text        NOT NULL,
    department_code   text        NOT NULL,
    matter_code       text        NOT NULL,
    application_state text        NOT NULL,
    shown             boolean     NOT NULL,
    task              jsonb       NOT NULL,
    version           bigint      NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (application_code, department_code)
);
CREATE INDEX IF NOT EXISTS task_list_shown
    ON workflow.task_list (department_code, application_code) WHERE shown;
