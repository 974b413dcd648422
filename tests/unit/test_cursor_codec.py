"""The dashboard's cursor codec, fuzzed: any text is a position it wrote, or refused.

A cursor reaches the query as a timestamp and a UUID. What the lenient decoders let
through (an offset PostgreSQL refuses, a year that leaves the calendar in UTC) was a
500; so the property is that decoding either raises the errors the paginator answers
with a 400, or gives a UTC position that encodes back to the very same cursor.
"""

import base64
import datetime
from urllib.parse import urlencode

from hypothesis import given, settings
from hypothesis import strategies as st

from orders_read.pagination import DashboardPagination, Position

REFUSED = (ValueError, KeyError)  # what decode_cursor answers with 400 Invalid cursor

codec = DashboardPagination
fuzz = settings(max_examples=300, derandomize=True, database=None)


def assert_refused_or_canonical(cursor: str) -> None:
    try:
        position = codec.decode_position(cursor)
    except REFUSED:
        return
    assert position.placed_at.utcoffset() == datetime.timedelta(0)
    assert codec.encode_position(position) == cursor


@fuzz
@given(st.text())
def test_any_text(cursor):
    assert_refused_or_canonical(cursor)


@fuzz
@given(st.binary())
def test_any_bytes_in_base64(raw):
    assert_refused_or_canonical(base64.urlsafe_b64encode(raw).decode())


timestamps = st.one_of(
    st.text(),
    st.datetimes(timezones=st.timezones()).map(datetime.datetime.isoformat),
    # Offsets and years at and past the edges, in the cursor's own format.
    st.builds(
        "{:04d}-01-01T00:00:00{}{:02d}:{:02d}".format,
        st.sampled_from([0, 1, 2026, 9999, 10000]),
        st.sampled_from("+-"),
        st.integers(0, 99),
        st.integers(0, 99),
    ),
)
order_ids = st.one_of(st.uuids().map(str), st.uuids().map(lambda u: u.hex), st.text())


@fuzz
@given(timestamps, order_ids, st.sampled_from([None, "1", "0", ""]))
def test_any_fields_in_a_well_formed_cursor(placed_at, order_id, reverse):
    query = {"p": placed_at, "o": order_id}
    if reverse is not None:
        query["r"] = reverse
    assert_refused_or_canonical(base64.urlsafe_b64encode(urlencode(query).encode()).decode())


@fuzz
@given(st.datetimes(timezones=st.just(datetime.UTC)), st.uuids(), st.booleans())
def test_every_position_the_server_writes_decodes_to_itself(placed_at, order_id, reverse):
    position = Position(placed_at, order_id, reverse)
    assert codec.decode_position(codec.encode_position(position)) == position
