"""Prometheus metrics of one sensorhub instance (its own registry, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """Every counter `/metrics` exposes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter("sensorhub_messages_received", "MQTT messages received", registry=r)
        self.accepted = Counter(
            "sensorhub_messages_accepted", "MQTT messages accepted, by kind", ["kind"], registry=r
        )
        self.rejected = Counter(
            "sensorhub_messages_rejected",
            "MQTT messages rejected, by reason",
            ["reason"],
            registry=r,
        )
        self.stored = Counter(
            "sensorhub_measurements_stored", "Measurement rows committed to PostgreSQL", registry=r
        )
        self.spooled = Counter(
            "sensorhub_measurements_spooled",
            "Measurement rows written to the local spool while PostgreSQL was unavailable",
            registry=r,
        )
        self.replayed = Counter(
            "sensorhub_measurements_replayed",
            "Measurement rows replayed from the spool into PostgreSQL",
            registry=r,
        )
        self.clock_corrections = Counter(
            "sensorhub_clock_corrections",
            "Device timestamps replaced by the receive time",
            registry=r,
        )
        self.db_write_errors = Counter(
            "sensorhub_db_write_errors", "Batch writes that failed", registry=r
        )
        self.ingest_write_timeouts = Counter(
            "sensorhub_ingest_write_timeouts",
            "Batch writes rolled back at INGEST_WRITE_TIMEOUT (the batch went to the spool)",
            registry=r,
        )
        self.buffer_depth = Gauge(
            "sensorhub_buffer_depth", "Messages waiting in memory for the next flush", registry=r
        )
        self.spool_bytes = Gauge(
            "sensorhub_spool_bytes", "Bytes in the local spool waiting for PostgreSQL", registry=r
        )
        self.flush_duration = Histogram(
            "sensorhub_flush_duration_seconds",
            "Time to write one batch to PostgreSQL",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.batch_rows = Histogram(
            "sensorhub_batch_rows",
            "Measurement rows written per database round trip",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000),
            registry=r,
        )
        self.socketio_clients = Gauge(
            "sensorhub_socketio_clients", "Connected Socket.IO clients", registry=r
        )
        self.events_dropped = Counter(
            "sensorhub_socketio_events_dropped",
            "Live events dropped because the broadcast queue was full",
            registry=r,
        )
        self.socketio_clients_dropped = Counter(
            "sensorhub_socketio_clients_dropped",
            "Socket.IO clients disconnected because they could not keep up with live events",
            registry=r,
        )
