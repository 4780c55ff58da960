"""Checks on working hours a clinician types, and the edits of the weekly-hours page. Pure module (no Flask).

Turns form text ("09:00", "9am", "17:30") into TimeRanges, with a message per field or day.
The page's fields are named d{weekday}_r{row}_start / _end; without JavaScript its "add a
range", "remove" and "copy to weekdays" buttons post the typed values back, and these
functions give the rows to show again (nothing is saved until "Save").
"""

import re
from datetime import time, timedelta

from kapclinic.core.timezones import format_time_of_day, parse_local_date
from kapclinic.scheduling.slots import TimeRange

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MAX_RANGES_PER_DAY = 6
TIME_OFF_MAX_DAYS = 366
COPIED_TO = (1, 2, 3, 4)  # "Copy to weekdays": Monday's ranges to Tuesday to Friday
# 17:30, 9:30, 9.30, 0930, 17, 9am, 9:30 p.m., and the HH:MM:SS a time input sends with seconds.
_TIME = re.compile(r"([0-9]{1,2})(?:[:.h]?([0-9]{2}))?(?::00)?\s*(?:([ap])\.?\s*m\.?)?", re.ASCII)
_LONGEST_TIME = 12


def parse_time(text):
    """Parse a time of day typed in 24-hour or 12-hour form, or return None.

    Browsers that show <input type="time"> send HH:MM; others show a text box, where people
    type "9am" or "9:30" as readily as "09:30".
    """
    if not isinstance(text, str) or len(text.strip()) > _LONGEST_TIME:
        return None
    text = text.strip().lower()
    if text == "noon":
        return time(12)
    match = _TIME.fullmatch(text)
    if not match:
        return None
    hour, minute, half = int(match.group(1)), int(match.group(2) or 0), match.group(3)
    if half:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half == "p" else 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def field_name(weekday, row, part):
    return f"d{weekday}_r{row}_{part}"


def parse_range(start_text, end_text, prefix):
    """Return (TimeRange or None, errors) for one pair of fields; both empty means no range."""
    start_text, end_text = (start_text or "").strip(), (end_text or "").strip()
    if not start_text and not end_text:
        return None, {}
    errors = {}
    start, end = parse_time(start_text), parse_time(end_text)
    if start is None:
        errors[f"{prefix}_start"] = (
            "Use a time like 9:00 AM or 09:00." if start_text else "Give a start time, or clear the end time."
        )
    if end is None:
        errors[f"{prefix}_end"] = (
            "Use a time like 5:00 PM or 17:00." if end_text else "Give an end time, or clear the start time."
        )
    if errors:
        return None, errors
    if end <= start:
        return None, {f"{prefix}_end": "The end must be after the start."}
    return TimeRange(start, end), {}


def describe_range(hours):
    return f"{format_time_of_day(hours.start)}\u2013{format_time_of_day(hours.end)}"


def overlap_message(day_name, ranges):
    """One message naming each pair of ranges on a day that overlap (touching is fine: 9-12 and 12-3), or None."""
    ordered = sorted(ranges, key=lambda hours: hours.start)
    clashes = [
        f"{describe_range(earlier)} overlaps {describe_range(later)}"
        for number, earlier in enumerate(ordered)
        for later in ordered[number + 1 :]
        if later.start < earlier.end
    ]
    if not clashes:
        return None
    return f"{day_name}: {'; '.join(clashes)}. Ranges on one day must not overlap."


def parse_weekly_hours(form):
    """Return ({weekday: [TimeRange]}, errors) from the fields d{weekday}_r{n}_start / _end.

    A field's message is keyed by its name; a day's overlaps by d{weekday}.
    """
    weekly, errors = {}, {}
    for weekday, day_name in enumerate(WEEKDAYS):
        found = []
        for row in range(MAX_RANGES_PER_DAY):
            prefix = f"d{weekday}_r{row}"
            hours, range_errors = parse_range(form.get(f"{prefix}_start"), form.get(f"{prefix}_end"), prefix)
            errors.update(range_errors)
            if hours is not None:
                found.append(hours)
        clash = overlap_message(day_name, found)
        if clash:
            errors[f"d{weekday}"] = clash
        if found:
            weekly[weekday] = sorted(found, key=lambda hours: hours.start)
    return weekly, errors


# --- the page's rows, as typed ---------------------------------------------------


def _row_pairs(values, weekday):
    """The day's (start, end) as typed in each of its rows, empty ones included, so a row keeps its number."""
    return [
        (
            (values.get(field_name(weekday, row, "start")) or "").strip(),
            (values.get(field_name(weekday, row, "end")) or "").strip(),
        )
        for row in range(MAX_RANGES_PER_DAY)
    ]


def _day_rows(values, weekday):
    """The day's typed (start, end) pairs in order, empty rows left out."""
    return [pair for pair in _row_pairs(values, weekday) if any(pair)]


def _with_day_rows(values, weekday, pairs):
    values = dict(values)
    for row in range(MAX_RANGES_PER_DAY):
        start, end = pairs[row] if row < len(pairs) else ("", "")
        values[field_name(weekday, row, "start")], values[field_name(weekday, row, "end")] = start, end
    return values


def hours_values(weekly):
    """The page's field values for saved hours {weekday: [(start, end)]}."""
    values = {}
    for weekday, ranges in weekly.items():
        values.update(_with_day_rows({}, weekday, [(f"{start:%H:%M}", f"{end:%H:%M}") for start, end in ranges]))
    return values


def tidy_hours_values(values):
    """Each day's typed rows moved up over empty ones, and every readable time written HH:MM.

    A time input shows only HH:MM, so "9am" sent back from a text box would show empty.
    """

    def tidy(text):
        parsed = parse_time(text)
        return f"{parsed:%H:%M}" if parsed else text

    tidied = {}
    for weekday in range(7):
        pairs = [(tidy(start), tidy(end)) for start, end in _day_rows(values, weekday)]
        tidied.update(_with_day_rows({}, weekday, pairs))
    return tidied


def rows_shown(values, added_to=None):
    """How many rows each day shows: up to its last typed one (at least one), one more on the day added to."""
    shown = []
    for weekday in range(7):
        typed = [row + 1 for row, pair in enumerate(_row_pairs(values, weekday)) if any(pair)]
        count = max([1, *typed]) + (1 if weekday == added_to else 0)
        shown.append(min(count, MAX_RANGES_PER_DAY))
    return tuple(shown)


def copy_to_weekdays(values):
    """Monday's typed ranges given to Tuesday to Friday as well, replacing theirs."""
    monday = _day_rows(values, 0)
    for weekday in COPIED_TO:
        values = _with_day_rows(values, weekday, monday)
    return values


def remove_range(values, weekday, row):
    """The values without one typed row of a day."""
    pairs = [pair for number, pair in enumerate(_row_pairs(values, weekday)) if number != row and any(pair)]
    return _with_day_rows(values, weekday, pairs)


_EDIT = re.compile(r"(add|remove|copy)(?::([0-6]))?(?::([0-9]))?", re.ASCII)


def edit_hours(values, action):
    """Apply a button of the page that edits without saving: "add:<day>", "remove:<day>:<row>" or "copy".

    Return (values, rows shown per day, what was done), or raise ValueError for an unknown action.
    """
    match = _EDIT.fullmatch(action or "")
    if not match:
        raise ValueError("unknown action")
    kind, weekday, row = match.group(1), match.group(2), match.group(3)
    if kind == "copy" and weekday is None:
        values = tidy_hours_values(copy_to_weekdays(values))
        return values, rows_shown(values), "Monday's hours are copied to Tuesday to Friday. Save to keep them."
    if kind == "add" and weekday is not None and row is None:
        values = tidy_hours_values(values)
        return values, rows_shown(values, int(weekday)), f"A range is added to {WEEKDAYS[int(weekday)]}."
    if kind == "remove" and weekday is not None and row is not None and int(row) < MAX_RANGES_PER_DAY:
        values = tidy_hours_values(remove_range(values, int(weekday), int(row)))
        return values, rows_shown(values), f"A range is removed from {WEEKDAYS[int(weekday)]}. Save to keep the change."
    raise ValueError("unknown action")


def parse_date_span(first_text, last_text, today):
    """Return ((first, last) or None, errors) for an inclusive span of local dates."""
    errors = {}
    dates = {}
    for name, text in (("first_day", first_text), ("last_day", last_text)):
        try:
            dates[name] = parse_local_date((text or "").strip())
        except ValueError:
            errors[name] = "Use a date like 2026-12-24."
    if errors:
        return None, errors
    first, last = dates["first_day"], dates["last_day"]
    if last < first:
        return None, {"last_day": "The last day must be on or after the first day."}
    if first < today - timedelta(days=1):
        return None, {"first_day": "Choose today or a later date."}
    if (last - first).days >= TIME_OFF_MAX_DAYS:
        return None, {"last_day": f"Enter at most {TIME_OFF_MAX_DAYS} days at a time."}
    return (first, last), {}


def _small_whole_number(text, low, high):
    """The number `text` spells if it is a plain whole number from low to high, else None.

    The length check comes first: int() refuses strings of thousands of digits with an error.
    """
    if not (text.isascii() and text.isdigit()) or len(text) > 6:
        return None
    number = int(text)
    return number if low <= number <= high else None


def parse_limits(max_per_day_text, min_gap_text):
    """Return ((max_per_day or None, min_gap_minutes), errors) for the clinician's limits."""
    errors = {}
    max_per_day = None
    text = (max_per_day_text or "").strip()
    if text:
        max_per_day = _small_whole_number(text, 1, 48)
        if max_per_day is None:
            errors["max_per_day"] = "Enter a whole number from 1 to 48, or leave it empty for no limit."
    gap_text = (min_gap_text or "0").strip() or "0"
    min_gap = _small_whole_number(gap_text, 0, 240)
    if min_gap is None:
        errors["min_gap_minutes"] = "Enter whole minutes from 0 to 240."
        return None, errors
    return (max_per_day, min_gap), errors
