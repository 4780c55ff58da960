"""Property tests for the slot engine and local_to_utc, driven by Hypothesis.

A scenario is one clinician (zone among New York, London, Sydney, Kolkata,
Lord Howe and UTC) with weekly hours (several per weekday, possibly
overlapping, start times biased towards 00:00-04:00 where clocks change),
date overrides (including days off), multi-day time off, existing bookings
(as blocked intervals), SlotRules, a 1-14 day window around a 2026 DST date
and a `now` (not on any grid). Every property is checked against an
independent oracle: wall times are converted with PEP 495 fold=0 semantics
(datetime.combine(day, t, tzinfo=zone)), which is exactly the documented
"gap moves forward, repeated hour means first occurrence" rule; ranges that
touch or overlap form one stretch of working time (as working_intervals
documents); and the full slot list is recomputed by brute force over every
5-minute UTC instant (all zones used have offsets that are multiples of 5
minutes).

The Hypothesis example database is disabled so that runs leave no files
behind.
"""

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

from kapclinic.core.timezones import local_to_utc
from kapclinic.scheduling.slots import (
    ClinicianCalendar,
    Interval,
    SlotRules,
    TimeRange,
    bookable_slots,
    bookable_slots_for_all,
    local_week,
    pick_fair_clinician,
    utc_window_for_local_dates,
    working_intervals,
)

ZONE_NAMES = (
    "America/New_York",
    "Europe/London",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "UTC",
)
ZONES = tuple(ZoneInfo(name) for name in ZONE_NAMES)
# Zones a patient might view slots in: the clinician zones plus odd offsets.
VIEWER_ZONES = ZONES + tuple(
    ZoneInfo(name)
    for name in ("America/Los_Angeles", "America/St_Johns", "Asia/Kathmandu", "Pacific/Chatham", "Pacific/Kiritimati")
)
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")

# 2026 DST changes of the clinician zones, by zone.
CHANGES = {
    "America/New_York": (date(2026, 3, 8), date(2026, 11, 1)),
    "Europe/London": (date(2026, 3, 29), date(2026, 10, 25)),
    "Australia/Sydney": (date(2026, 4, 5), date(2026, 10, 4)),
    "Australia/Lord_Howe": (date(2026, 4, 5), date(2026, 10, 4)),
}
# All of those dates, plus two ordinary ones.
ANCHORS = (
    date(2026, 3, 8),  # New York spring forward
    date(2026, 3, 29),  # London spring forward
    date(2026, 4, 5),  # Sydney / Lord Howe DST ends
    date(2026, 10, 4),  # Sydney / Lord Howe DST starts
    date(2026, 10, 25),  # London fall back
    date(2026, 11, 1),  # New York fall back
    date(2026, 1, 12),
    date(2026, 6, 15),
)
GRIDS = (5, 10, 15, 30, 60)
FIVE_MINUTES = timedelta(minutes=5)
MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True)
class Scenario:
    calendar: ClinicianCalendar
    rules: SlotRules
    window: Interval
    now: datetime


# --- strategies ------------------------------------------------------------------------

# Every DST change of these zones happens between 01:00 and 03:00 local time, so a third
# of the wall times are drawn from 01:00-03:00, a third from 00:00-04:00 and a third
# from the whole day (minute precision, so most are off any grid).
wall_minutes = st.one_of(st.integers(60, 3 * 60), st.integers(0, 4 * 60), st.integers(0, MINUTES_PER_DAY - 2))


def as_time(minute_of_day):
    return time(*divmod(minute_of_day, 60))


@st.composite
def time_ranges(draw):
    start = min(draw(wall_minutes), MINUTES_PER_DAY - 2)
    length = draw(st.one_of(st.integers(1, 4 * 60), st.integers(1, MINUTES_PER_DAY)))
    end = min(start + length, MINUTES_PER_DAY - 1)
    return TimeRange(as_time(start), as_time(end))


@st.composite
def back_to_back_ranges(draw):
    """A day split into touching ranges (09:00-12:00, 12:00-15:00, ...), joins mostly on the hour."""
    joins = draw(
        st.lists(
            st.one_of(st.integers(0, 23).map(lambda hour: hour * 60), wall_minutes),
            min_size=3,
            max_size=4,
            unique=True,
        )
    )
    joins.sort()
    return tuple(TimeRange(as_time(a), as_time(b)) for a, b in zip(joins, joins[1:], strict=False))


day_ranges = st.one_of(st.lists(time_ranges(), max_size=3).map(tuple), back_to_back_ranges())


@st.composite
def windows(draw, zone, anchor):
    """Local dates in the clinician's zone or a patient's zone, or any stretch of UTC time."""
    kind = draw(st.sampled_from(["clinician dates", "patient dates", "utc"]))
    if kind != "utc":
        viewer = zone if kind == "clinician dates" else draw(st.sampled_from(VIEWER_ZONES))
        first = anchor + timedelta(days=draw(st.integers(-7, 1)))
        return utc_window_for_local_dates(first, first + timedelta(days=draw(st.integers(0, 13))), viewer)
    start = datetime.combine(anchor, time(0), tzinfo=UTC) + timedelta(
        minutes=draw(st.integers(-7 * MINUTES_PER_DAY, MINUTES_PER_DAY))
    )
    length = timedelta(minutes=draw(st.integers(MINUTES_PER_DAY, 14 * MINUTES_PER_DAY)))
    return Interval(start, start + length)


def spans(anchor_dt, earliest_minute, latest_minute, min_length, max_length):
    return st.builds(
        lambda offset, length: Interval(
            anchor_dt + timedelta(minutes=offset), anchor_dt + timedelta(minutes=offset + length)
        ),
        st.integers(earliest_minute, latest_minute),
        st.integers(min_length, max_length),
    )


slot_rules = st.builds(
    lambda duration, before, after, notice, horizon, grid: SlotRules(
        duration=timedelta(minutes=duration),
        buffer_before=timedelta(minutes=before),
        buffer_after=timedelta(minutes=after),
        min_notice=timedelta(minutes=notice),
        horizon=timedelta(minutes=horizon),
        grid_minutes=grid,
    ),
    st.integers(15, 120),
    st.integers(0, 30),
    st.integers(0, 30),
    st.one_of(st.just(0), st.integers(0, 2 * MINUTES_PER_DAY)),
    st.one_of(st.just(60 * MINUTES_PER_DAY), st.integers(MINUTES_PER_DAY, 30 * MINUTES_PER_DAY)),
    st.sampled_from(GRIDS),
)


@st.composite
def calendars(draw, zone, anchor, window, clinician_id):
    weekly = draw(st.dictionaries(st.integers(0, 6), day_ranges, max_size=7))
    override_days = st.one_of(st.just(anchor), st.integers(-9, 16).map(lambda n: anchor + timedelta(days=n)))
    overrides = draw(st.dictionaries(override_days, day_ranges, max_size=4))
    fortnight = 15 * MINUTES_PER_DAY
    time_off = draw(
        st.lists(spans(window.start_dt, -2 * MINUTES_PER_DAY, fortnight, 1, 3 * MINUTES_PER_DAY), max_size=3)
    )
    busy = draw(st.lists(spans(window.start_dt, -MINUTES_PER_DAY, fortnight, 5, 4 * 60), max_size=8))
    return ClinicianCalendar(clinician_id, zone, weekly, overrides, tuple(time_off), tuple(busy))


@st.composite
def nows(draw, window):
    return window.start_dt + timedelta(
        seconds=draw(st.integers(-3 * 86400, 3 * 86400)), microseconds=draw(st.integers(0, 999_999))
    )


def anchors(zone):
    """Often one of the zone's own DST dates, otherwise any anchor date."""
    own = CHANGES.get(zone.key)
    return st.one_of(st.sampled_from(own), st.sampled_from(ANCHORS)) if own else st.sampled_from(ANCHORS)


@st.composite
def scenarios(draw):
    zone = draw(st.sampled_from(ZONES))
    anchor = draw(anchors(zone))
    window = draw(windows(zone, anchor))
    calendar = draw(calendars(zone, anchor, window, draw(st.integers(1, 10**6))))
    return Scenario(calendar, draw(slot_rules), window, draw(nows(window)))


@st.composite
def teams(draw):
    anchor = draw(st.sampled_from(ANCHORS))
    window = draw(windows(draw(st.sampled_from(ZONES)), anchor))
    ids = draw(st.lists(st.integers(1, 50), min_size=1, max_size=3, unique=True))
    team = [draw(calendars(draw(st.sampled_from(ZONES)), anchor, window, clinician_id)) for clinician_id in ids]
    return team, draw(slot_rules), window, draw(nows(window))


# --- the known hard case, always tried first -------------------------------------------


def _lord_howe_case(day, start):
    rules = SlotRules(duration=timedelta(minutes=30), grid_minutes=60, horizon=timedelta(days=30))
    calendar = ClinicianCalendar(1, LORD_HOWE, overrides={day: (TimeRange(start, time(5)),)})
    window = utc_window_for_local_dates(day, day, LORD_HOWE)
    return Scenario(calendar, rules, window, window.start_dt - timedelta(days=1))


# An hourly grid in a zone whose clocks move by half an hour, hours starting just before the jump.
LORD_HOWE_DST_STARTS = _lord_howe_case(date(2026, 10, 4), time(1, 45))
LORD_HOWE_DST_ENDS = _lord_howe_case(date(2026, 4, 5), time(1, 45))

# Back-to-back Sydney ranges whose join falls exactly on the end of a Los Angeles
# patient's day (Monday 19:00 AEDT = Monday 00:00 PST): an 18:30-19:30 session starts
# inside the window and runs across the join.
JOIN_AT_WINDOW_END = Scenario(
    ClinicianCalendar(
        7,
        ZoneInfo("Australia/Sydney"),
        weekly={0: (TimeRange(time(17), time(19)), TimeRange(time(19), time(21)))},
    ),
    SlotRules(duration=timedelta(minutes=60), grid_minutes=30),
    utc_window_for_local_dates(date(2026, 1, 11), date(2026, 1, 11), ZoneInfo("America/Los_Angeles")),
    datetime(2026, 1, 1, tzinfo=UTC),
)


# --- oracles ----------------------------------------------------------------------------


def oracle_local_to_utc(day, wall_time, zone):
    """PEP 495: fold=0 is the first occurrence, and shifts a missing time forward by the gap."""
    return datetime.combine(day, wall_time, tzinfo=zone).astimezone(UTC)


def oracle_working_intervals(calendar, window):
    """Each local date's ranges in UTC, touching or overlapping ones joined into one stretch."""
    zone = calendar.zone
    day = window.start_dt.astimezone(zone).date() - timedelta(days=1)
    last = window.end_dt.astimezone(zone).date() + timedelta(days=1)
    spans_ = []
    while day <= last:
        ranges = calendar.overrides[day] if day in calendar.overrides else calendar.weekly.get(day.weekday(), ())
        for hours in ranges:
            start = oracle_local_to_utc(day, hours.start, zone)
            end = oracle_local_to_utc(day, hours.end, zone)
            if end > start:
                spans_.append((start, end))
        day += timedelta(days=1)
    joined = []
    for start, end in sorted(spans_):
        if joined and start <= joined[-1][1]:
            joined[-1][1] = max(joined[-1][1], end)
        else:
            joined.append([start, end])
    return [Interval(start, end) for start, end in joined]


def on_local_grid(moment, zone, grid):
    local = moment.astimezone(zone)
    return local.second == 0 and local.microsecond == 0 and (local.hour * 60 + local.minute) % grid == 0


def ceil_to_five_minutes(moment):
    floor = moment.replace(minute=moment.minute - moment.minute % 5, second=0, microsecond=0)
    return floor if floor == moment else floor + FIVE_MINUTES


def brute_force_starts(scenario):
    """Every 5-minute UTC instant that satisfies all the rules of the module docstring."""
    calendar, rules, window, now = scenario.calendar, scenario.rules, scenario.window, scenario.now
    earliest = max(window.start_dt, now + rules.min_notice)
    stop = min(window.end_dt, now + rules.horizon)  # exclusive
    starts = set()
    for hours in oracle_working_intervals(calendar, window):
        start = ceil_to_five_minutes(max(hours.start_dt, earliest))
        while start < stop and start + rules.duration <= hours.end_dt:
            session = Interval(start, start + rules.duration)
            blocked = rules.blocked_interval(start)
            if (
                on_local_grid(start, calendar.zone, rules.grid_minutes)
                and not any(session.overlaps(off) for off in calendar.time_off)
                and not any(blocked.overlaps(busy) for busy in calendar.busy)
            ):
                starts.add(start)
            start += FIVE_MINUTES
    return sorted(starts)


class Containment:
    """Answers "is [start, end) inside one of these intervals?" in O(log n)."""

    def __init__(self, intervals):
        intervals = sorted(intervals)
        self._starts = [i.start_dt for i in intervals]
        self._max_end = list(accumulate((i.end_dt for i in intervals), max))

    def contains(self, start, end):
        index = bisect_right(self._starts, start)
        return index > 0 and self._max_end[index - 1] >= end


def offered(scenario):
    return bookable_slots(scenario.calendar, scenario.rules, scenario.window, scenario.now)


# --- properties of bookable_slots --------------------------------------------------------


@settings(max_examples=150, deadline=None, database=None)
@given(scenarios())
def test_no_offered_slot_collides_with_an_existing_booking(scenario):
    for slot in offered(scenario):
        blocked = scenario.rules.blocked_interval(slot.start_dt)
        assert not any(blocked.overlaps(busy) for busy in scenario.calendar.busy)


@settings(max_examples=150, deadline=None, database=None)
@given(scenarios())
def test_every_slot_lies_inside_one_stretch_of_working_hours_and_outside_time_off(scenario):
    slots = offered(scenario)
    by_oracle = Containment(oracle_working_intervals(scenario.calendar, scenario.window))
    by_engine = Containment(working_intervals(scenario.calendar, scenario.window))

    for slot in slots:
        assert slot.end_dt - slot.start_dt == scenario.rules.duration
        assert slot.clinician_id == scenario.calendar.clinician_id
        assert by_oracle.contains(slot.start_dt, slot.end_dt)
        assert by_engine.contains(slot.start_dt, slot.end_dt)
        session = Interval(slot.start_dt, slot.end_dt)
        assert not any(session.overlaps(off) for off in scenario.calendar.time_off)


@settings(max_examples=150, deadline=None, database=None)
@given(scenarios())
def test_no_start_is_offered_twice_and_slots_come_in_time_order(scenario):
    starts = [slot.start_dt for slot in offered(scenario)]

    assert starts == sorted(set(starts))


@settings(max_examples=150, deadline=None, database=None)
@given(scenarios())
@example(LORD_HOWE_DST_STARTS)
@example(LORD_HOWE_DST_ENDS)
def test_every_start_is_on_the_clinicians_local_grid(scenario):
    zone, grid = scenario.calendar.zone, scenario.rules.grid_minutes

    off_grid = [
        slot.start_dt.astimezone(zone).isoformat()
        for slot in offered(scenario)
        if not on_local_grid(slot.start_dt, zone, grid)
    ]

    assert off_grid == []


@settings(max_examples=150, deadline=None, database=None)
@given(scenarios())
def test_every_start_respects_notice_horizon_and_window(scenario):
    rules, window, now = scenario.rules, scenario.window, scenario.now

    for slot in offered(scenario):
        assert window.start_dt <= slot.start_dt < window.end_dt
        assert slot.start_dt >= now + rules.min_notice
        assert slot.start_dt < now + rules.horizon


@settings(max_examples=150, deadline=None, database=None)
@given(scenarios())
@example(LORD_HOWE_DST_STARTS)
@example(LORD_HOWE_DST_ENDS)
@example(JOIN_AT_WINDOW_END)
def test_offered_starts_are_exactly_the_brute_force_starts(scenario):
    zone = scenario.calendar.zone

    def show(starts):
        return [moment.astimezone(zone).isoformat() for moment in starts]

    assert show(slot.start_dt for slot in offered(scenario)) == show(brute_force_starts(scenario))


@settings(max_examples=150, deadline=None, database=None)
@given(scenarios())
def test_slot_starts_round_trip_through_every_zone(scenario):
    for slot in offered(scenario):
        start = slot.start_dt
        assert start.utcoffset() == timedelta(0)
        for zone in VIEWER_ZONES:
            local = start.astimezone(zone)
            back = local.astimezone(UTC)
            assert back == start
            assert back.replace(tzinfo=None) == start.replace(tzinfo=None)
            assert back.timestamp() == start.timestamp()

            naive = local.replace(tzinfo=None)
            assert naive.replace(tzinfo=zone, fold=local.fold).astimezone(UTC) == start
            first = local_to_utc(naive.date(), naive.time(), zone)
            if local.fold == 0:
                assert first == start
            else:  # the second occurrence of a repeated wall time
                assert first < start
                assert first.astimezone(zone).replace(tzinfo=None) == naive


# --- several clinicians -------------------------------------------------------------------


@settings(max_examples=150, deadline=None, database=None)
@given(teams())
def test_first_available_is_every_clinicians_slots_merged_by_start_then_id(team_case):
    team, rules, window, now = team_case

    merged = bookable_slots_for_all(team, rules, window, now)

    assert [(s.start_dt, s.clinician_id) for s in merged] == sorted((s.start_dt, s.clinician_id) for s in merged)
    for calendar in team:
        own = [s for s in merged if s.clinician_id == calendar.clinician_id]
        assert own == bookable_slots(calendar, rules, window, now)
    assert bookable_slots_for_all(list(reversed(team)), rules, window, now) == merged


@settings(max_examples=150, deadline=None, database=None)
@given(st.dictionaries(st.integers(1, 30), st.integers(0, 5), min_size=1, max_size=8))
def test_pick_fair_clinician_takes_the_lowest_id_among_the_least_booked(counts):
    chosen = pick_fair_clinician(counts)

    fewest = min(counts.values())
    assert counts[chosen] == fewest
    assert chosen == min(cid for cid, count in counts.items() if count == fewest)
    assert pick_fair_clinician(dict(reversed(list(counts.items())))) == chosen


# --- the time zone primitives the engine stands on --------------------------------------


anchored_days = st.builds(
    lambda anchor, offset: anchor + timedelta(days=offset), st.sampled_from(ANCHORS), st.integers(-2, 2)
)
wall_times = st.builds(
    lambda minute, second: time(*divmod(minute, 60), second), wall_minutes, st.one_of(st.just(0), st.integers(0, 59))
)


@settings(max_examples=150, deadline=None, database=None)
@given(anchored_days, wall_times, st.sampled_from(VIEWER_ZONES))
def test_local_to_utc_is_pep_495_fold_zero(day, wall_time, zone):
    result = local_to_utc(day, wall_time, zone)

    assert result == oracle_local_to_utc(day, wall_time, zone)
    assert result.utcoffset() == timedelta(0)
    naive = datetime.combine(day, wall_time)
    shown = result.astimezone(zone).replace(tzinfo=None)
    if shown != naive:  # the wall time does not exist: moved forward by the gap
        gap = shown - naive
        assert timedelta(0) < gap <= timedelta(hours=1)
        before = naive.replace(tzinfo=zone, fold=0).utcoffset()
        after = naive.replace(tzinfo=zone, fold=1).utcoffset()
        assert gap == abs(after - before)
    else:  # it exists: the earliest instant showing that wall time
        assert (result - timedelta(hours=1)).astimezone(zone).replace(tzinfo=None) != naive
        assert (result - timedelta(minutes=30)).astimezone(zone).replace(tzinfo=None) != naive


@settings(max_examples=150, deadline=None, database=None)
@given(
    st.integers(0, 400 * 24 * 60).map(lambda m: datetime(2025, 12, 1, tzinfo=UTC) + timedelta(minutes=m, seconds=17)),
    st.sampled_from(VIEWER_ZONES),
)
def test_local_week_is_the_local_monday_to_monday_containing_the_moment(moment, zone):
    week = local_week(moment, zone)

    assert week.start_dt <= moment < week.end_dt
    monday = week.start_dt.astimezone(zone)
    assert monday.weekday() == 0
    assert (monday.hour, monday.minute, monday.second) == (0, 0, 0)
    next_monday = week.end_dt.astimezone(zone)
    assert next_monday.date() == monday.date() + timedelta(days=7)
    assert (next_monday.hour, next_monday.minute) == (0, 0)
    assert timedelta(hours=167) <= week.end_dt - week.start_dt <= timedelta(hours=169)
    assert week == utc_window_for_local_dates(monday.date(), monday.date() + timedelta(days=6), zone)
