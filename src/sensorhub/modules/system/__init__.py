"""System: health, readiness, metrics, database size and storage."""
