-- Events a consumer could not handle yet (their application's submission, their cause
-- not handled yet), kept until it can (onceonly.platform.deferral). The Kafka offset is
-- committed once the record is here.
CREATE TABLE IF NOT EXISTS platform.deferred_events (
    id              bigserial   PRIMARY KEY,
    consumer        text        NOT NULL,
    key             bytea       NOT NULL,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    value           bytea       NOT NULL,
    header_names    text[]      NOT NULL,
    header_values   bytea[]     NOT NULL,
    waiting_for     text        NOT NULL,
    deferred_at     timestamptz NOT NULL,
    UNIQUE (consumer, topic, kafka_partition, kafka_offset)
);
CREATE INDEX IF NOT EXISTS deferred_events_by_key ON platform.deferred_events (consumer, key, id);
