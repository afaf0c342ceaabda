-- The department API's work order list (/v1/work-orders): each 12345 work order as of
-- its last published event, written by the publishing activity; one paged read instead
-- of a Temporal query per order. `view` holds masked data only.
CREATE TABLE IF NOT EXISTS workflow.work_orders (
    order_code      text        PRIMARY KEY,
    department_code text        NOT NULL,
    status          text        NOT NULL,
    filed_at        timestamptz NOT NULL,
    view            jsonb       NOT NULL,
    version         bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS work_orders_department
    ON workflow.work_orders (department_code, filed_at DESC, order_code DESC);
