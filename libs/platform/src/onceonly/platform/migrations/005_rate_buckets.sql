-- Token buckets shared by every replica of an API (onceonly.platform.shared_limits):
-- one row per (scope, key), refilled by elapsed time when a replica leases tokens.
CREATE TABLE IF NOT EXISTS platform.rate_buckets (
    scope       text             NOT NULL,
    key         text             NOT NULL,
    tokens      double precision NOT NULL,
    updated_at  timestamptz      NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX IF NOT EXISTS rate_buckets_updated_at ON platform.rate_buckets (scope, updated_at);
