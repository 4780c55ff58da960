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
from datetime import UTC, datetime, time, timedelta
from itertools import repeat
from operator import add
from typing import NamedTuple

from kapclinic.core.timezones import local_to_utc

ONE_DAY = timedelta(days=1)
# The inner loop counts in whole microseconds since the epoch: integer arithmetic and
# comparisons cost a fraction of aware-datetime ones, and a year of slots for fifty
# clinicians is over half a million candidate starts.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(moment):
    return (moment - _EPOCH) // _MICROSECOND


def _moment(micros):
    return _EPOCH + timedelta(microseconds=micros)


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


class Slot(NamedTuple):
    """A free start; ordered by start, then end, then clinician (a tuple: cheap to make and to sort)."""

    start_dt: datetime
    end_dt: datetime
    clinician_id: int


class _DisjointIntervals:
    """Sorted, merged intervals (spans that touch or overlap become one)."""

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


def _day_converter(day, zone):
    """Wall time on `day` -> UTC: one fixed offset on a day without a clock change, else local_to_utc.

    A day whose first minute (either reading of it) and last minute share an offset has
    no gap and no repeated hour (zones change at most twice a year, months apart), so
    subtracting that offset is exact.
    """
    midnight = datetime.combine(day, time(0))
    offset = zone.utcoffset(midnight)
    if offset != zone.utcoffset(midnight.replace(fold=1)) or offset != zone.utcoffset(
        midnight.replace(hour=23, minute=59)
    ):
        return lambda wall_time: local_to_utc(day, wall_time, zone)
    return lambda wall_time: (datetime.combine(day, wall_time) - offset).replace(tzinfo=UTC)


def working_intervals(calendar, window):
    """Return the clinician's working hours that touch `window`, as merged UTC intervals.

    Ranges that touch or overlap (09:00-12:00 and 12:00-15:00) are one stretch of work,
    so a consultation may run across the join.
    """
    zone = calendar.zone
    first_day = window.start_dt.astimezone(zone).date() - ONE_DAY
    last_day = window.end_dt.astimezone(zone).date() + ONE_DAY
    intervals = []
    day = first_day
    while day <= last_day:
        ranges = calendar.ranges_on(day)
        if ranges:
            to_utc = _day_converter(day, zone)
            for hours in ranges:
                start_dt, end_dt = to_utc(hours.start), to_utc(hours.end)
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


def _collisions(calendar, rules):
    """Starts that would collide, as merged open intervals (lo, hi) of integer microseconds.

    A start s collides with a booking's blocked span [bs, be) when its own blocked span
    overlaps it: bs - duration - buffer_after < s < be + buffer_before; with time off
    [ts, te) when ts - duration < s < te; with a consultation [cs, ce) under a minimum gap
    when cs - duration - gap < s < ce + gap. Both ends are open: a start exactly at
    either end is free.
    """
    duration, before, after = (
        _micros(_EPOCH + span) for span in (rules.duration, rules.buffer_before, rules.buffer_after)
    )
    spans = [(_micros(busy.start_dt) - duration - after, _micros(busy.end_dt) + before) for busy in calendar.busy]
    spans += [(_micros(off.start_dt) - duration, _micros(off.end_dt)) for off in calendar.time_off]
    gap = _micros(_EPOCH + calendar.min_gap)
    if gap:
        spans += [
            (_micros(item.start_dt) - duration - gap, _micros(item.end_dt) + gap) for item in calendar.consultations
        ]
    merged = []
    for low, high in sorted(spans):
        if merged and low < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], high)
        elif high - low > 1:  # (low, low + 1) holds no whole microsecond
            merged.append([low, high])
    return merged


def _free_runs(first, last, collisions):
    """Split [first, last] (inclusive) around the open collision intervals; yield the free parts."""
    current = first
    for low, high in collisions:
        if high <= current:
            continue
        if low >= last:
            break
        if low >= current:
            yield current, low
        current = high
    if current <= last:
        yield current, last


def _grid_starts(interval, zone, rules, earliest, latest, collisions):
    """Yield (first start, count) runs of free, grid-aligned starts whose consultation fits inside `interval`.

    Within one UTC offset the local grid is every `grid_minutes` of absolute time, so a
    run is an arithmetic progression; across an offset change (a DST night) every start
    is re-aligned to the local clock and checked on its own.
    """
    grid_minutes = rules.grid_minutes
    start_dt = _next_on_grid(max(interval.start_dt, earliest), zone, grid_minutes)
    last_dt = min(interval.end_dt - rules.duration, latest)
    if start_dt > last_dt:
        return
    step = grid_minutes * 60_000_000
    if interval.start_dt.astimezone(zone).utcoffset() == interval.end_dt.astimezone(zone).utcoffset():
        origin = _micros(start_dt)
        for low, high in _free_runs(origin, _micros(last_dt), collisions):
            first = origin + -(-(low - origin) // step) * step
            if first <= high:
                yield first, (high - first) // step + 1
        return
    lows = [low for low, _ in collisions]
    while start_dt <= last_dt:
        start = _micros(start_dt)
        index = bisect_right(lows, start - 1) - 1  # the last collision opening before `start`
        if index < 0 or collisions[index][1] <= start:
            yield start, 1
        start_dt = _next_on_grid(start_dt + timedelta(minutes=grid_minutes), zone, grid_minutes)


def bookable_slots(calendar, rules, window, now):
    """Return the clinician's free slots starting inside `window`, in time order."""
    earliest = max(window.start_dt, now + rules.min_notice)
    # `latest` is inclusive for _grid_starts; the window end and horizon are exclusive.
    latest = min(window.end_dt, now + rules.horizon) - _MICROSECOND
    if latest < earliest:
        return []
    collisions = _collisions(calendar, rules)
    limit, zone = calendar.max_per_day, calendar.zone
    booked_per_day = Counter(consultation.start_dt.astimezone(zone).date() for consultation in calendar.consultations)
    duration = rules.duration
    clinician_id = calendar.clinician_id
    slots = []
    offsets = []  # k grid steps as timedeltas, grown as runs need them
    # Merged, sorted working intervals: starts come out in order and never twice.
    for hours in working_intervals(calendar, window):
        for first, count in _grid_starts(hours, zone, rules, earliest, latest, collisions):
            while len(offsets) < count:
                offsets.append(timedelta(minutes=rules.grid_minutes * len(offsets)))
            base = _moment(first)
            # map() keeps the per-slot work (two additions, one tuple) in C: most of the engine's time.
            starts = list(map(base.__add__, offsets[:count]))
            if limit is not None:
                starts = [start_dt for start_dt in starts if booked_per_day[start_dt.astimezone(zone).date()] < limit]
            ends = map(add, starts, repeat(duration))
            slots.extend(map(tuple.__new__, repeat(Slot), zip(starts, ends, repeat(clinician_id))))
    return slots


def bookable_slots_for_all(calendars, rules, window, now):
    """Return every offered slot of several clinicians, ordered by start then clinician.

    One duration for all, so the tuple order (start, end, clinician) is that order; each
    clinician's list is already sorted, which the sort's run merging makes cheap.
    """
    slots = []
    for calendar in calendars:
        slots.extend(bookable_slots(calendar, rules, window, now))
    slots.sort()
    return slots


def local_week(moment, zone):
    """Return the Monday-to-Monday local week containing `moment`, as UTC instants."""
    local_day = moment.astimezone(zone).date()
    monday = local_day - timedelta(days=local_day.weekday())
    return Interval(local_to_utc(monday, time(0), zone), local_to_utc(monday + timedelta(days=7), time(0), zone))


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
    return Interval(local_to_utc(first_day, time(0), zone), local_to_utc(last_day + ONE_DAY, time(0), zone))
