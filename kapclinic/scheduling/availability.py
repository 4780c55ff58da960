"""Checks on working hours a clinician types. Pure module (no Flask).

Turns form text ("09:00", "17:30") into TimeRanges, with a message per field.
"""

import re
from datetime import time, timedelta

from kapclinic.core.timezones import parse_local_date
from kapclinic.scheduling.slots import TimeRange

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
RANGES_PER_DAY = 3
TIME_OFF_MAX_DAYS = 366
_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def parse_time(text):
    """Parse HH:MM (24-hour) or return None."""
    match = _TIME.fullmatch(text.strip()) if isinstance(text, str) else None
    return time(int(match.group(1)), int(match.group(2))) if match else None


def parse_range(start_text, end_text, prefix):
    """Return (TimeRange or None, errors) for one pair of fields; both empty means no range."""
    start_text, end_text = (start_text or "").strip(), (end_text or "").strip()
    if not start_text and not end_text:
        return None, {}
    errors = {}
    start, end = parse_time(start_text), parse_time(end_text)
    if start is None:
        errors[f"{prefix}_start"] = (
            "Use a time like 09:00." if start_text else "Give a start time, or clear the end time."
        )
    if end is None:
        errors[f"{prefix}_end"] = "Use a time like 17:00." if end_text else "Give an end time, or clear the start time."
    if errors:
        return None, errors
    if end <= start:
        return None, {f"{prefix}_end": "The end must be after the start."}
    return TimeRange(start, end), {}


def overlap_errors(ranges_with_prefix):
    """Messages for ranges on one day that overlap (touching is fine: 09-12 and 12-15)."""
    errors = {}
    ordered = sorted(ranges_with_prefix, key=lambda item: item[0].start)
    for (earlier, _), (later, prefix) in zip(ordered, ordered[1:], strict=False):
        if later.start < earlier.end:
            errors[f"{prefix}_start"] = (
                f"This overlaps {earlier.start:%H:%M}-{earlier.end:%H:%M}. Ranges on one day must not overlap."
            )
    return errors


def parse_weekly_hours(form):
    """Return ({weekday: [TimeRange]}, errors) from fields d{weekday}_r{n}_start / _end."""
    weekly, errors = {}, {}
    for weekday in range(7):
        found = []
        for number in range(RANGES_PER_DAY):
            prefix = f"d{weekday}_r{number}"
            hours, range_errors = parse_range(form.get(f"{prefix}_start"), form.get(f"{prefix}_end"), prefix)
            errors.update(range_errors)
            if hours is not None:
                found.append((hours, prefix))
        errors.update(overlap_errors(found))
        if found:
            weekly[weekday] = sorted((hours for hours, _ in found), key=lambda hours: hours.start)
    return weekly, errors


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
