"""`pubacks` writes exactly the bytes of gmqtt's own PUBACK builder, for any packet ids."""

from gmqtt.mqtt.constants import MQTTCommands, MQTTv50, MQTTv311
from gmqtt.mqtt.package import CommandWithMidPacket
from hypothesis import given
from hypothesis import strategies as st

from sensorhub.plugins.pubacks import pubacks


@given(st.lists(st.integers(1, 65_535), max_size=50), st.sampled_from([MQTTv311, MQTTv50]))
def test_the_same_bytes_as_gmqtt(mids: list[int], version: int) -> None:
    expected = b"".join(
        CommandWithMidPacket.build_package(MQTTCommands.PUBACK, mid, False, proto_ver=version)
        for mid in mids
    )
    assert pubacks(mids, version >= MQTTv50) == expected
