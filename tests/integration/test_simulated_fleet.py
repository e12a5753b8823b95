"""The simulator's traffic through sensorhub: all accepted except the bad share, counted exactly."""

import uuid
from pathlib import Path

from sensorhub.simulate import SimulationOptions, module_id, run_simulation
from tests.support import count_reaches, instance_env, metric_total, running_app, wait_until


async def test_simulated_modules_are_stored_and_bad_payloads_rejected_exactly(
    database_url: str, broker_url: str, tmp_path: Path
) -> None:
    prefix = f"fleet{uuid.uuid4().hex[:6]}"
    modules = 3
    topics = ",".join(f"{module_id(prefix, i)}/#" for i in range(modules))
    async with running_app(
        **instance_env(
            database_url,
            broker_url,
            prefix,
            tmp_path / "data",
            MQTT_TOPICS=topics,
        )
    ) as running:
        options = SimulationOptions(
            broker_url=broker_url,
            modules=modules,
            rate=300,
            duration=3,
            qos=1,
            bad_ratio=0.1,
            module_prefix=prefix,
            seed=7,
        )
        stats = await run_simulation(options)
        assert stats.errors == 0
        assert stats.bad_sent > 0
        good = stats.sent - stats.bad_sent
        await wait_until(
            count_reaches(database_url, "SELECT count(*) FROM measurements", good),
            what=f"{good} good readings",
        )

        async def every_message_counted() -> bool:
            text = (await running.http.get("/metrics")).text
            handled = metric_total(text, "sensorhub_messages_accepted_total") + metric_total(
                text, "sensorhub_messages_rejected_total"
            )
            return handled >= stats.sent + stats.control_sent

        await wait_until(every_message_counted, what="all messages counted")
        text = (await running.http.get("/metrics")).text

    assert metric_total(text, "sensorhub_messages_rejected_total") == stats.bad_sent
    accepted = metric_total(text, "sensorhub_messages_accepted_total", kind="measurement")
    assert accepted == good
    modules_seen = await count_reaches(
        database_url, "SELECT count(*) FROM device_hardware WHERE chip_model IS NOT NULL", modules
    )()
    assert modules_seen, "each simulated module announced its hardware"
