"""Contract tests: the seed project's Nuxt dashboard against sensorhub."""
