"""Hostile MQTT input: every bad-input category of docs/contract.md §3 and worse, through a real broker.

What the broker refuses itself (NUL, invalid UTF-8 or wildcards in a topic: it hangs up on the
publisher) is also handed to sensorhub's pipeline directly, as a broker that let it through would.
The process must stay alive with bounded memory, count every rejection by reason, and store the
good messages sent around the bad ones — exactly.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sensorhub.ingest.delivery import Delivery
from sensorhub.ingest.interpret import interpret
from sensorhub.ingest.messages import Rejected
from tests.faults.helpers import (
    Mosquitto,
    RawMqtt,
    metric,
    publish_packet,
    rss_mib,
)
from tests.support import (
    Publisher,
    RunningApp,
    count_reaches,
    db_count,
    instance_env,
    reading,
    running_app,
    wait_until,
)

pytestmark = pytest.mark.slow

FLOOD_MODULES = 100_000
RSS_GROWTH_LIMIT_MIB = 300.0
MEGABYTE = 1 << 20


def hostile_corpus(m: str) -> list[tuple[str, bytes, bytes]]:
    """(name, topic, payload): docs/contract.md §3's categories, then oversized, deep, control characters."""
    t = f"{m}/temperature".encode()
    deep_object = ('{"a":' * 10_000 + "1" + "}" * 10_000).encode()
    return [
        # docs/contract.md §3: malformed JSON, non-UTF-8, oversized, unknown / too deep topics, empty ids
        ("malformed JSON status", f"{m}/system".encode(), b'{"rssi": -45, "memory": {'),
        ("JSON array as status", f"{m}/system/config".encode(), b"[1, 2, 3]"),
        ("non-UTF-8 payload", t, b"\xff\xfe\x32\x31"),
        ("non-UTF-8 log", f"{m}/logs".encode(), b"\xc3\x28 broken"),
        ("payload just over 64 KiB", t, b"1" * (65_536 + 1)),
        ("too deep topic", f"{m}/a/b/temperature".encode(), b"21"),
        ("reserved level as sensor", f"{m}/system/temperature".encode(), b"21"),
        ("empty module id", b"/temperature", b"21"),
        ("empty level", f"{m}//temperature".encode(), b"21"),
        ("trailing slash", f"{m}/".encode(), b"21"),
        ("level of 65 characters", f"{m}/{'x' * 65}".encode(), b"21"),
        ("topic of 60,000 characters", f"{m}/{'y' * 60_000}".encode(), b"21"),
        ("leading space in a level", f"{m}/ temperature".encode(), b"21"),
        ("bidi override in topic", f"{m}/\u202etemperature".encode(), b"21"),
        # numbers that are not numbers, empty payloads, out of range
        ("boolean", t, b"true"),
        ("object as value", t, b'{"value": {"nested": 1}}'),
        ("NaN", t, b"NaN"),
        ("NaN in JSON", t, b'{"value": NaN}'),
        ("Infinity", t, b"Infinity"),
        ("huge exponent", t, b"1e999"),
        ("huge integer", t, b'{"value": ' + b"9" * 5000 + b"}"),
        ("underscore number", t, b"1_000"),
        ("empty payload", t, b""),
        ("blank payload", t, b"   \t\n "),
        ("out of range", t, b"150"),
        ("object without value", t, b'{"time": "2025-01-01T00:00:00Z"}'),
        ("empty log", f"{m}/logs".encode(), b"  "),
        ("log without msg", f"{m}/logs".encode(), b'{"level": "error"}'),
        # clock trouble: accepted, time replaced and counted
        ("year 1970", f"{m}/clock".encode(), b'{"value": 1, "time": 0}'),
        ("year 2999", f"{m}/clock".encode(), b'{"value": 2, "time": "2999-01-01T00:00:00Z"}'),
        ("time beyond datetime", f"{m}/clock".encode(), b'{"value": 3, "time": 1e300}'),
        ("time as garbage", f"{m}/clock".encode(), b'{"value": 4, "time": "yesterday-ish"}'),
        # 1 MB payloads, deep nesting
        *[(f"1 MB payload #{i}", t, b"7" * MEGABYTE) for i in range(3)],
        ("1 MB JSON status", f"{m}/system".encode(), b'{"a": "' + b"x" * MEGABYTE + b'"}'),
        ("100k [ (oversized)", t, b"[" * 100_000),
        ("50k [ (deep, under 64 KiB)", t, b"[" * 50_000),
        ("50k [ on a status topic", f"{m}/sensors/status".encode(), b"[" * 50_000),
        ("10k nested objects", f"{m}/hardware/config".encode(), deep_object),
        ("deeply nested log", f"{m}/logs".encode(), b'{"msg": "x", "d": ' + b"[" * 30_000),
        # control characters and NUL
        ("control characters in topic", f"{m}/temp\x01\x1b[2J".encode(), b"21"),
        ("DEL in topic", f"{m}/temp\x7f".encode(), b"21"),
        ("NUL in topic", f"{m}/te\x00mp".encode(), b"21"),
        ("NUL in payload", t, b"21\x00"),
        ("escape codes in payload", t, b"\x1b[31m21\x07"),
        ("NUL and escapes in a log", f"{m}/logs".encode(), b"evil\x00line\x1b[2J\r\nFAKE"),
        ("NUL in status text", f"{m}/system/config".encode(), b'{"ip": "10.0.0.1\\u0000\\u001b"}'),
        ("lone surrogate in JSON", f"{m}/system/config".encode(), b'{"mac": "\\ud800"}'),
        ("invalid UTF-8 topic", b"\xff\xfe/temperature", b"21"),
        ("overlong UTF-8 topic", b"\xc0\xaf" + f"{m}/temperature".encode(), b"21"),
        ("wildcard + in topic", f"{m}/+/temperature".encode(), b"21"),
        ("wildcard # in topic", f"{m}/#".encode(), b"21"),
        ("broker topic", b"$SYS/broker/fake", b"21"),
    ]


def expected_outcome(topic: bytes, payload: bytes) -> str:
    """What sensorhub should make of a message: `accepted` or the reason it is rejected."""
    try:
        text: str | bytes = topic.decode("utf-8")
    except UnicodeDecodeError:
        text = topic
    result = interpret(text, payload, datetime.now(UTC))
    return result.reason.value if isinstance(result, Rejected) else "accepted"


def rejected(running: RunningApp) -> Counter[str]:
    counts: Counter[str] = Counter()
    for family in running.runtime.metrics.rejected.collect():
        for sample in family.samples:
            if sample.name.endswith("_total"):
                counts[sample.labels["reason"]] = int(sample.value)
    return counts


async def test_hostile_input_leaves_the_process_alive_and_good_messages_stored(
    tmp_path: Path, database_url: str, mosquitto: Mosquitto, module_id: str
) -> None:
    m = module_id
    good_topic = f"{m}/good"
    good_sql = f"SELECT count(*) FROM measurements WHERE module_id = '{m}' AND sensor_type = 'good'"
    async with (
        running_app(
            **instance_env(
                database_url,
                mosquitto.url,
                m,
                tmp_path / "data",
                MQTT_PROTOCOL="5",
                MQTT_TOPICS="#",  # the broker is this test's own
            )
        ) as running,
        Publisher(mosquitto.url, f"good-{m}") as good,
        RawMqtt(mosquitto.port, f"raw-{m}") as raw,
    ):
        pipeline = running.runtime.pipeline
        assert pipeline is not None
        rss_before = rss_mib()
        sent_good = 0
        for _ in range(100):
            good.publish(good_topic, reading(sent_good))
            sent_good += 1
        await good.drain()
        await wait_until(count_reaches(database_url, good_sql, sent_good), what="first good")

        # --- the corpus, each message between two good ones ------------------------------------
        received_before = metric(running, "sensorhub_messages_received_total")
        rejected_before = rejected(running)
        expected: Counter[str] = Counter()
        refused_by_broker = []
        corpus = hostile_corpus(m)
        for name, topic, payload in corpus:
            expected[expected_outcome(topic, payload)] += 1
            # Mosquitto never forwards `$` topics to `#`, and hangs up on topics it finds invalid:
            # those go to the pipeline directly, as if a laxer broker had let them through.
            if topic.startswith(b"$") or not await raw.publish(topic, payload):
                refused_by_broker.append(name)
                pipeline.accept(Delivery(topic, payload, 1, False, False, None))
            good.publish(good_topic, reading(sent_good))
            sent_good += 1
        await good.drain()
        await wait_until(
            lambda: (
                metric(running, "sensorhub_messages_received_total")
                >= received_before + len(corpus) + len(corpus)
            ),
            timeout=60,
            what="every corpus message handled",
        )
        await wait_until(count_reaches(database_url, good_sql, sent_good), what="good around bad")
        got = rejected(running) - rejected_before
        assert dict(got) == {k: v for k, v in expected.items() if k != "accepted"}
        assert (await running.http.get("/health")).status_code == 200
        rss_after_corpus = rss_mib()

        # --- 100k distinct module ids at QoS 0 -------------------------------------------------
        tag = uuid.uuid4().hex[:6]
        accepted = "sensorhub_messages_accepted_total"
        accepted_before = metric(running, accepted, kind="measurement")
        received_before = metric(running, "sensorhub_messages_received_total")
        chunk = 10_000
        for first in range(0, FLOOD_MODULES, chunk):
            await raw.send_raw(
                b"".join(
                    publish_packet(f"fl{tag}{i:06d}/t".encode(), b"1")
                    for i in range(first, first + chunk)
                )
            )
        flood_received = await settled(
            lambda: metric(running, "sensorhub_messages_received_total") - received_before
        )
        flood_accepted = metric(running, accepted, kind="measurement") - accepted_before
        flood_sql = f"SELECT count(*) FROM measurements WHERE module_id LIKE 'fl{tag}%'"
        await wait_until(
            count_reaches(database_url, flood_sql, int(flood_accepted)),
            timeout=120,
            what="the flood stored",
        )
        flood_stored = await db_count(database_url, flood_sql)
        overload = rejected(running)["overload"] - rejected_before["overload"]
        assert flood_stored == flood_accepted
        assert flood_received == flood_accepted + overload

        # --- good messages after the flood; the API still answers ------------------------------
        for _ in range(200):
            good.publish(good_topic, reading(sent_good))
            sent_good += 1
        await good.drain()
        await wait_until(count_reaches(database_url, good_sql, sent_good), what="good after flood")
        assert await db_count(database_url, good_sql) == sent_good
        assert (await running.http.get("/health")).status_code == 200
        assert (await running.http.get("/ready")).status_code == 200
        modules = await running.http.get("/api/modules", timeout=120)
        assert modules.status_code == 200, modules.text[:500]
        listed = len(modules.json())
        status = await running.http.get(f"/api/modules/{m}/status")
        assert status.status_code == 200
        cleaned_log = await db_count(
            database_url,
            "SELECT count(*) FROM device_logs WHERE module_id = $1 AND message LIKE 'evilline%'",
            m,
        )
        rss_after = rss_mib()
        print(
            f"\n[hostile] corpus={len(corpus)} outcomes={dict(expected)} "
            f"refused_by_broker={refused_by_broker}\n"
            f"[hostile] flood sent={FLOOD_MODULES} received={flood_received:.0f} "
            f"stored={flood_stored} overload_dropped={overload} modules_listed={listed}\n"
            f"[hostile] good published={sent_good} stored={sent_good} "
            f"RSS before={rss_before:.1f}MiB after_corpus={rss_after_corpus:.1f}MiB "
            f"after_flood={rss_after:.1f}MiB"
        )
        assert cleaned_log == 1  # NUL dropped, the rest kept as text
        assert listed >= flood_stored
        assert rss_after - rss_before < RSS_GROWTH_LIMIT_MIB


async def settled(value: object, window: float = 2.0, timeout: float = 120.0) -> float:
    """Wait until `value()` has grown and then stayed the same for `window` seconds."""
    assert callable(value)
    last = -1.0
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        current = float(value())
        if current == last and current > 0:
            return current
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still changing after {timeout} s ({current})")
        last = current
        await asyncio.sleep(window)  # an observation window: "no more coming"
