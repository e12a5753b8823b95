"""Prometheus metrics of one sensorhub instance (its own registry, so tests can run several)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector


class IngestCounts(Collector):
    """The two counters the ingest path moves for every message, as plain integers.

    A Prometheus `Counter.inc()` takes a lock and costs about 0.4 µs; at tens of thousands of
    messages a second that was 5% of the ingest CPU (issue 14). The pipeline adds to these
    integers and the registry reads them when scraped, as `sensorhub_messages_received_total`
    and `sensorhub_messages_accepted_total{kind}`.
    """

    def __init__(self) -> None:
        self.received = 0
        self.accepted: dict[str, int] = {}
        """Messages accepted by kind; a plain dict (`+= 1` on a `collections.Counter`, a dict
        subclass, cost about twice as much). The pipeline puts every kind in at 0."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            "sensorhub_messages_received", "MQTT messages received", value=self.received
        )
        accepted = CounterMetricFamily(
            "sensorhub_messages_accepted", "MQTT messages accepted, by kind", labels=["kind"]
        )
        for kind, count in sorted(self.accepted.items()):
            accepted.add_metric([kind], count)
        yield accepted


class Metrics:
    """Every counter `/metrics` exposes."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.counts = IngestCounts()
        r.register(self.counts)
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
        self.fields_ignored = Counter(
            "sensorhub_fields_ignored",
            "Status fields present but unreadable, left out so the stored value stays, by reason",
            ["reason"],
            registry=r,
        )
        self.nul_stripped = Counter(
            "sensorhub_payloads_nul_stripped",
            "Payloads whose trailing NUL bytes (C-string terminators) were removed",
            registry=r,
        )
        self.redelivered = Counter(
            "sensorhub_messages_redelivered",
            "QoS 1 messages the broker delivered again (DUP=1)",
            registry=r,
        )
        self.redelivered_known = Counter(
            "sensorhub_messages_redelivered_known",
            "Redelivered messages stored at the receive time recorded for their first delivery",
            registry=r,
        )
        self.retained = Counter(
            "sensorhub_messages_retained",
            "Retained messages delivered on (re)subscription; they never move last_seen",
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
