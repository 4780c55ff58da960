"""Parsing the working hours a clinician types: times, ranges, overlaps, date spans."""

from datetime import date, time

import pytest

from kapclinic.scheduling.availability import parse_date_span, parse_range, parse_time, parse_weekly_hours
from kapclinic.scheduling.slots import TimeRange


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:00", time(9)),
        ("23:59", time(23, 59)),
        (" 07:30 ", time(7, 30)),
        ("9:00", None),
        ("24:00", None),
        ("12:60", None),
        ("noon", None),
        ("", None),
        (None, None),
        ("０９:００", None),
    ],
)
def test_times_are_read_as_24_hour_hh_mm(text, expected):
    assert parse_time(text) == expected


def test_touching_ranges_are_fine_and_come_back_in_order():
    weekly, errors = parse_weekly_hours(
        {"d1_r0_start": "13:00", "d1_r0_end": "17:00", "d1_r1_start": "09:00", "d1_r1_end": "13:00"}
    )
    assert errors == {}
    assert weekly == {1: [TimeRange(time(9), time(13)), TimeRange(time(13), time(17))]}


def test_overlapping_ranges_name_the_later_one():
    _, errors = parse_weekly_hours(
        {"d0_r0_start": "09:00", "d0_r0_end": "12:00", "d0_r2_start": "11:59", "d0_r2_end": "13:00"}
    )
    assert list(errors) == ["d0_r2_start"]


@pytest.mark.parametrize(
    ("start", "end", "errors"),
    [
        ("", "", {}),
        ("10:00", "10:00", {"p_end": "The end must be after the start."}),
        ("10:00", "", {"p_end": "Give an end time, or clear the start time."}),
        ("", "10:00", {"p_start": "Give a start time, or clear the end time."}),
        ("ten", "11", {"p_start": "Use a time like 09:00.", "p_end": "Use a time like 17:00."}),
    ],
)
def test_each_range_gets_a_message_per_field(start, end, errors):
    hours, found = parse_range(start, end, "p")
    assert found == errors
    assert hours is None


@pytest.mark.parametrize(
    ("first", "last", "field"),
    [
        ("2026-12-24", "2026-12-23", "last_day"),
        ("2026-13-01", "2026-12-31", "first_day"),
        ("2026-11-01", "2026-11-02", "first_day"),
        ("2026-12-01", "2028-01-01", "last_day"),
    ],
)
def test_date_spans_are_checked(first, last, field):
    span, errors = parse_date_span(first, last, today=date(2026, 11, 25))
    assert span is None and field in errors


def test_a_single_day_of_time_off_is_a_span():
    assert parse_date_span("2026-12-24", "2026-12-24", today=date(2026, 11, 25)) == (
        (date(2026, 12, 24), date(2026, 12, 24)),
        {},
    )
