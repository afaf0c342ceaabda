"""What every Once-Only service needs: settings, events on Kafka, Postgres, telemetry."""
