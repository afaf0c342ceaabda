-- The integrators' own delivery log (GET /v1/integrator/webhooks/deliveries), newest first.
CREATE INDEX deliveries_integrator_idx ON notify.deliveries (recipient_hash, created_at DESC)
    WHERE channel = 'webhook';
