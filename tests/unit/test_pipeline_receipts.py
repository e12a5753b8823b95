"""Which deliveries the pipeline puts on record (ingest/receipts.py), and what a DUP gets back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sensorhub.ingest.batch import Batch
from sensorhub.ingest.buffer import IngestBuffer
from sensorhub.ingest.delivery import Delivery
from sensorhub.ingest.pipeline import IngestPipeline
from sensorhub.ingest.receipts import Receipts, digest
from sensorhub.ingest.spool import Spool
from sensorhub.metrics import Metrics


async def _write(batch: Batch) -> None:
    return None


def pipeline(tmp_path: Path) -> tuple[IngestPipeline, IngestBuffer, Metrics]:
    metrics = Metrics()
    buffer = IngestBuffer(_write, Spool(tmp_path, 1 << 20), metrics, max_size=100, max_age=60)
    return IngestPipeline(buffer, metrics), buffer, metrics


def qos1(topic: str, payload: bytes, packet_id: int, *, dup: bool = False) -> Delivery:
    return Delivery(topic, payload, 1, False, dup, packet_id)


async def test_only_rows_stored_at_the_receive_time_get_a_receipt(tmp_path: Path) -> None:
    ingest, buffer, _ = pipeline(tmp_path)
    device_time = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    ingest.accept(qos1("m/temperature", b"21.5", 1))
    ingest.accept(qos1("m/temperature", f'{{"value": 2, "time": "{device_time}"}}'.encode(), 2))
    ingest.accept(qos1("m/temperature", b'{"value": 3, "time": 12}', 3))  # clock never set
    ingest.accept(qos1("m/logs", b"booted", 4))
    assert [packet_id for packet_id, _, _ in buffer._batch.receipts] == [1, 3, 4]
    assert len(ingest.receipts) == 3
    assert buffer._batch.receipts[0][1] == digest("m/temperature", b"21.5")


async def test_a_redelivery_gets_its_first_receive_time_back(tmp_path: Path) -> None:
    ingest, buffer, metrics = pipeline(tmp_path)
    ingest.accept(qos1("m/temperature", b"21.5", 7))
    first = next(iter(buffer._batch.measurements))
    ingest.accept(qos1("m/temperature", b"21.5", 7, dup=True))
    assert list(buffer._batch.measurements) == [first], "the same row"
    assert metrics.redelivered_known._value.get() == 1


async def test_a_redelivery_with_a_device_time_lands_on_its_row_without_a_receipt(
    tmp_path: Path,
) -> None:
    ingest, buffer, metrics = pipeline(tmp_path)
    payload = f'{{"value": 2, "time": "{datetime.now(UTC).isoformat()}"}}'.encode()
    ingest.accept(qos1("m/temperature", payload, 9))
    ingest.accept(qos1("m/temperature", payload, 9, dup=True))
    assert len(buffer._batch.measurements) == 1
    assert metrics.redelivered._value.get() == 1
    assert metrics.redelivered_known._value.get() == 0, "nothing was on record"


def test_receipts_digest_caches_topics_and_matches_digest() -> None:
    receipts = Receipts()
    for payload in (b"", b"1", b"\x00\xff"):
        assert receipts.digest("m/t", payload) == digest("m/t", payload)
        assert receipts.digest(b"m/\xff", payload) == digest(b"m/\xff", payload)
