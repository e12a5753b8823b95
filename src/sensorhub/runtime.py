"""The running parts of one sensorhub instance, started and stopped in dependency order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sensorhub.config import Settings
from sensorhub.db.migrate import migrate
from sensorhub.db.retention import storage_jobs
from sensorhub.ingest.buffer import IngestBuffer
from sensorhub.ingest.pipeline import IngestPipeline
from sensorhub.ingest.repository import BatchRepository
from sensorhub.ingest.spool import Spool
from sensorhub.jobs import JobBody, PeriodicJob
from sensorhub.loop_lag import LoopLagMonitor
from sensorhub.metrics import Metrics
from sensorhub.modules.devices.configuration import republish_all
from sensorhub.modules.system.sampler import sample_metrics
from sensorhub.plugins.db import Database
from sensorhub.plugins.embedded import EmbeddedBroker, EmbeddedPostgres
from sensorhub.plugins.mqtt import MqttPlugin
from sensorhub.plugins.socketio import SocketIOPlugin

logger = logging.getLogger(__name__)

Stop = Callable[[], Awaitable[None]]
EMBEDDED_BROKER_MAX_AGE = 2.0


@dataclass
class Runtime:
    """Everything the lifespan starts; routes reach it through `request.app.state.runtime`."""

    settings: Settings
    metrics: Metrics = field(default_factory=Metrics)
    socketio: SocketIOPlugin | None = None
    database: Database | None = None
    mqtt: MqttPlugin | None = None
    buffer: IngestBuffer | None = None
    pipeline: IngestPipeline | None = None
    database_url: str | None = None
    broker_url: str | None = None
    timescale: bool = False
    jobs: list[PeriodicJob] = field(default_factory=list)
    _stops: list[Stop] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.socketio = SocketIOPlugin(self.settings, self.metrics)

    @property
    def db(self) -> Database:
        if self.database is None:
            raise RuntimeError("database not started")
        return self.database

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        settings = self.settings
        lag = LoopLagMonitor(self.metrics.registry)
        lag.start()
        self._stops.append(lag.stop)
        self.database_url = settings.database_url
        if self.database_url is None:
            embedded_pg = EmbeddedPostgres(settings.data_dir)
            self._stops.append(embedded_pg.stop)
            self.database_url = await embedded_pg.start()
        else:
            logger.info("database: %s", _redact(self.database_url))
        self.timescale = await migrate(settings, self.database_url)

        self.database = Database(self.database_url)
        await self.database.start()
        self._stops.append(self.database.stop)

        assert self.socketio is not None
        await self.socketio.start()
        self._stops.append(self.socketio.stop)

        self.broker_url = settings.mqtt_url
        embedded_broker = self.broker_url is None
        if self.broker_url is None:
            broker = EmbeddedBroker(settings.embedded_mqtt_port)
            self._stops.append(broker.stop)
            self.broker_url = await broker.start()
        else:
            logger.info("broker: %s", _redact(self.broker_url))

        spool = Spool(settings.data_dir / "spool", settings.spool_max_bytes)
        repository = BatchRepository(
            self.database.pool,
            backfill_only=self.timescale,
            write_timeout=settings.ingest_write_timeout,
            on_timeout=self.metrics.ingest_write_timeouts.inc,
        )
        self.buffer = IngestBuffer(
            repository.write,
            spool,
            self.metrics,
            max_size=settings.buffer_max_size,
            max_age=self._flush_age(embedded_broker),
        )
        self.metrics.buffer_depth.set_function(lambda: self.buffer.depth if self.buffer else 0)
        self.metrics.spool_bytes.set(spool.size_bytes)
        self.buffer.start()
        self._stops.append(self._stop_ingest)
        self.pipeline = IngestPipeline(self.buffer, self.metrics, self.socketio.publish_message)
        self.mqtt = MqttPlugin(
            settings,
            self.broker_url,
            self.pipeline.accept,
            on_connect=self._republish_configs,
            mqtt5=settings.mqtt_protocol == "5" and not embedded_broker,
        )
        await self.mqtt.start()

        if settings.simulate:
            await self._start_simulator(settings.simulate)

        for name, interval, body in self._job_definitions():
            pool = self.database.pool
            job = PeriodicJob(name, interval, body, pool, first_delay=min(interval, 5.0))
            await job.start()
            self.jobs.append(job)
            self._stops.append(job.stop)

    def _job_definitions(self) -> list[tuple[str, float, JobBody]]:
        """Background jobs: (name, interval in seconds, body run under the job's advisory lock)."""
        return [
            *storage_jobs(self.settings, timescale=self.timescale),
            ("metrics-sampler", self.settings.metrics_sample_interval, sample_metrics),
        ]

    def _flush_age(self, embedded_broker: bool) -> float:
        """amqtt gives up on a PUBACK after 5 s: on the embedded broker, acknowledge well before."""
        age = self.settings.buffer_max_age
        if embedded_broker and age > EMBEDDED_BROKER_MAX_AGE:
            logger.info(
                "embedded broker: flushing at least every %.0f s (BUFFER_MAX_AGE=%g)",
                EMBEDDED_BROKER_MAX_AGE,
                age,
            )
            return EMBEDDED_BROKER_MAX_AGE
        return age

    async def _start_simulator(self, modules: int) -> None:
        from sensorhub.simulate import SimulationOptions, run_simulation

        assert self.broker_url is not None
        options = SimulationOptions(broker_url=self.broker_url, modules=modules)
        stop = asyncio.Event()
        task = asyncio.create_task(run_simulation(options, stop=stop), name="simulator")
        logger.info("simulating %d modules (sim-001 …) on %s", modules, self.broker_url)

        async def stop_simulator() -> None:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, timeout=15)

        self._stops.append(stop_simulator)

    async def _stop_ingest(self) -> None:
        """Flush everything, let the last acknowledgements go out, then leave the broker."""
        if self.buffer is not None:
            await self.buffer.close()
        if self.mqtt is not None:
            await asyncio.sleep(0.1)
            await self.mqtt.stop()

    async def _republish_configs(self) -> None:
        assert self.mqtt is not None
        mqtt = self.mqtt

        async def publish(topic: str, payload: bytes) -> None:
            await mqtt.publish(topic, payload, qos=1, retain=True)

        await republish_all(self.db.pool, publish)

    async def stop(self) -> None:
        """Stop what started, in reverse order."""
        stops, self._stops = self._stops, []
        for stop in reversed(stops):
            try:
                await stop()
            except Exception:
                logger.exception("error while stopping %s", getattr(stop, "__qualname__", stop))

    async def ready(self) -> dict[str, bool]:
        database = self.database is not None and await self.database.is_ready()
        broker = self.mqtt is not None and self.mqtt.connected
        return {"database": database, "broker": broker}


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest.split("/", 1)[0]:
        credentials, _, host = rest.partition("@")
        user = credentials.split(":", 1)[0]
        return f"{scheme}{sep}{user}:***@{host}"
    return url
