-- Every replica of a process beats on its own row: (component, instance), the instance
-- being host/pid. A component is alive while any of its instances beats; rows of
-- instances silent for an hour are pruned by the beats of the others. Replaces
-- platform.heartbeats (one row per component, which every replica overwrote), left in
-- place for processes of the previous version during a rolling upgrade.
CREATE TABLE IF NOT EXISTS platform.instance_heartbeats (
    component  text        NOT NULL,
    instance   text        NOT NULL,
    pid        integer     NOT NULL,
    detail     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    beat_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (component, instance)
);
