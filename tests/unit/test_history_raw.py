"""Raw pages: query parameters and PostgreSQL's float text as JSON."""

from datetime import UTC, datetime, timedelta

import orjson

from sensorhub.modules.devices.history_raw import Cursor, Span, _json_numbers

START = datetime(2026, 11, 1, tzinfo=UTC)
END = START + timedelta(days=1)


def test_span_parameters_with_and_without_a_cursor() -> None:
    assert Span("m", "co2", START, END).args(5) == ("m", "co2", START, END, 5)
    after = Cursor("co2", START + timedelta(hours=12), "scd41")
    assert Span("m", "co2", START, END, after).args(5) == (
        "m", "co2", START, END, 5, after.time, "scd41"
    )  # fmt: skip


def test_float_text_is_json_with_null_where_orjson_writes_null() -> None:
    text = "1.5,NaN,-Infinity,Infinity,1e+20,-0,2.5e-05"
    assert orjson.loads(f"[{_json_numbers(text)}]") == [1.5, None, None, None, 1e20, 0, 2.5e-05]
    assert _json_numbers("21.5,22") == "21.5,22"
