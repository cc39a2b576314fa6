"""Opaque pagination cursors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finales.errors import InvalidPayload
from finales.services.common import decode_cursor, encode_cursor, page


@pytest.mark.parametrize("seq", [0, 1, 42, 2**31, 2**63 - 1])
def test_cursor_round_trip(seq: int) -> None:
    cursor = encode_cursor(seq)
    assert decode_cursor(cursor) == seq
    assert str(seq) not in cursor  # opaque, and URL-safe:
    assert all(c.isalnum() or c in "-_" for c in cursor)


@settings(deadline=None, database=None)
@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_cursor_round_trip_property(seq: int) -> None:
    assert decode_cursor(encode_cursor(seq)) == seq


@pytest.mark.parametrize("cursor", [None, ""])
def test_no_cursor_starts_at_the_beginning(cursor: str | None) -> None:
    assert decode_cursor(cursor) == 0


@pytest.mark.parametrize(
    "cursor", ["!!!", "a", "é", "cw", "eDEy", "c2FiYw", "////", "s12", "\x00", "=" * 4]
)
def test_garbage_cursor_is_invalid_payload(cursor: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        decode_cursor(cursor)
    assert [e["pointer"] for e in caught.value.errors] == ["/cursor"]
    assert caught.value.status_code == 422


@settings(deadline=None, database=None)
@given(st.text(max_size=24))
def test_any_text_decodes_or_is_refused_cleanly(cursor: str) -> None:
    try:
        assert isinstance(decode_cursor(cursor), int)
    except InvalidPayload as exc:
        assert exc.errors[0]["pointer"] == "/cursor"


def test_page_cuts_the_extra_row_into_the_next_cursor() -> None:
    rows, cursor = page([10, 11, 12], 2, lambda r: r)
    assert rows == [10, 11]
    assert cursor is not None
    assert decode_cursor(cursor) == 11
    assert page([10, 11], 2, lambda r: r) == ([10, 11], None)
