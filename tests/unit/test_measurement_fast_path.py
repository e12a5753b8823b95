"""The fast readers of measurement payloads agree with the general ones wherever they answer.

`measurements.fast_document` (msgspec, flat ASCII objects) against `measurements.document_fields`
(the standard JSON decoder), and `normalize.to_datetime`'s short cut for ISO times (no `float()`
attempt on text with a colon) against the attempt it skips.
"""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from sensorhub.ingest.measurements import document_fields, fast_document
from sensorhub.ingest.messages import InvalidMessage
from sensorhub.ingest.normalize import epoch_to_datetime, parse_number, to_datetime

KEYS = st.sampled_from(["value", "time", "Value", "val", "x", "", "valu\u00e9", "time "])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["21.5", " 7 ", "2026-11-30T23:00:00+00:00", "1764543600", "nan", ""]),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=3),
    st.dictionaries(st.text(max_size=4), SCALARS, max_size=3),
)


def _general(payload: bytes) -> tuple[float, object] | str:
    try:
        return document_fields(payload.decode("utf-8").strip())
    except (InvalidMessage, UnicodeDecodeError) as error:
        return type(error).__name__


def _assert_agrees(payload: bytes) -> bool:
    """True when the fast reader answered (and then agreed)."""
    fast = fast_document(payload)
    if fast is None:
        return False
    general = _general(payload)
    assert not isinstance(general, str), (
        f"fast path accepted what the general one refuses: {payload!r}"
    )
    assert fast[0] == general[0] and math.copysign(1, fast[0]) == math.copysign(1, general[0])
    assert type(fast[1]) is type(general[1]) and fast[1] == general[1], payload
    return True


@given(st.dictionaries(KEYS, VALUES, max_size=4), st.booleans(), st.booleans())
def test_fast_document_agrees_with_the_general_reader(
    document: dict[str, object], ascii_only: bool, spaced: bool
) -> None:
    text = json.dumps(document, ensure_ascii=ascii_only, allow_nan=True)
    if spaced:
        text = text.replace(":", " : ").replace(",", " ,\t") + "\n"
    _assert_agrees(text.encode())


@given(st.binary(max_size=60).map(lambda tail: b"{" + tail))
def test_fast_document_agrees_on_arbitrary_bytes(payload: bytes) -> None:
    _assert_agrees(payload)


@given(
    st.one_of(st.integers(min_value=-(2**64), max_value=2**64), st.floats(allow_nan=False)),
    st.one_of(
        st.none(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(st.characters(exclude_characters="{[", exclude_categories=("Cs",)), max_size=30),
    ),
    st.sampled_from(["{}", '"value": {v}, "time": {t}', '"time": {t}, "value": {v}']),
)
def test_the_shapes_firmware_sends_take_the_fast_path(
    value: float, time: object, shape: str
) -> None:
    if shape == "{}":
        payload = json.dumps({"value": value}).encode()
    else:
        body = shape.format(v=json.dumps(value), t=json.dumps(time))
        payload = ("{" + body + "}").encode()
    finite = math.isfinite(float(value)) if isinstance(value, float) else abs(value) < 2**1000
    took_fast_path = _assert_agrees(payload)
    assert took_fast_path == (finite and payload.isascii()), payload


def test_duplicate_keys_keep_the_last_value_on_both_paths() -> None:
    assert fast_document(b'{"value": 1, "value": 2}') == (2.0, None)
    assert document_fields('{"value": 1, "value": 2}') == (2.0, None)
    assert fast_document(b'{"value": 1, "value": "2"}') is None, "a string: the general path"


@given(st.text(alphabet="0123456789:-+T.Ze ", max_size=30))
def test_to_datetime_skips_float_only_where_float_would_fail(text: str) -> None:
    number = parse_number(text.strip())
    expected = epoch_to_datetime(number) if number is not None else None
    if ":" in text:
        assert number is None, "float() never reads a colon"
    elif number is not None:
        assert to_datetime(text) == expected
