"""Raw pages: time slices, joined parts and PostgreSQL's float text as JSON."""

from datetime import UTC, datetime, timedelta

import orjson

from sensorhub.modules.devices.history_raw import Cursor, Part, Span, _json_numbers

START = datetime(2026, 11, 1, tzinfo=UTC)
END = START + timedelta(days=1)


def test_slices_cover_the_range_after_the_cursor_which_only_the_first_keeps() -> None:
    after = Cursor("co2", START + timedelta(hours=12), "scd41")
    slices = Span("m", "co2", START, END, after).slices(3)
    assert [(s.start, s.end) for s in slices] == [
        (START, START + timedelta(hours=16)),
        (START + timedelta(hours=16), START + timedelta(hours=20)),
        (START + timedelta(hours=20), END),
    ]
    assert [s.after for s in slices] == [after, None, None]
    assert slices[0].args(5) == (
        "m",
        "co2",
        START,
        START + timedelta(hours=16),
        5,
        after.time,
        after.hardware_id,
    )


def test_a_cursor_past_the_end_leaves_the_later_slices_empty() -> None:
    after = Cursor("co2", END + timedelta(hours=1), "")
    first, second = Span("m", "co2", START, END, after).slices(2)
    assert (first.start, first.end, second.start, second.end) == (START, END, END, END)


def test_parts_join_in_time_order_per_key() -> None:
    joined = Part({"a": ("1,2", "10,20")}, 2, None)
    joined.extend(Part({}, 0, None))
    joined.extend(Part({"a": ("3", "30"), "b": ("4", "40")}, 2, Cursor("t", START, "")))
    assert joined == Part({"a": ("1,2,3", "10,20,30"), "b": ("4", "40")}, 4, Cursor("t", START, ""))


def test_float_text_is_json_with_null_where_orjson_writes_null() -> None:
    text = "1.5,NaN,-Infinity,Infinity,1e+20,-0,2.5e-05"
    assert orjson.loads(f"[{_json_numbers(text)}]") == [1.5, None, None, None, 1e20, 0, 2.5e-05]
    assert _json_numbers("21.5,22") == "21.5,22"
