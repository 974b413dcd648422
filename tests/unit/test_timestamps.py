"""The strict timestamp parser for filters and cursors: two forms, always UTC."""

import datetime
import re

import pytest

from orders_read.timestamps import ACCEPTED, parse_timestamp

UTC = datetime.UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-02", datetime.datetime(2026, 12, 2, tzinfo=UTC)),
        ("2026-12-02T10:30:00Z", datetime.datetime(2026, 12, 2, 10, 30, tzinfo=UTC)),
        ("2026-12-02T10:30:00.5Z", datetime.datetime(2026, 12, 2, 10, 30, 0, 500000, tzinfo=UTC)),
        ("2026-12-02T12:30:00+02:00", datetime.datetime(2026, 12, 2, 10, 30, tzinfo=UTC)),
        ("2026-12-02T00:30:00-01:00", datetime.datetime(2026, 12, 2, 1, 30, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", datetime.datetime(1, 1, 1, tzinfo=UTC)),
    ],
)
def test_the_two_forms_are_read_as_utc(text, expected):
    value = parse_timestamp(text)
    assert value == expected
    assert value.utcoffset() == datetime.timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "20261202",  # basic format
        "2026-W49-3",  # week date
        "12/02/2026",  # month/day or day/month
        "2026-12-02T10:30:00",  # no offset: its zone would be a guess
        "2026-12-02+01:00",  # a date with an offset
        "2026-12-02T10:30:00+99:99",
        "2026-12-02T10:30:00.1234567Z",  # seven fraction digits
        "2026-12-02 10:30:00Z",  # a space, not T
        "٢٠٢٦-١٢-٠٢",  # other scripts' digits
        "",
    ],
)
def test_any_other_form_is_refused(text):
    with pytest.raises(ValueError, match=re.escape(f"Enter {ACCEPTED}.")):
        parse_timestamp(text)


@pytest.mark.parametrize("text", ["2026-02-30", "2026-12-02T24:00:00Z", "2026-13-01"])
def test_the_right_form_naming_no_real_day_or_time_is_refused(text):
    with pytest.raises(ValueError, match="Enter a real date and time"):
        parse_timestamp(text)


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_an_offset_that_leaves_the_calendar_in_utc_is_refused(text):
    with pytest.raises(ValueError, match="within years 1 to 9999"):
        parse_timestamp(text)
