"""The MQTT connection: a persistent gmqtt session whose deliveries go to the ingest pipeline.

Every delivery, QoS 0 or 1, goes to the pipeline: the PUBLISH packets of a socket read together
to `accept_many` (the pipeline's fast path for plain readings), the few that gmqtt parses to
`accept(Delivery)`; a QoS 1 delivery's PUBACK goes out once the future it was given completes,
i.e. once its batch is durable (`gmqtt_adapter.LateAcks`). At most `MQTT_RECEIVE_MAXIMUM`
deliveries are held unacknowledged: at that bound sensorhub stops reading the socket (TCP
backpressure), since Mosquitto 2.0 stops honouring the Receive Maximum it is sent after the
first PUBACK.

Use it as an async context manager: entering connects (in the background after `wait` seconds),
leaving waits for the last acknowledgements, then disconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterable, Awaitable, Callable
from types import TracebackType
from typing import Any, Self

from gmqtt import Client, Subscription
from gmqtt.mqtt.constants import MQTTv50, MQTTv311
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from sensorhub.broker_url import BrokerAddress
from sensorhub.config import Settings
from sensorhub.ingest.delivery import Accept, AcceptMany
from sensorhub.plugins.gmqtt_adapter import InflightWindow, LateAcks

logger = logging.getLogger(__name__)

ConnectHook = Callable[[], Awaitable[None]]

SESSION_NEVER_EXPIRES = 0xFFFFFFFF
MAX_BACKOFF = 30.0
CONNECT_TIMEOUT = 15.0
ACK_DRAIN_TIMEOUT = 10.0
PUBLISH_WINDOW = 1_000
"""At most this many of sensorhub's own QoS 1 publishes in flight (fewer if the broker says so)."""
OwnPublish = Callable[[str, bytes], None]


class MqttPlugin:
    """Connects, subscribes at QoS 1, feeds messages to `handler`, reconnects with back-off."""

    def __init__(
        self,
        settings: Settings,
        broker_url: str,
        accept: Accept,
        on_connect: ConnectHook | None = None,
        *,
        mqtt5: bool = True,
        own_publish: OwnPublish | None = None,
        wait: float | None = 10.0,
        accept_many: AcceptMany | None = None,
    ) -> None:
        """Without `accept_many`, the packets of a read go to `accept` one by one."""
        self._settings = settings
        address = BrokerAddress.parse(broker_url, default_host="127.0.0.1")
        self.host = address.host
        self.port = address.port
        self._username = settings.mqtt_username or address.username
        password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
        self._password = password or address.password
        self._tls = settings.mqtt_uses_tls
        self._accept = accept
        self._accept_many = accept_many
        self._on_connect_hook = on_connect
        self._client: Any = None
        self._connected = asyncio.Event()
        self._connector: asyncio.Task[None] | None = None
        self._hook_task: asyncio.Task[None] | None = None
        self._exit = contextlib.AsyncExitStack()
        self._group = asyncio.TaskGroup()
        self._stopping = False
        self._version = MQTTv50 if mqtt5 else MQTTv311
        self._own_publish = own_publish
        self._wait = wait
        self._window = InflightWindow()
        self._publish_limit = PUBLISH_WINDOW
        self._acks: LateAcks | None = None

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def subscriptions(self) -> list[str]:
        group = self._settings.mqtt_shared_group
        topics = self._settings.mqtt_topics
        return [f"$share/{group}/{topic}" for topic in topics] if group else list(topics)

    @property
    def acks(self) -> LateAcks:
        """The acknowledgement state (held deliveries, high-water mark)."""
        if self._acks is None:
            raise RuntimeError("MQTT connection not started")
        return self._acks

    async def __aenter__(self) -> Self:
        """Connect in the background; wait up to `wait` seconds for the first connection.

        The connector and the on-connect hook run in a TaskGroup that leaving the block ends.
        """
        self._exit = contextlib.AsyncExitStack()
        group = await self._exit.enter_async_context(asyncio.TaskGroup())
        self._exit.push_async_callback(self._leave)
        self._group = group
        self._client = self._make_client()
        self._connector = group.create_task(self._connect_forever(), name="mqtt-connect")
        if self._wait:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._connected.wait(), self._wait)
            if not self.connected:
                logger.warning(
                    "broker %s:%d not reachable yet; retrying in the background",
                    self.host,
                    self.port,
                )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._exit.aclose()

    async def wait_connected(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def _leave(self) -> None:
        """Write the PUBACKs of every batch made durable so far, then leave the broker."""
        if self._acks is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._acks.wait_acknowledged(), ACK_DRAIN_TIMEOUT)
        self._stopping = True
        for task in (self._connector, self._hook_task):
            if task is not None:
                task.cancel()
        if self._client is not None and self._client.is_connected:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._client.disconnect(), 5)
        self._connected.clear()

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = True
    ) -> None:
        """Hand one message to the broker connection (QoS 1 waits for room in the window).

        Returns once the message is written, not once the broker acknowledged it (gmqtt re-sends
        unacknowledged QoS 1 publishes after a reconnect).

        Raises:
            ConnectionError: not connected to the broker.
        """
        while True:
            if qos > 0:
                await self._window.wait_room(self._publish_limit)
            if not self.connected:
                raise ConnectionError("not connected to the MQTT broker")
            try:
                self._client.publish(topic, payload, qos=qos, retain=retain)
            except OverflowError:
                # gmqtt has no packet id left: the broker's Receive Maximum (gmqtt keeps it to
                # itself) is below our window. Shrink the window to what is in flight and wait.
                if not self._window.inflight:
                    raise
                self._publish_limit = self._window.inflight
                continue
            break
        if self._own_publish is not None and self.echoes_own_publishes:
            self._own_publish(topic, payload)

    async def publish_all(
        self, messages: AsyncIterable[tuple[str, bytes]], *, retain: bool = True
    ) -> tuple[int, int]:
        """Publish each (topic, payload) at QoS 1 with flow control; one failure stops nothing.

        At most as many publishes as the broker's Receive Maximum allows (and PUBLISH_WINDOW)
        are unacknowledged at a time; returns (published, failed) once every published message
        was acknowledged or the connection dropped (gmqtt re-sends those after reconnecting).
        """
        published = failed = 0
        async for topic, payload in messages:
            try:
                await self.publish(topic, payload, qos=1, retain=retain)
            except Exception as error:
                failed += 1
                logger.warning("cannot publish %s: %s", topic, _describe(error))
                continue
            published += 1
        while self.connected and self._window.inflight:
            await self._window.wait_room(1)
        return published, failed

    def _make_client(self) -> Any:
        client = Client(
            self._settings.mqtt_client_id,
            clean_session=False,
            session_expiry_interval=SESSION_NEVER_EXPIRES,
            receive_maximum=self._settings.mqtt_receive_maximum,
            persistent_storage=self._window,
        )
        if self._username:
            client.set_auth_credentials(self._username, self._password)
        client.set_config({"reconnect_retries": -1, "reconnect_delay": 2})
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        self._acks = LateAcks(
            client,
            self._accept,
            max_unacknowledged=self._settings.mqtt_receive_maximum,
            accept_many=self._accept_many,
        )
        return client

    @property
    def echoes_own_publishes(self) -> bool:
        """No Local keeps our publishes from coming back, but only over MQTT 5 and not on $share."""
        return self._version != MQTTv50 or self._settings.mqtt_shared_group is not None

    def _ssl_context(self) -> ssl.SSLContext | bool:
        if not self._tls:
            return False
        context = ssl.create_default_context(
            cafile=str(self._settings.mqtt_ca_file) if self._settings.mqtt_ca_file else None
        )
        if self._settings.mqtt_cert_file:
            context.load_cert_chain(
                str(self._settings.mqtt_cert_file),
                str(self._settings.mqtt_key_file) if self._settings.mqtt_key_file else None,
            )
        return context

    async def _connect_forever(self) -> None:
        """First connection, retried with exponential back-off (0.5 s doubling to MAX_BACKOFF)
        until it succeeds or the plugin stops; gmqtt reconnects by itself afterwards."""
        retrying = AsyncRetrying(
            wait=wait_exponential(multiplier=0.5, max=MAX_BACKOFF),
            retry=retry_if_exception_type(Exception),
            before_sleep=self._log_connect_failure,
        )
        await retrying(self._connect_once)

    async def _connect_once(self) -> None:
        """One connection attempt; a broker refusing MQTT 5 is asked again at once over 3.1.1."""
        try:
            await self._connect_with(self._version)
        except Exception as error:
            if self._version != MQTTv50 or not _protocol_refused(error):
                raise
            logger.warning("broker %s:%d refuses MQTT 5; using 3.1.1", self.host, self.port)
            self._version = MQTTv311
            await self._connect_with(self._version)

    async def _connect_with(self, version: int) -> None:
        connect = self._client.connect(
            self.host, self.port, ssl=self._ssl_context(), keepalive=30, version=version
        )
        await asyncio.wait_for(connect, CONNECT_TIMEOUT)

    def _log_connect_failure(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        logger.warning(
            "cannot connect to broker %s:%d (%s); retrying in %.1f s",
            self.host,
            self.port,
            _describe(error) if error is not None else "unknown error",
            delay,
        )

    def _on_connect(self, client: Any, flags: int, rc: int, properties: Any) -> None:
        # No Local exists in MQTT 5 only (3.1.1 brokers read the option bits as the QoS), and on
        # a shared subscription it is a protocol error (MQTT-3.8.3-4; EMQX disconnects).
        mqtt5 = self._version == MQTTv50
        client.subscribe(
            [
                Subscription(topic, qos=1, no_local=mqtt5 and not topic.startswith("$share/"))
                for topic in self.subscriptions
            ]
        )
        logger.info(
            "connected to broker %s:%d as %s, subscribed to %s",
            self.host,
            self.port,
            self._settings.mqtt_client_id,
            ", ".join(self.subscriptions),
        )
        self._publish_limit = PUBLISH_WINDOW
        self._connected.set()
        if self._on_connect_hook is not None:
            if self._hook_task is not None:
                self._hook_task.cancel()  # a new connection starts the hook over
            self._hook_task = self._group.create_task(
                self._run_connect_hook(), name="mqtt-on-connect"
            )

    async def _run_connect_hook(self) -> None:
        assert self._on_connect_hook is not None
        try:
            await self._on_connect_hook()
        except Exception:
            logger.exception("on-connect hook failed")

    def _on_disconnect(self, client: Any, packet: Any, exc: Any = None) -> None:
        if self._connected.is_set() and not self._stopping:
            logger.warning("disconnected from broker %s:%d; reconnecting", self.host, self.port)
        self._connected.clear()


def _protocol_refused(error: BaseException) -> bool:
    """A broker that does not speak MQTT 5 refuses the CONNECT with this reason.

    (amqtt never answers an MQTT 5 CONNECT at all: set MQTT_PROTOCOL=3.1.1 for it.)
    """
    return "protocol version" in str(error).lower()


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__
