"""The running parts of one sensorhub instance, composed as async context managers.

`Runtime.start` enters each component on one `contextlib.AsyncExitStack`, in dependency order;
`Runtime.stop` (or a failed start) leaves them in reverse order. That order makes shutdown
lossless: the ingest buffer flushes and its background tasks end first, then the MQTT connection
waits until the PUBACKs of every durable batch are written, then disconnects; the database and
the embedded services stop last. Routes reach the components through typed dependencies
(`sensorhub.deps`: `DbDep`, `MqttDep`, `LiveDep`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sensorhub.broker_url import redact_broker_url
from sensorhub.config import Settings
from sensorhub.db.batch_writer import BatchRepository
from sensorhub.db.migrate import migrate
from sensorhub.db.retention import storage_jobs
from sensorhub.db.urls import redact_database_url
from sensorhub.ingest.buffer import IngestBuffer
from sensorhub.ingest.interpret import InterpretRules
from sensorhub.ingest.pipeline import IngestPipeline
from sensorhub.ingest.receipts import Receipts
from sensorhub.ingest.spool import Spool
from sensorhub.ingest.spool_record import spooled_receipts
from sensorhub.jobs import JobBody, PeriodicJob
from sensorhub.metrics import Metrics
from sensorhub.modules.activity.monitor import ActivityMonitor, RejectionTally
from sensorhub.modules.devices.configuration import desired_configurations
from sensorhub.modules.system.sampler import sample_metrics
from sensorhub.plugins.db import Database
from sensorhub.plugins.embedded import EmbeddedBroker, EmbeddedPostgres
from sensorhub.plugins.mqtt import MqttPlugin
from sensorhub.plugins.socketio import SocketIOPlugin

logger = logging.getLogger(__name__)

EMBEDDED_BROKER_MAX_AGE = 2.0


@dataclass(frozen=True)
class Components:
    """What a started runtime holds; none of it exists before `start`."""

    database: Database
    database_url: str
    timescale: bool
    broker_url: str
    buffer: IngestBuffer
    pipeline: IngestPipeline
    mqtt: MqttPlugin
    jobs: tuple[PeriodicJob, ...]


class NotStarted(RuntimeError):
    """A component was asked for before `Runtime.start` or after `Runtime.stop`."""


class Runtime:
    """Everything the lifespan starts; routes reach it through `request.app.state.runtime`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.socketio = SocketIOPlugin(settings, self.metrics)
        self._components: Components | None = None
        self._stack: contextlib.AsyncExitStack | None = None

    @property
    def components(self) -> Components:
        if self._components is None:
            raise NotStarted("sensorhub is not running")
        return self._components

    @property
    def db(self) -> Database:
        return self.components.database

    @property
    def mqtt(self) -> MqttPlugin:
        return self.components.mqtt

    @property
    def buffer(self) -> IngestBuffer:
        return self.components.buffer

    @property
    def pipeline(self) -> IngestPipeline:
        return self.components.pipeline

    @property
    def timescale(self) -> bool:
        return self.components.timescale

    @property
    def broker_url(self) -> str:
        return self.components.broker_url

    @property
    def jobs(self) -> tuple[PeriodicJob, ...]:
        return self.components.jobs

    async def start(self) -> None:
        stack = contextlib.AsyncExitStack()
        try:
            self._components = await self._compose(stack)
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack

    async def stop(self) -> None:
        """Leave every component, in reverse order of `start`."""
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()
        self._components = None

    async def _compose(self, stack: contextlib.AsyncExitStack) -> Components:
        settings = self.settings
        database_url = settings.database_url
        if database_url is None:
            embedded_pg = EmbeddedPostgres(settings.data_dir)
            stack.push_async_callback(embedded_pg.stop)
            database_url = await embedded_pg.start()
        else:
            logger.info("database: %s", redact_database_url(database_url))
        timescale = await migrate(settings, database_url)
        database = await stack.enter_async_context(Database(database_url))

        await self.socketio.start()
        stack.push_async_callback(self.socketio.stop)

        broker_url = settings.mqtt_url
        embedded_broker = broker_url is None
        if broker_url is None:
            broker = EmbeddedBroker(settings.embedded_mqtt_port)
            stack.push_async_callback(broker.stop)
            broker_url = await broker.start()
        else:
            logger.info("broker: %s", redact_broker_url(broker_url))

        spool = Spool(settings.data_dir / "spool", settings.spool_max_bytes)
        repository = BatchRepository(
            database.pool,
            backfill_only=timescale,
            write_timeout=settings.ingest_write_timeout,
            on_timeout=self.metrics.ingest_write_timeouts.inc,
            client_id=settings.mqtt_client_id,
        )
        stack.push_async_callback(repository.close)  # after the buffer's last write
        buffer = IngestBuffer(
            repository.write,
            spool,
            self.metrics,
            max_size=settings.buffer_max_size,
            max_age=self._flush_age(embedded_broker),
            max_batch=settings.mqtt_receive_maximum // 2,
        )
        self.metrics.buffer_depth.set_function(lambda: buffer.depth)
        self.metrics.spool_bytes.set(spool.size_bytes)
        # Spooled batches are newer than any written one: their receipts come first.
        tally = RejectionTally()
        known = await asyncio.to_thread(spooled_receipts, spool)
        receipts = Receipts([*known, *await repository.load_receipts()])
        pipeline = IngestPipeline(
            buffer,
            self.metrics,
            self.socketio.publish_message,
            receipts=receipts,
            rules=InterpretRules.from_settings(settings),
            on_reject=tally.note,
            listening=self.socketio.listening,
            live_readings=self.socketio.publish_readings,
        )

        async def republish() -> None:
            await _republish_configurations(database, mqtt)

        mqtt = MqttPlugin(
            settings,
            broker_url,
            pipeline.accept,
            on_connect=republish,
            mqtt5=settings.mqtt_protocol == "5" and not embedded_broker,
            own_publish=pipeline.expect_echo,
            accept_many=pipeline.accept_many,
        )
        # Left in reverse: the buffer flushes first, then the last PUBACKs go out, then we leave.
        await stack.enter_async_context(mqtt)
        await stack.enter_async_context(buffer.running())
        activity = ActivityMonitor(
            database.pool,
            tally,
            database_available=lambda: buffer.database_available,
            broker_connected=lambda: mqtt.connected,
        )
        await stack.enter_async_context(activity.running())

        if settings.simulate:
            await stack.enter_async_context(self._simulator(broker_url, settings.simulate))

        jobs = []
        for name, interval, body in self._job_definitions(timescale):
            job = PeriodicJob(name, interval, body, database.pool, first_delay=min(interval, 5.0))
            await job.start()
            stack.push_async_callback(job.stop)
            jobs.append(job)
        return Components(
            database=database,
            database_url=database_url,
            timescale=timescale,
            broker_url=broker_url,
            buffer=buffer,
            pipeline=pipeline,
            mqtt=mqtt,
            jobs=tuple(jobs),
        )

    def _job_definitions(self, timescale: bool) -> list[tuple[str, float, JobBody]]:
        """Background jobs: (name, interval in seconds, body run under the job's advisory lock)."""
        return [
            *storage_jobs(self.settings, timescale=timescale),
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

    @contextlib.asynccontextmanager
    async def _simulator(self, broker_url: str, modules: int) -> AsyncIterator[None]:
        from sensorhub.simulate import SimulationOptions, run_simulation

        options = SimulationOptions(broker_url=broker_url, modules=modules)
        stop = asyncio.Event()
        logger.info("simulating %d modules (sim-001 …) on %s", modules, broker_url)
        async with asyncio.TaskGroup() as group:
            group.create_task(run_simulation(options, stop=stop), name="simulator")
            try:
                yield
            finally:
                stop.set()

    async def ready(self) -> dict[str, bool]:
        components = self._components
        if components is None:
            return {"database": False, "broker": False}
        return {
            "database": await components.database.is_ready(),
            "broker": components.mqtt.connected,
        }


async def _republish_configurations(database: Database, mqtt: MqttPlugin) -> None:
    """On every connection: publish each module's desired configuration again, retained, QoS 1
    (the device shadow's desired side; a module's own report never changes it)."""

    async def messages() -> AsyncIterator[tuple[str, bytes]]:
        async for _module_id, topic, payload in desired_configurations(database.pool):
            yield topic, payload

    published, failed = await mqtt.publish_all(messages())
    if published or failed:
        logger.info("republished %d module configurations (%d failed)", published, failed)
