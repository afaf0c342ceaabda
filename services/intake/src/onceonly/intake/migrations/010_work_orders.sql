-- 12345 hotline work orders: which integrators may file them (a capability of the
-- integrator, granted with `onceonly-intake integrator grant ID hotline`), and the
-- orders themselves, the caller's contact and the content sealed to the order's code.
ALTER TABLE intake.integrators
    ADD COLUMN IF NOT EXISTS capabilities text[] NOT NULL DEFAULT '{}';

CREATE TABLE IF NOT EXISTS intake.work_orders (
    order_code                 text        PRIMARY KEY,
    integrator_id              text        NOT NULL REFERENCES intake.integrators (id),
    kind                       text        NOT NULL
        CHECK (kind IN ('complaint', 'consultation', 'request')),
    attached_application_code  text        REFERENCES intake.applications (application_code),
    department_code            text        NOT NULL,
    region_code                text        NOT NULL,
    hotline_reference          text        NOT NULL DEFAULT '',
    content_sealed             text        NOT NULL,
    content_masked             text        NOT NULL,
    caller_name_sealed         text        NOT NULL,
    caller_name_masked         text        NOT NULL,
    caller_mobile_sealed       text        NOT NULL,
    caller_mobile_masked       text        NOT NULL,
    filed_at                   timestamptz NOT NULL,
    event_id                   uuid        NOT NULL
);
CREATE INDEX IF NOT EXISTS work_orders_application
    ON intake.work_orders (attached_application_code) WHERE attached_application_code IS NOT NULL;
