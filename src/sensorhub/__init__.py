"""sensorhub: MQTT in, PostgreSQL out, Socket.IO live, REST API — for fleets of ESP32 modules."""

__version__ = "0.1.0"
