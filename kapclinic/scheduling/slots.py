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

Free starts are found as runs (first start, count, one grid step apart) and stay
runs: the answer is a SlotSequence, read like a list, that makes each Slot only
when it is read, so a year of fifty clinicians costs its runs, not half a million
tuples of datetimes.
"""

from bisect import bisect_right
from calendar import monthrange
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from itertools import accumulate, chain, cycle, repeat
from operator import eq, itemgetter
from operator import index as operator_index
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


def _joined_spans(spans):
    """Sort (start_dt, end_dt) pairs and join those that touch or overlap into one (tuples: compared in C)."""
    joined = []
    for start_dt, end_dt in sorted(spans):
        if joined and start_dt <= joined[-1][1]:
            if end_dt > joined[-1][1]:
                joined[-1] = (joined[-1][0], end_dt)
        else:
            joined.append((start_dt, end_dt))
    return joined


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
    spans = []
    day = first_day
    while day <= last_day:
        ranges = calendar.ranges_on(day)
        if ranges:
            to_utc = _day_converter(day, zone)
            for hours in ranges:
                start_dt, end_dt = to_utc(hours.start), to_utc(hours.end)
                if end_dt > start_dt:
                    spans.append((start_dt, end_dt))
        day += ONE_DAY
    # Join first, then keep what touches the window: a stretch that starts inside the
    # window may run on through a range that begins exactly at the window's end.
    return [
        Interval(start_dt, end_dt)
        for start_dt, end_dt in _joined_spans(spans)
        if start_dt < window.end_dt and end_dt > window.start_dt
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
    """Starts that would collide, as merged open intervals (lows[i], highs[i]) of integer microseconds.

    A start s collides with a booking's blocked span [bs, be) when its own blocked span
    overlaps it: bs - duration - buffer_after < s < be + buffer_before; with time off
    [ts, te) when ts - duration < s < te; with a consultation [cs, ce) under a minimum gap
    when cs - duration - gap < s < ce + gap. Both ends are open: a start exactly at
    either end is free. Merged intervals are disjoint, so both lists are sorted and a
    bisection finds where any stretch of time begins.
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
    lows, highs = [], []
    for low, high in sorted(spans):
        if highs and low < highs[-1]:
            highs[-1] = max(highs[-1], high)
        elif high - low > 1:  # (low, low + 1) holds no whole microsecond
            lows.append(low)
            highs.append(high)
    return lows, highs


def _free_runs(first, last, collisions):
    """Split [first, last] (inclusive) around the open collision intervals; yield the free parts.

    Starts at the first collision still open at `first`: scanning from the beginning for
    every working day would make a year of bookings cost days x bookings.
    """
    lows, highs = collisions
    current = first
    for index in range(bisect_right(highs, first), len(lows)):
        low = lows[index]
        if low >= last:
            break
        if low >= current:
            yield current, low
        current = highs[index]
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
    lows, highs = collisions
    while start_dt <= last_dt:
        start = _micros(start_dt)
        index = bisect_right(lows, start - 1) - 1  # the last collision opening before `start`
        if index < 0 or highs[index] <= start:
            yield start, 1
        start_dt = _next_on_grid(start_dt + timedelta(minutes=grid_minutes), zone, grid_minutes)


def _within_daily_limit(runs, calendar):
    """Drop the runs on local dates that already hold `max_per_day` consultations.

    A run lies inside one stretch of working hours, which never crosses the clinician's
    local midnight (a day's hours end by 23:59:59.999999 and the next day's start at
    00:00, so the two never join), and keeps one UTC offset: all its starts share the
    local date of its first.
    """
    zone, limit = calendar.zone, calendar.max_per_day
    booked = Counter(consultation.start_dt.astimezone(zone).date() for consultation in calendar.consultations)
    full = {day for day, count in booked.items() if count >= limit}
    return [(first, count) for first, count in runs if _moment(first).astimezone(zone).date() not in full]


def _joined(runs, step):
    """Join runs where one goes on the step after another ends (starts checked one by one on a DST night)."""
    joined = []
    for first, count in runs:
        if joined and joined[-1][0] + joined[-1][1] * step == first:
            joined[-1] = (joined[-1][0], joined[-1][1] + count)
        else:
            joined.append((first, count))
    return joined


def _free_runs_of(calendar, rules, window, now):
    """Return the clinician's free starts as runs (first start in µs, count) one grid step apart, in time order."""
    earliest = max(window.start_dt, now + rules.min_notice)
    # `latest` is inclusive for _grid_starts; the window end and horizon are exclusive.
    latest = min(window.end_dt, now + rules.horizon) - _MICROSECOND
    if latest < earliest:
        return []
    collisions = _collisions(calendar, rules)
    step = _grid_step(rules)
    # Merged, sorted working intervals: starts come out in order and never twice.
    runs = [
        run
        for hours in working_intervals(calendar, window)
        for run in _grid_starts(hours, calendar.zone, rules, earliest, latest, collisions)
    ]
    if calendar.max_per_day is not None:
        runs = _within_daily_limit(runs, calendar)
    return _joined(runs, step)


def _grid_step(rules):
    return rules.grid_minutes * 60_000_000


class _FreeClinicians(dict):
    """A set of clinicians as a bit mask (bit = rank in id order) -> their ids in id order, each tuple made once."""

    def __init__(self, ids_by_rank):
        super().__init__()
        self._ids_by_rank = ids_by_rank

    def __missing__(self, mask):
        ids, rest = [], mask
        while rest:  # lowest set bit first: ranks, so ids, in order; work grows with the clinicians free only
            lowest = rest & -rest
            ids.append(self._ids_by_rank[lowest.bit_length() - 1])
            rest ^= lowest
        self[mask] = tuple(ids)
        return self[mask]


def _add_block(blocks, first, count, ids, step):
    """Append a block, or lengthen the last one when the same clinicians go on at the next step."""
    if blocks:
        last_first, last_count, last_ids = blocks[-1]
        if last_ids is ids and last_first + last_count * step == first:
            blocks[-1] = (last_first, last_count + count, ids)
            return
    blocks.append((first, count, ids))


def _add_stretch(blocks, since, until, masks, step, named):
    """Add the starts in [since, until), where the same clinicians are free at every step of each grid phase.

    One phase (every clinician's grid ticks together, as 15-minute grids in whole-quarter
    zones do) is one block; phases that interleave (an hourly grid in New York and in
    Kolkata) are merged start by start, which only such stretches pay for.
    """
    starts = sorted((since + (phase - since) % step, mask) for phase, mask in masks.items())
    if len(starts) == 1:
        first, mask = starts[0]
        if first < until:
            _add_block(blocks, first, (until - first - 1) // step + 1, named[mask], step)
        return
    for start, mask in sorted((start, mask) for first, mask in starts for start in range(first, until, step)):
        _add_block(blocks, start, 1, named[mask], step)


def _merged(free, step):
    """Return blocks (first start in µs, starts, clinician ids) for several clinicians' runs, by start then id.

    A sweep over the ends of the runs: between two ends, the same clinicians are free at
    every step of the grid, so the work grows with the number of runs, not of slots.
    Each phase of the grid (start modulo step) keeps the mask of clinicians free on it.
    """
    free = sorted(free, key=itemgetter(0))
    named = _FreeClinicians([clinician_id for clinician_id, _ in free])
    events = []
    for rank, (_, runs) in enumerate(free):
        bit = 1 << rank
        for first, count in runs:
            phase = first % step
            events.append((first, phase, bit))
            events.append((first + count * step, phase, bit))  # a run is half-open: [first, first + count * step)
    events.sort()
    blocks, masks, since = [], {}, None
    for moment, phase, bit in events:
        if moment != since and masks:
            _add_stretch(blocks, since, moment, masks, step, named)
        mask = masks.get(phase, 0) ^ bit  # a clinician's runs never overlap: each end toggles
        if mask:
            masks[phase] = mask
        else:
            del masks[phase]
        since = moment
    return blocks


class SlotSequence(Sequence):
    """Free slots in order (start, then clinician id), read like a list; each Slot is made only when read.

    A year of fifty clinicians is over half a million slots. As tuples of datetimes they
    cost more to make, sort and keep (the garbage collector walks them all, again and
    again, as the list grows) than finding them does; here they stay blocks (first start,
    number of starts, clinicians free at each), one per stretch of time in which the same
    clinicians are free, so the size grows with the bookings and hours, not the slots.
    Iterating makes each Slot on the way (most callers turn it into text at once);
    indexing finds its block by bisection.
    """

    __slots__ = ("_blocks", "_ends", "_step", "_duration")

    def __init__(self, blocks, step, duration):
        self._blocks = blocks
        self._ends = list(accumulate(count * len(ids) for _, count, ids in blocks))
        self._step = step
        self._duration = duration

    def __len__(self):
        return self._ends[-1] if self._ends else 0

    def __iter__(self):
        step = timedelta(microseconds=self._step)
        offsets = [step * k for k in range(max((count for _, count, _ in self._blocks), default=0))]
        return chain.from_iterable(map(self._block_slots, self._blocks, repeat(offsets)))

    def _block_slots(self, block, offsets):
        first, count, ids = block
        base, steps = _moment(first), offsets[:count]
        starts = map(base.__add__, steps)
        ends = map((base + self._duration).__add__, steps)
        if len(ids) > 1:  # each start once per clinician free at it, in id order: zip(l, l) pairs each with itself
            starts = chain.from_iterable(zip(*[list(starts)] * len(ids), strict=True))
            ends = chain.from_iterable(zip(*[list(ends)] * len(ids), strict=True))
        # map() keeps the per-slot work (two additions, one tuple) in C: most of the time spent reading.
        return map(tuple.__new__, repeat(Slot), zip(starts, ends, cycle(ids)))

    def starts(self):
        """Each start once, in time order, as (start, end, ids of the clinicians free at it): what a patient picks."""
        step = self._step
        for first, count, ids in self._blocks:
            for offset in range(0, count * step, step):
                start_dt = _moment(first + offset)
                yield start_dt, start_dt + self._duration, ids

    def starts_per_day(self, days, zone):
        """For each of `days` (consecutive local dates in `zone`), the number of distinct starts in it and the
        earliest, or None.

        Counted per block by arithmetic (a block's starts are evenly spaced), so a month of
        many clinicians costs its blocks, not its slots.
        """
        windows = [utc_window_for_local_dates(day, day, zone) for day in days]
        bounds = [_micros(window.start_dt) for window in windows]
        bounds.append(_micros(windows[-1].end_dt))
        counts, firsts = [0] * len(days), [None] * len(days)
        step = self._step
        for first, count, _ in self._blocks:
            last = first + (count - 1) * step
            day = max(bisect_right(bounds, first) - 1, 0)
            while day < len(days) and bounds[day] <= last:
                low, high = max(first, bounds[day]), min(last, bounds[day + 1] - 1)
                lowest, highest = -((first - low) // step), (high - first) // step  # steps into the block
                if lowest <= highest:
                    counts[day] += highest - lowest + 1
                    if firsts[day] is None:  # blocks come in time order
                        firsts[day] = _moment(first + lowest * step)
                day += 1
        return list(zip(counts, firsts, strict=True))

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[position] for position in range(*index.indices(len(self)))]
        position = operator_index(index)
        if position < 0:
            position += len(self)
        if not 0 <= position < len(self):
            raise IndexError("slot index out of range")
        block = bisect_right(self._ends, position)
        first, _, ids = self._blocks[block]
        steps, which = divmod(position - (self._ends[block - 1] if block else 0), len(ids))
        start_dt = _moment(first + steps * self._step)
        return Slot(start_dt, start_dt + self._duration, ids[which])

    def __eq__(self, other):
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(map(eq, self, other))

    __hash__ = None  # equal to a list of the same slots, which has no hash either

    def __add__(self, other):
        # Joined with another list of slots, as a list would be (a list in return).
        return [*self, *other] if isinstance(other, Sequence) else NotImplemented

    def __radd__(self, other):
        return [*other, *self] if isinstance(other, Sequence) else NotImplemented

    def __repr__(self):
        return f"SlotSequence({list(self)!r})"


def bookable_slots(calendar, rules, window, now):
    """Return the clinician's free slots starting inside `window`, in time order (a SlotSequence)."""
    runs = _free_runs_of(calendar, rules, window, now)
    ids = (calendar.clinician_id,)
    return SlotSequence([(first, count, ids) for first, count in runs], _grid_step(rules), rules.duration)


def bookable_slots_for_all(calendars, rules, window, now):
    """Return every offered slot of several clinicians, ordered by start then clinician (a SlotSequence).

    One duration for all, so that is the order of the Slot tuples (start, end, clinician);
    the clinicians' runs are merged as runs (see _merged), never as slots.
    """
    step = _grid_step(rules)
    free = [(calendar.clinician_id, _free_runs_of(calendar, rules, window, now)) for calendar in calendars]
    return SlotSequence(_merged(free, step), step, rules.duration)


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


def month_days(first_day):
    """Every date of the month `first_day` opens, in order."""
    return [first_day + timedelta(days=offset) for offset in range(monthrange(first_day.year, first_day.month)[1])]


def utc_window_for_local_dates(first_day, last_day, zone):
    """Return the UTC interval covering local dates first_day..last_day inclusive."""
    return Interval(local_to_utc(first_day, time(0), zone), local_to_utc(last_day + ONE_DAY, time(0), zone))
