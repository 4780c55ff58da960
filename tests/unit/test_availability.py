"""Parsing the working hours a clinician types (times, ranges, overlaps, date spans) and the hours page's edits."""

from datetime import date, time

import pytest

from kapclinic.scheduling.availability import (
    edit_hours,
    hours_values,
    parse_date_span,
    parse_range,
    parse_time,
    parse_weekly_hours,
    rows_shown,
)
from kapclinic.scheduling.slots import TimeRange


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:00", time(9)),
        ("23:59", time(23, 59)),
        (" 07:30 ", time(7, 30)),
        ("09:00:00", time(9)),  # a time input with seconds
        ("9:00", time(9)),
        ("9", time(9)),
        ("17", time(17)),
        ("9.30", time(9, 30)),
        ("0930", time(9, 30)),
        ("9am", time(9)),
        ("9 AM", time(9)),
        ("9:30pm", time(21, 30)),
        ("5 p.m.", time(17)),
        ("12am", time(0)),
        ("12 pm", time(12)),
        ("noon", time(12)),
        ("24:00", None),
        ("12:60", None),
        ("13pm", None),
        ("0am", None),
        ("09:00:30", None),
        ("nine", None),
        ("", None),
        (None, None),
        ("０９:００", None),
        ("9" * 5000, None),
    ],
)
def test_times_are_read_in_24_or_12_hour_form(text, expected):
    assert parse_time(text) == expected


def test_touching_ranges_are_fine_and_come_back_in_order():
    weekly, errors = parse_weekly_hours(
        {"d1_r0_start": "13:00", "d1_r0_end": "17:00", "d1_r1_start": "9am", "d1_r1_end": "1pm"}
    )
    assert errors == {}
    assert weekly == {1: [TimeRange(time(9), time(13)), TimeRange(time(13), time(17))]}


def test_overlapping_ranges_are_named_next_to_their_day():
    _, errors = parse_weekly_hours(
        {"d0_r0_start": "09:00", "d0_r0_end": "12:00", "d0_r5_start": "11:00", "d0_r5_end": "13:00"}
    )
    assert errors == {
        "d0": "Monday: 9:00 AM\u201312:00 PM overlaps 11:00 AM\u20131:00 PM. Ranges on one day must not overlap."
    }


def test_every_overlapping_pair_is_named():
    _, errors = parse_weekly_hours(
        {
            f"d6_r{row}_{part}": value
            for row, (start, end) in enumerate([("9", "17"), ("10", "11"), ("16", "18")])
            for part, value in (("start", start), ("end", end))
        }
    )
    assert errors["d6"].count("overlaps") == 2 and errors["d6"].startswith("Sunday: ")


@pytest.mark.parametrize(
    ("start", "end", "errors"),
    [
        ("", "", {}),
        ("10:00", "10:00", {"p_end": "The end must be after the start."}),
        ("10:00", "", {"p_end": "Give an end time, or clear the start time."}),
        ("", "10:00", {"p_start": "Give a start time, or clear the end time."}),
        ("ten", "25", {"p_start": "Use a time like 9:00 AM or 09:00.", "p_end": "Use a time like 5:00 PM or 17:00."}),
        ("5pm", "9am", {"p_end": "The end must be after the start."}),
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


# --- the weekly-hours page's edits without saving ---------------------------------


def test_copy_to_weekdays_gives_mondays_ranges_to_tuesday_to_friday_only():
    typed = {
        "d0_r0_start": "9am",
        "d0_r0_end": "12:00",
        "d0_r2_start": "13:00",
        "d0_r2_end": "17:00",
        "d1_r0_start": "08:00",
        "d1_r0_end": "10:00",
        "d1_r1_start": "11:00",
        "d1_r1_end": "12:00",
        "d5_r0_start": "10:00",
        "d5_r0_end": "14:00",
    }
    values, shown, note = edit_hours(typed, "copy")
    weekly, errors = parse_weekly_hours(values)
    assert errors == {}
    monday = [TimeRange(time(9), time(12)), TimeRange(time(13), time(17))]
    assert weekly == {0: monday, 1: monday, 2: monday, 3: monday, 4: monday, 5: [TimeRange(time(10), time(14))]}
    assert values["d0_r0_start"] == "09:00" and values["d1_r1_start"] == "13:00"  # tidied for a time input
    assert shown == (2, 2, 2, 2, 2, 1, 1)
    assert "Tuesday to Friday" in note


def test_adding_a_range_shows_one_more_row_on_that_day_and_keeps_what_was_typed():
    values, shown, _ = edit_hours({"d2_r0_start": "nine", "d2_r0_end": "17:00"}, "add:2")
    assert shown == (1, 1, 2, 1, 1, 1, 1)
    assert values["d2_r0_start"] == "nine"  # unreadable text stays, for the save to explain
    assert edit_hours(hours_values({3: [(time(9), time(10))] * 6}), "add:3")[1][3] == 6  # never past the last row


def test_removing_a_range_moves_the_later_ones_up():
    typed = hours_values({4: [(time(8), time(9)), (time(10), time(11)), (time(12), time(13))]})
    values, shown, _ = edit_hours(typed, "remove:4:0")
    assert parse_weekly_hours(values)[0] == {4: [TimeRange(time(10), time(11)), TimeRange(time(12), time(13))]}
    assert values["d4_r0_start"] == "10:00" and shown[4] == 2


def test_rows_shown_reach_the_last_typed_row_even_after_a_gap():
    assert rows_shown({"d0_r3_end": "10:00"}) == (4, 1, 1, 1, 1, 1, 1)


@pytest.mark.parametrize("action", ["", "save", "add", "add:7", "remove:1", "remove:1:6", "copy:1", "add:1:2", "copy "])
def test_unknown_edits_are_refused(action):
    with pytest.raises(ValueError, match="unknown action"):
        edit_hours({}, action)
