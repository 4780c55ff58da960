"""The slot engine: which consultation start times a clinician can still offer.

Pure module (no Flask, no database): callers pass rules, bookings, the window
and `now`. All instants are aware UTC datetimes; each clinician's weekly hours
are wall-clock times in the clinician's own zone, so a 09:00 rule stays 09:00
local across daylight-saving changes.

Rules the engine applies, in one place:
- A slot's consultation time lies inside the clinician's working hours for that
  local date (a date override replaces the weekly hours; an override with no
  ranges is a day off) and outside every time-off span.
- A slot's blocked interval (buffer before + consultation + buffer after) must not
  overlap the blocked interval of any existing booking. The database enforces the
  same rule (see scheduling.models), so engine and constraint cannot disagree.
- Starts sit on a grid of the clinician's local clock (:00, :15, ...), not on "now".
- The start is at least `min_notice` after now and before now + `horizon`.
- Per clinician, optionally: at most `max_per_day` consultations starting on one
  local date, and at least `min_gap` between one consultation's end and the
  next one's start (on top of the consultation types' buffers).
"""

from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from kapclinic.core.timezones import local_to_utc

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class TimeRange:
    """Wall-clock working hours within one local day, end after start."""

    start: time
    end: time

    def __post_init__(self):
        if self.end <= self.start:
            raise ValueError("a time range must end after it starts")


@dataclass(frozen=True, order=True)
class Interval:
    """A half-open span [start_dt, end_dt) of aware UTC instants."""

    start_dt: datetime
    end_dt: datetime

    def overlaps(self, other):
        return self.start_dt < other.end_dt and other.start_dt < self.end_dt


@dataclass(frozen=True)
class SlotRules:
    """What a consultation type asks of a slot."""

    duration: timedelta
    buffer_before: timedelta = timedelta(0)
    buffer_after: timedelta = timedelta(0)
    min_notice: timedelta = timedelta(0)
    horizon: timedelta = timedelta(days=60)
    grid_minutes: int = 15

    def blocked_interval(self, start_dt):
        """Return the span a consultation starting at start_dt keeps the clinician busy."""
        return Interval(start_dt - self.buffer_before, start_dt + self.duration + self.buffer_after)


@dataclass(frozen=True)
class ClinicianCalendar:
    """Everything the engine needs to know about one clinician."""

    clinician_id: int
    zone: object  # a tzinfo, normally zoneinfo.ZoneInfo
    weekly: dict = field(default_factory=dict)  # weekday (0 = Monday) -> tuple[TimeRange]
    overrides: dict = field(default_factory=dict)  # date -> tuple[TimeRange]; () = day off
    time_off: tuple = ()  # Interval
    busy: tuple = ()  # blocked Interval of each active booking
    consultations: tuple = ()  # Interval of each active booking, without buffers
    max_per_day: int | None = None
    min_gap: timedelta = timedelta(0)

    def ranges_on(self, day):
        """Return the working hours on a local date, overrides first."""
        if day in self.overrides:
            return self.overrides[day]
        return self.weekly.get(day.weekday(), ())


@dataclass(frozen=True, order=True)
class Slot:
    start_dt: datetime
    end_dt: datetime
    clinician_id: int


class _DisjointIntervals:
    """Sorted, merged intervals with a fast 'does this overlap any?' test."""

    def __init__(self, intervals):
        merged = []
        for interval in sorted(intervals):
            if merged and interval.start_dt <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], interval.end_dt)
            else:
                merged.append([interval.start_dt, interval.end_dt])
        self._starts = [start for start, _ in merged]
        self._ends = [end for _, end in merged]

    def intervals(self):
        return [Interval(start_dt, end_dt) for start_dt, end_dt in zip(self._starts, self._ends, strict=True)]

    def overlaps(self, start_dt, end_dt):
        index = bisect_right(self._ends, start_dt)  # first interval ending after start_dt
        return index < len(self._starts) and self._starts[index] < end_dt


def working_intervals(calendar, window):
    """Return the clinician's working hours that touch `window`, as merged UTC intervals.

    Ranges that touch or overlap (09:00-12:00 and 12:00-15:00) are one stretch of work,
    so a consultation may run across the join.
    """
    first_day = window.start_dt.astimezone(calendar.zone).date() - ONE_DAY
    last_day = window.end_dt.astimezone(calendar.zone).date() + ONE_DAY
    intervals = []
    day = first_day
    while day <= last_day:
        for hours in calendar.ranges_on(day):
            start_dt = local_to_utc(day, hours.start, calendar.zone)
            end_dt = local_to_utc(day, hours.end, calendar.zone)
            if end_dt > start_dt:
                intervals.append(Interval(start_dt, end_dt))
        day += ONE_DAY
    # Join first, then keep what touches the window: a stretch that starts inside the
    # window may run on through a range that begins exactly at the window's end.
    return [
        interval
        for interval in _DisjointIntervals(intervals).intervals()
        if interval.start_dt < window.end_dt and interval.end_dt > window.start_dt
    ]


def _grid_remainder(moment, zone, grid):
    local = moment.astimezone(zone)
    past_midnight = timedelta(
        hours=local.hour, minutes=local.minute, seconds=local.second, microseconds=local.microsecond
    )
    return past_midnight % grid


def _next_on_grid(moment, zone, grid_minutes):
    """Return the first instant at or after `moment` whose local clock sits on the grid.

    Jump to where the grid point would be and check again: a clock change on the
    way (Lord Howe moves by 30 minutes) can land the jump off the grid.
    """
    grid = timedelta(minutes=grid_minutes)
    remainder = _grid_remainder(moment, zone, grid)
    while remainder:
        moment += grid - remainder
        remainder = _grid_remainder(moment, zone, grid)
    return moment


def _grid_starts(interval, zone, rules, earliest, latest):
    """Yield grid-aligned starts whose consultation fits inside `interval`."""
    step = timedelta(minutes=rules.grid_minutes)
    start_dt = _next_on_grid(max(interval.start_dt, earliest), zone, rules.grid_minutes)
    last_start = min(interval.end_dt - rules.duration, latest)
    # Within one UTC offset, stepping absolute time keeps the local grid; when the
    # offset changes inside the interval (a DST night) re-align after every step.
    steady = interval.start_dt.astimezone(zone).utcoffset() == interval.end_dt.astimezone(
        zone
    ).utcoffset()
    while start_dt <= last_start:
        yield start_dt
        start_dt += step
        if not steady:
            start_dt = _next_on_grid(start_dt, zone, rules.grid_minutes)


def bookable_slots(calendar, rules, window, now):
    """Return the clinician's free slots starting inside `window`, in time order."""
    earliest = max(window.start_dt, now + rules.min_notice)
    # `latest` is inclusive for _grid_starts; the window end and horizon are exclusive.
    latest = min(window.end_dt, now + rules.horizon) - timedelta(microseconds=1)
    if latest < earliest:
        return []
    time_off = _DisjointIntervals(calendar.time_off)
    busy = _DisjointIntervals(calendar.busy)
    gap = calendar.min_gap
    too_close = _DisjointIntervals(calendar.consultations) if gap else None
    booked_per_day = Counter(
        consultation.start_dt.astimezone(calendar.zone).date() for consultation in calendar.consultations
    )
    duration, before, after = rules.duration, rules.buffer_before, rules.buffer_after
    slots = []
    # Merged, sorted working intervals: starts come out in order and never twice.
    for hours in working_intervals(calendar, window):
        for start_dt in _grid_starts(hours, calendar.zone, rules, earliest, latest):
            end_dt = start_dt + duration
            if time_off.overlaps(start_dt, end_dt) or busy.overlaps(start_dt - before, end_dt + after):
                continue
            if too_close is not None and too_close.overlaps(start_dt - gap, end_dt + gap):
                continue
            if calendar.max_per_day is not None and (
                booked_per_day[start_dt.astimezone(calendar.zone).date()] >= calendar.max_per_day
            ):
                continue
            slots.append(Slot(start_dt, end_dt, calendar.clinician_id))
    return slots


def bookable_slots_for_all(calendars, rules, window, now):
    """Return every offered slot of several clinicians, ordered by start then clinician."""
    slots = []
    for calendar in calendars:
        slots.extend(bookable_slots(calendar, rules, window, now))
    slots.sort(key=lambda slot: (slot.start_dt, slot.clinician_id))
    return slots


def local_week(moment, zone):
    """Return the Monday-to-Monday local week containing `moment`, as UTC instants."""
    local_day = moment.astimezone(zone).date()
    monday = local_day - timedelta(days=local_day.weekday())
    return Interval(
        local_to_utc(monday, time(0), zone), local_to_utc(monday + timedelta(days=7), time(0), zone)
    )


def pick_fair_clinician(bookings_this_week):
    """Choose who takes a "first available" booking among clinicians free at that time.

    The rule: the clinician with the fewest active bookings in the local week of
    the slot; ties go to the lowest clinician id, so the choice is reproducible.
    `bookings_this_week` maps clinician id -> that count.
    """
    if not bookings_this_week:
        raise ValueError("no clinician is free at that time")
    return min(bookings_this_week, key=lambda clinician_id: (bookings_this_week[clinician_id], clinician_id))


def utc_window_for_local_dates(first_day, last_day, zone):
    """Return the UTC interval covering local dates first_day..last_day inclusive."""
    return Interval(
        local_to_utc(first_day, time(0), zone), local_to_utc(last_day + ONE_DAY, time(0), zone)
    )


