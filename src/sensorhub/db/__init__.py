"""Storage: schema, migrations and TimescaleDB detection."""
