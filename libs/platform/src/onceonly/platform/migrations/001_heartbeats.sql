-- Liveness of the processes that have no HTTP port of their own (relay, worker,
-- bridge, consumers): each writes its heartbeat, and its service's /health reads it.
CREATE TABLE IF NOT EXISTS platform.heartbeats (
    component  text        PRIMARY KEY,
    pid        integer     NOT NULL,
    detail     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    beat_at    timestamptz NOT NULL DEFAULT now()
);
