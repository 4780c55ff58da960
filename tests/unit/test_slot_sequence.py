"""The engine's answer is a lazy list: read by index, slice or loop, it holds the same slots in the same order.

The engine keeps free runs and makes each Slot only when read (kapclinic.scheduling.slots.SlotSequence).
Callers page through it, take its first or last slot and loop over it; each way must see the list
the engine's rules define, including where clinicians' grids tick apart and where a daily limit cuts.
"""

from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from kapclinic.scheduling.slots import (
    ClinicianCalendar,
    Slot,
    SlotRules,
    TimeRange,
    bookable_slots,
    bookable_slots_for_all,
    utc_window_for_local_dates,
)
from tests.unit.test_slot_properties import scenarios, teams

NEW_YORK = ZoneInfo("America/New_York")
KOLKATA = ZoneInfo("Asia/Kolkata")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
HOURLY = SlotRules(duration=timedelta(minutes=30), grid_minutes=60, horizon=timedelta(days=400))
LONG_AGO = datetime(2026, 6, 1, tzinfo=UTC)


def every_day(start, end):
    return {weekday: (TimeRange(start, end),) for weekday in range(7)}


@settings(max_examples=150, deadline=None, database=None)
@given(teams())
def test_first_available_reads_the_same_by_index_slice_and_loop(team_case):
    team, rules, window, now = team_case
    slots = bookable_slots_for_all(team, rules, window, now)
    looped = list(slots)

    assert [slots[position] for position in range(len(slots))] == looped
    assert [slots[-position] for position in range(1, len(slots) + 1)] == looped[::-1]
    assert slots[1:-1:3] == looped[1:-1:3] and slots[::-2] == looped[::-2]
    assert slots == looped and looped == slots and bool(slots) is bool(looped)
    assert all(type(slot) is Slot for slot in looped)


def test_a_patient_in_any_zone_sees_kolkata_and_new_york_hours_interleaved():
    """An hourly grid sits on :00 in New York and on :30 UTC in Kolkata: the merged list alternates, in order."""
    day = date(2026, 6, 15)
    new_york = ClinicianCalendar(2, NEW_YORK, weekly=every_day(time(0), time(23)))
    kolkata = ClinicianCalendar(1, KOLKATA, weekly=every_day(time(0), time(23)))
    lord_howe = ClinicianCalendar(3, LORD_HOWE, weekly=every_day(time(0), time(23)))
    window = utc_window_for_local_dates(day, day, ZoneInfo("UTC"))

    slots = bookable_slots_for_all([new_york, kolkata, lord_howe], HOURLY, window, LONG_AGO)

    alone = [
        slot
        for calendar in (new_york, kolkata, lord_howe)
        for slot in bookable_slots(calendar, HOURLY, window, LONG_AGO)
    ]
    assert slots == sorted(alone)
    # 02:00 UTC is 22:00 in New York; 02:30 UTC is 08:00 in Kolkata (+05:30) and 13:00 on Lord Howe (+10:30).
    two = datetime(2026, 6, 15, 2, tzinfo=UTC)
    around_two = [
        (slot.start_dt - two, slot.clinician_id) for slot in slots if two <= slot.start_dt < two + timedelta(hours=1)
    ]
    assert around_two == [(timedelta(0), 2), (timedelta(minutes=30), 1), (timedelta(minutes=30), 3)]


@settings(max_examples=150, deadline=None, database=None)
@given(scenarios(), st.integers(1, 2))
def test_a_daily_limit_closes_exactly_the_local_dates_that_are_full(scenario, limit):
    """The engine cuts whole runs at local midnight; the rule is per start: its local date holds `limit` already."""
    unlimited = replace(scenario.calendar, consultations=scenario.calendar.busy)
    zone = unlimited.zone
    booked = Counter(consultation.start_dt.astimezone(zone).date() for consultation in unlimited.consultations)

    limited = bookable_slots(replace(unlimited, max_per_day=limit), scenario.rules, scenario.window, scenario.now)

    everything = bookable_slots(unlimited, scenario.rules, scenario.window, scenario.now)
    assert list(limited) == [slot for slot in everything if booked[slot.start_dt.astimezone(zone).date()] < limit]


def test_a_list_of_slots_joins_the_engines_answers_as_a_list():
    calendar = ClinicianCalendar(1, NEW_YORK, weekly=every_day(time(9), time(11)))
    monday, tuesday = (
        bookable_slots(calendar, HOURLY, utc_window_for_local_dates(day, day, NEW_YORK), LONG_AGO)
        for day in (date(2026, 6, 15), date(2026, 6, 16))
    )

    assert monday + tuesday == [*monday, *tuesday] and len(monday + tuesday) == 4
    assert [*monday] + tuesday == monday + [*tuesday] == monday + tuesday


@settings(max_examples=150, deadline=None, database=None)
@given(teams(), st.sampled_from(["UTC", "America/Los_Angeles", "Asia/Kathmandu", "Australia/Lord_Howe"]))
def test_starts_and_their_count_per_day_are_the_distinct_starts_of_the_list(team_case, zone_name):
    """What a date-first picker reads (each start once, a count per local day) is what the list of slots holds."""
    team, rules, window, now = team_case
    slots = bookable_slots_for_all(team, rules, window, now)
    by_start = {}
    for slot in slots:
        by_start.setdefault(slot.start_dt, []).append(slot.clinician_id)
    assert [(start, end, list(ids)) for start, end, ids in slots.starts()] == [
        (start, start + rules.duration, ids) for start, ids in by_start.items()
    ]

    zone = ZoneInfo(zone_name)
    first_day = window.start_dt.astimezone(zone).date()
    days = [first_day + timedelta(days=offset) for offset in range((window.end_dt - window.start_dt).days + 2)]
    per_day = slots.starts_per_day(days, zone)
    for day, (count, first) in zip(days, per_day, strict=True):
        that_day = sorted(start for start in by_start if start.astimezone(zone).date() == day)
        assert (count, first) == (len(that_day), that_day[0] if that_day else None)
