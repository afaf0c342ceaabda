"""The service catalogue (matters) and the working-day calendar: pure domain code."""
