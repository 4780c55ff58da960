"""User stories for the slot engine (kapclinic.scheduling.slots).

Each test reads as something a clinician, a patient or the front desk expects:
a 09:00 rule stays 09:00 on the clinician's clock across daylight-saving
changes (mornings *and* afternoons, spring *and* autumn), the nights the clock
jumps offer exactly the hours that really exist, a patient in another zone sees
the right day and time, buffers, notice, horizon, overrides and time off behave
as the module docstring says, and "first available" picks fairly.

Expected values are worked out by hand from the rules in the module docstring;
zone facts used below:
- New York: EST (UTC-5) until 2026-03-08 02:00, EDT (UTC-4) until 2026-11-01 02:00.
- London: GMT until 2026-03-29 01:00, BST (UTC+1) until 2026-10-25 02:00.
- Sydney: AEDT (UTC+11) until 2026-04-05 03:00, AEST (UTC+10) until 2026-10-04 02:00.
- Los Angeles: PST (UTC-8) / PDT (UTC-7), changes on the same dates as New York.
"""

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from kapclinic.core.timezones import format_moment, format_time, local_to_utc
from kapclinic.scheduling.slots import (
    ClinicianCalendar,
    Interval,
    Slot,
    SlotRules,
    TimeRange,
    bookable_slots,
    bookable_slots_for_all,
    local_week,
    pick_fair_clinician,
    utc_window_for_local_dates,
    working_intervals,
)

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
SYDNEY = ZoneInfo("Australia/Sydney")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
KOLKATA = ZoneInfo("Asia/Kolkata")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")

LONG_AGO = datetime(2025, 1, 1, tzinfo=UTC)
FAR = timedelta(days=1000)


def hours(start, end):
    return TimeRange(time.fromisoformat(start), time.fromisoformat(end))


def every_day(*ranges):
    return {weekday: tuple(ranges) for weekday in range(7)}


def rules(duration=60, grid=60, **extra):
    extra.setdefault("horizon", FAR)
    return SlotRules(duration=timedelta(minutes=duration), grid_minutes=grid, **extra)


def at(zone, day, wall):
    """The UTC instant of a wall-clock time (never in a gap or repeated hour here)."""
    return local_to_utc(day, time.fromisoformat(wall), zone)


def offered(calendar, slot_rules, first_day, last_day=None, now=LONG_AGO, viewer_zone=None):
    window = utc_window_for_local_dates(first_day, last_day or first_day, viewer_zone or calendar.zone)
    return bookable_slots(calendar, slot_rules, window, now)


def wall_clock_by_day(slots, zone):
    by_day = defaultdict(list)
    for slot in slots:
        local = slot.start_dt.astimezone(zone)
        by_day[local.date()].append(f"{local:%H:%M}")
    return dict(by_day)


def labels(slots, zone):
    return [f"{slot.start_dt.astimezone(zone):%H:%M %Z}" for slot in slots]


# ----------------------------------------------------------------------------------
# Weekly hours keep their wall-clock times across DST changes
# ----------------------------------------------------------------------------------

SPRING_FORWARD = [
    pytest.param(NEW_YORK, date(2026, 3, 8), id="new-york-2026-03-08"),
    pytest.param(LONDON, date(2026, 3, 29), id="london-2026-03-29"),
]
FALL_BACK = [
    pytest.param(NEW_YORK, date(2026, 11, 1), id="new-york-2026-11-01"),
    pytest.param(LONDON, date(2026, 10, 25), id="london-2026-10-25"),
]

MORNING_AND_AFTERNOON = every_day(hours("09:00", "12:00"), hours("13:00", "17:00"))
EXPECTED_DAY = ["09:00", "10:00", "11:00", "13:00", "14:00", "15:00", "16:00"]


def three_weeks_around(change_sunday):
    """Monday of the week before the change week .. Sunday after the change."""
    return change_sunday - timedelta(days=13), change_sunday + timedelta(days=7)


def assert_every_day_offers(zone, change_sunday, weekly, slot_rules, expected):
    first, last = three_weeks_around(change_sunday)
    calendar = ClinicianCalendar(1, zone, weekly=weekly)

    by_day = wall_clock_by_day(offered(calendar, slot_rules, first, last), zone)

    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    assert change_sunday in days
    assert {day: by_day.get(day) for day in days} == {day: expected for day in days}


@pytest.mark.parametrize(("zone", "change"), SPRING_FORWARD)
def test_nine_am_rule_stays_nine_am_local_across_spring_forward(zone, change):
    assert_every_day_offers(zone, change, MORNING_AND_AFTERNOON, rules(), EXPECTED_DAY)


@pytest.mark.parametrize(("zone", "change"), FALL_BACK)
def test_nine_am_rule_stays_nine_am_local_across_fall_back(zone, change):
    assert_every_day_offers(zone, change, MORNING_AND_AFTERNOON, rules(), EXPECTED_DAY)


@pytest.mark.parametrize(("zone", "change"), SPRING_FORWARD + FALL_BACK)
def test_afternoon_only_clinician_keeps_one_to_five_pm_across_the_change(zone, change):
    # A shipped scheduler once shifted only the slots from 13:00 on; check them on their own.
    weekly = every_day(hours("13:00", "17:00"))
    assert_every_day_offers(zone, change, weekly, rules(), ["13:00", "14:00", "15:00", "16:00"])


@pytest.mark.parametrize(("zone", "change"), SPRING_FORWARD + FALL_BACK)
def test_afternoon_quarter_hour_grid_with_fifty_minute_sessions_survives_the_change(zone, change):
    weekly = every_day(hours("13:00", "17:00"))
    expected = [f"{13 + m // 60:02d}:{m % 60:02d}" for m in range(0, 3 * 60 + 1, 15)]  # 13:00 .. 16:00
    assert expected[-1] == "16:00"
    assert_every_day_offers(zone, change, weekly, rules(duration=50, grid=15), expected)


@pytest.mark.parametrize(
    ("zone", "change", "shift"),
    [
        pytest.param(NEW_YORK, date(2026, 3, 8), timedelta(hours=-1), id="new-york-spring"),
        pytest.param(NEW_YORK, date(2026, 11, 1), timedelta(hours=1), id="new-york-fall"),
        pytest.param(LONDON, date(2026, 3, 29), timedelta(hours=-1), id="london-spring"),
        pytest.param(LONDON, date(2026, 10, 25), timedelta(hours=1), id="london-fall"),
    ],
)
def test_same_wall_clock_slot_is_a_different_utc_instant_after_the_change(zone, change, shift):
    calendar = ClinicianCalendar(1, zone, weekly=MORNING_AND_AFTERNOON)
    monday_before = change - timedelta(days=6)
    monday_after = change + timedelta(days=1)

    before = offered(calendar, rules(), monday_before)
    after = offered(calendar, rules(), monday_after)

    assert len(before) == len(after) == len(EXPECTED_DAY)
    for old, new in zip(before, after, strict=True):
        assert new.start_dt - old.start_dt == timedelta(days=7) + shift
        assert new.end_dt - new.start_dt == timedelta(hours=1)


def test_london_nine_am_shows_at_five_am_in_new_york_while_only_the_us_has_changed():
    calendar = ClinicianCalendar(1, LONDON, weekly={0: (hours("09:00", "10:00"),)})

    usual = offered(calendar, rules(), date(2026, 3, 2))  # both on winter time
    gap_weeks = offered(calendar, rules(), date(2026, 3, 16))  # US on EDT, UK still GMT
    both_summer = offered(calendar, rules(), date(2026, 3, 30))

    assert [format_moment(s.start_dt, NEW_YORK) for s in usual] == ["Mon, Mar 2, 2026, 4:00 AM EST"]
    assert [format_moment(s.start_dt, NEW_YORK) for s in gap_weeks] == ["Mon, Mar 16, 2026, 5:00 AM EDT"]
    assert [format_moment(s.start_dt, NEW_YORK) for s in both_summer] == ["Mon, Mar 30, 2026, 4:00 AM EDT"]
    assert [format_moment(s.start_dt, LONDON) for s in usual + gap_weeks + both_summer] == [
        "Mon, Mar 2, 2026, 9:00 AM GMT",
        "Mon, Mar 16, 2026, 9:00 AM GMT",
        "Mon, Mar 30, 2026, 9:00 AM BST",
    ]


# ----------------------------------------------------------------------------------
# The nights the clock jumps
# ----------------------------------------------------------------------------------


def test_spring_forward_night_offers_no_two_am_slots_and_three_real_hours():
    day = date(2026, 3, 8)
    calendar = ClinicianCalendar(1, NEW_YORK, overrides={day: (hours("00:00", "04:00"),)})

    slots = offered(calendar, rules(duration=15, grid=15), day)

    assert labels(slots, NEW_YORK) == [
        "00:00 EST", "00:15 EST", "00:30 EST", "00:45 EST",
        "01:00 EST", "01:15 EST", "01:30 EST", "01:45 EST",
        "03:00 EDT", "03:15 EDT", "03:30 EDT", "03:45 EDT",
    ]  # fmt: skip
    # Twelve quarter hours back to back: the clock jump is not a hole in real time.
    assert [s.start_dt for s in slots] == [
        datetime(2026, 3, 8, 5, tzinfo=UTC) + timedelta(minutes=15 * n) for n in range(12)
    ]
    assert slots[-1].end_dt - slots[0].start_dt == timedelta(hours=3)
    window = utc_window_for_local_dates(day, day, NEW_YORK)
    assert [w.end_dt - w.start_dt for w in working_intervals(calendar, window)] == [timedelta(hours=3)]


def test_spring_forward_night_hourly_sessions_skip_straight_from_one_to_three_am():
    day = date(2026, 3, 8)
    calendar = ClinicianCalendar(1, NEW_YORK, overrides={day: (hours("00:00", "04:00"),)})

    assert labels(offered(calendar, rules(), day), NEW_YORK) == ["00:00 EST", "01:00 EST", "03:00 EDT"]


def test_fall_back_night_offers_one_am_twice_at_two_different_instants():
    day = date(2026, 11, 1)
    calendar = ClinicianCalendar(1, NEW_YORK, overrides={day: (hours("00:00", "04:00"),)})

    slots = offered(calendar, rules(duration=30, grid=30), day)

    assert labels(slots, NEW_YORK) == [
        "00:00 EDT", "00:30 EDT", "01:00 EDT", "01:30 EDT",
        "01:00 EST", "01:30 EST", "02:00 EST", "02:30 EST", "03:00 EST", "03:30 EST",
    ]  # fmt: skip
    one_am = [s.start_dt for s in slots if s.start_dt.astimezone(NEW_YORK).time() == time(1)]
    assert one_am == [datetime(2026, 11, 1, 5, tzinfo=UTC), datetime(2026, 11, 1, 6, tzinfo=UTC)]
    assert [s.start_dt.astimezone(NEW_YORK).fold for s in slots if s.start_dt in one_am] == [0, 1]
    assert len({s.start_dt for s in slots}) == len(slots) == 10
    window = utc_window_for_local_dates(day, day, NEW_YORK)
    assert [w.end_dt - w.start_dt for w in working_intervals(calendar, window)] == [timedelta(hours=5)]


@pytest.mark.parametrize(
    ("day", "expected", "real_length"),
    [
        pytest.param(
            date(2026, 3, 29),
            ["00:00 GMT", "00:30 GMT", "02:00 BST", "02:30 BST"],
            timedelta(hours=2),
            id="spring-forward-no-one-am",
        ),
        pytest.param(
            date(2026, 10, 25),
            ["00:00 BST", "00:30 BST", "01:00 BST", "01:30 BST", "01:00 GMT", "01:30 GMT", "02:00 GMT", "02:30 GMT"],
            timedelta(hours=4),
            id="fall-back-one-am-twice",
        ),
    ],
)
def test_london_clinician_working_through_the_night_of_the_change(day, expected, real_length):
    calendar = ClinicianCalendar(1, LONDON, overrides={day: (hours("00:00", "03:00"),)})

    slots = offered(calendar, rules(duration=30, grid=30), day)

    assert labels(slots, LONDON) == expected
    assert len({s.start_dt for s in slots}) == len(expected)
    window = utc_window_for_local_dates(day, day, LONDON)
    assert [w.end_dt - w.start_dt for w in working_intervals(calendar, window)] == [real_length]


def test_hours_that_start_inside_the_gap_start_an_hour_later_on_the_clock():
    # Docstring of local_to_utc: 02:30 on the spring-forward night becomes 03:30 EDT.
    day = date(2026, 3, 8)
    calendar = ClinicianCalendar(1, NEW_YORK, overrides={day: (hours("02:30", "05:00"),)})

    assert labels(offered(calendar, rules(duration=30, grid=30), day), NEW_YORK) == [
        "03:30 EDT",
        "04:00 EDT",
        "04:30 EDT",
    ]


@pytest.mark.parametrize(
    ("working", "expected"),
    [
        # Ends at the first 01:30 (EDT): the repeated 01:00-01:30 EST is not working time.
        pytest.param(("00:00", "01:30"), ["00:00 EDT", "00:30 EDT", "01:00 EDT"], id="ends-in-repeated-hour"),
        # Starts at the first 01:30 (EDT): the whole repeated hour after it is working time.
        pytest.param(
            ("01:30", "03:00"),
            ["01:30 EDT", "01:00 EST", "01:30 EST", "02:00 EST", "02:30 EST"],
            id="starts-in-repeated-hour",
        ),
    ],
)
def test_hours_edged_inside_the_repeated_hour_use_its_first_occurrence(working, expected):
    day = date(2026, 11, 1)
    calendar = ClinicianCalendar(1, NEW_YORK, overrides={day: (hours(*working),)})

    assert labels(offered(calendar, rules(duration=30, grid=30), day), NEW_YORK) == expected


# Lord Howe Island moves its clocks by half an hour. With an hourly grid the first
# grid point after the clinician's 01:45 start lies on the far side of the jump.
@pytest.mark.parametrize(
    ("day", "expected"),
    [
        # 02:00-02:30 does not exist; the first on-the-hour time is 03:00 (+11).
        pytest.param(date(2026, 10, 4), ["03:00 +11", "04:00 +11"], id="dst-starts-2026-10-04"),
        # 02:00 (+11) is 01:30 (+1030); the first on-the-hour time after 01:45 (+11) is 02:00 (+1030).
        pytest.param(date(2026, 4, 5), ["02:00 +1030", "03:00 +1030", "04:00 +1030"], id="dst-ends-2026-04-05"),
    ],
)
def test_hourly_grid_stays_on_the_hour_when_lord_howe_clocks_move_half_an_hour(day, expected):
    calendar = ClinicianCalendar(1, LORD_HOWE, overrides={day: (hours("01:45", "05:00"),)})

    slots = offered(calendar, rules(duration=30, grid=60), day)

    assert labels(slots, LORD_HOWE) == expected


def test_hourly_grid_after_now_stays_on_the_hour_across_lord_howe_half_hour_jump():
    day = date(2026, 10, 4)
    calendar = ClinicianCalendar(1, LORD_HOWE, overrides={day: (hours("00:00", "05:00"),)})
    now = at(LORD_HOWE, day, "01:45")  # 01:45 +1030, fifteen minutes before the jump

    slots = offered(calendar, rules(duration=30, grid=60), day, now=now)

    assert labels(slots, LORD_HOWE) == ["03:00 +11", "04:00 +11"]


# ----------------------------------------------------------------------------------
# A patient in another zone
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sydney_monday", "la_sunday", "patient_sees"),
    [
        pytest.param(
            date(2026, 1, 12),
            date(2026, 1, 11),
            ["2:00 PM PST", "3:00 PM PST", "4:00 PM PST"],
            id="january-aedt-vs-pst",
        ),
        pytest.param(
            date(2026, 3, 30), date(2026, 3, 29), ["3:00 PM PDT", "4:00 PM PDT", "5:00 PM PDT"], id="march-aedt-vs-pdt"
        ),
        pytest.param(
            date(2026, 4, 6), date(2026, 4, 5), ["4:00 PM PDT", "5:00 PM PDT", "6:00 PM PDT"], id="april-aest-vs-pdt"
        ),
        pytest.param(
            date(2026, 7, 13), date(2026, 7, 12), ["4:00 PM PDT", "5:00 PM PDT", "6:00 PM PDT"], id="july-aest-vs-pdt"
        ),
        pytest.param(
            date(2026, 10, 5),
            date(2026, 10, 4),
            ["3:00 PM PDT", "4:00 PM PDT", "5:00 PM PDT"],
            id="october-aedt-vs-pdt",
        ),
        pytest.param(
            date(2026, 11, 2),
            date(2026, 11, 1),
            ["2:00 PM PST", "3:00 PM PST", "4:00 PM PST"],
            id="november-aedt-vs-pst",
        ),
    ],
)
def test_los_angeles_patient_sees_sydney_monday_morning_on_sunday_afternoon(sydney_monday, la_sunday, patient_sees):
    calendar = ClinicianCalendar(7, SYDNEY, weekly={0: (hours("09:00", "12:00"),)})

    slots = offered(calendar, rules(), la_sunday, viewer_zone=LOS_ANGELES)

    in_la = [s.start_dt.astimezone(LOS_ANGELES) for s in slots]
    assert {local.date() for local in in_la} == {la_sunday}
    assert [f"{local:%A}" for local in in_la] == ["Sunday"] * 3
    assert [format_time(s.start_dt, LOS_ANGELES) for s in slots] == patient_sees
    in_sydney = [s.start_dt.astimezone(SYDNEY) for s in slots]
    assert {local.date() for local in in_sydney} == {sydney_monday}
    assert [f"{local:%H:%M}" for local in in_sydney] == ["09:00", "10:00", "11:00"]
    # ... and nothing on the patient's own Monday.
    assert offered(calendar, rules(), la_sunday + timedelta(days=1), viewer_zone=LOS_ANGELES) == []


def test_los_angeles_patient_sees_sydney_evening_slot_that_runs_across_a_join_at_the_end_of_her_day():
    # Sydney hours 17:00-19:00 and 19:00-21:00 are one stretch, so an 18:30-19:30 session is
    # bookable. It starts at 23:30 PST on the patient's Sunday, whose window ends at
    # Monday 00:00 PST = 19:00 AEDT, exactly at the join.
    calendar = ClinicianCalendar(7, SYDNEY, weekly={0: (hours("17:00", "19:00"), hours("19:00", "21:00"))})
    slot_rules = rules(duration=60, grid=30)
    sunday, monday = date(2026, 1, 11), date(2026, 1, 12)

    sunday_only = offered(calendar, slot_rules, sunday, viewer_zone=LOS_ANGELES)
    sunday_and_monday = offered(calendar, slot_rules, sunday, monday, viewer_zone=LOS_ANGELES)

    expected = ["10:00 PM PST", "10:30 PM PST", "11:00 PM PST", "11:30 PM PST"]
    on_sunday = [
        format_time(s.start_dt, LOS_ANGELES)
        for s in sunday_and_monday
        if s.start_dt.astimezone(LOS_ANGELES).date() == sunday
    ]
    assert on_sunday == expected  # the wider window offers the 23:30 start ...
    assert [format_time(s.start_dt, LOS_ANGELES) for s in sunday_only] == expected  # ... so must Sunday's


def test_sydney_monday_nine_am_reads_as_sunday_two_pm_for_the_patient_in_january():
    calendar = ClinicianCalendar(7, SYDNEY, weekly={0: (hours("09:00", "10:00"),)})

    (slot,) = offered(calendar, rules(), date(2026, 1, 12))

    assert slot.start_dt == datetime(2026, 1, 11, 22, tzinfo=UTC)
    assert format_moment(slot.start_dt, SYDNEY) == "Mon, Jan 12, 2026, 9:00 AM AEDT"
    assert format_moment(slot.start_dt, LOS_ANGELES) == "Sun, Jan 11, 2026, 2:00 PM PST"


# ----------------------------------------------------------------------------------
# Buffers, notice, horizon
# ----------------------------------------------------------------------------------

MONDAY = date(2026, 6, 15)  # an ordinary EDT week


def test_booking_with_ten_minute_after_buffer_blocks_the_hour_it_keeps_busy():
    existing_type = rules(duration=50, buffer_after=timedelta(minutes=10))
    booking = existing_type.blocked_interval(at(NEW_YORK, MONDAY, "10:00"))
    assert booking == Interval(at(NEW_YORK, MONDAY, "10:00"), at(NEW_YORK, MONDAY, "11:00"))
    calendar = ClinicianCalendar(1, NEW_YORK, weekly={0: (hours("09:00", "13:00"),)}, busy=(booking,))
    new_type = rules(duration=50, grid=15, buffer_after=timedelta(minutes=10))

    starts = wall_clock_by_day(offered(calendar, new_type, MONDAY), NEW_YORK)[MONDAY]

    # A 09:00 session is blocked until exactly 10:00 (touching is fine); 09:15-10:45 would
    # overlap 10:00-11:00; 11:00 starts as the earlier block ends.
    assert starts == ["09:00", "11:00", "11:15", "11:30", "11:45", "12:00"]
    assert "10:45" not in starts


def test_ten_minute_before_buffer_pushes_the_next_start_past_the_booking():
    booking = Interval(at(NEW_YORK, MONDAY, "10:00"), at(NEW_YORK, MONDAY, "11:00"))
    calendar = ClinicianCalendar(1, NEW_YORK, weekly={0: (hours("09:00", "13:00"),)}, busy=(booking,))
    new_type = rules(duration=50, grid=15, buffer_before=timedelta(minutes=10), buffer_after=timedelta(minutes=10))

    starts = wall_clock_by_day(offered(calendar, new_type, MONDAY), NEW_YORK)[MONDAY]

    # 11:00 would need 10:50-11:00 free; the first start whose blocked span begins at 11:00 or later is 11:15.
    assert starts == ["09:00", "11:15", "11:30", "11:45", "12:00"]


def test_buffers_may_spill_outside_working_hours_but_the_session_may_not():
    calendar = ClinicianCalendar(1, NEW_YORK, weekly={0: (hours("09:00", "10:00"),)})
    with_buffers = rules(duration=50, grid=10, buffer_before=timedelta(minutes=30), buffer_after=timedelta(minutes=30))

    assert wall_clock_by_day(offered(calendar, with_buffers, MONDAY), NEW_YORK) == {MONDAY: ["09:00", "09:10"]}


def test_time_off_blocks_the_session_itself_not_its_buffers():
    time_off = Interval(at(NEW_YORK, MONDAY, "11:00"), at(NEW_YORK, MONDAY, "12:00"))
    calendar = ClinicianCalendar(1, NEW_YORK, weekly={0: (hours("09:00", "14:00"),)}, time_off=(time_off,))
    with_buffers = rules(buffer_before=timedelta(minutes=15), buffer_after=timedelta(minutes=15))

    starts = wall_clock_by_day(offered(calendar, with_buffers, MONDAY), NEW_YORK)[MONDAY]

    assert starts == ["09:00", "10:00", "12:00", "13:00"]


def test_other_bookings_far_away_do_not_matter():
    far = Interval(at(NEW_YORK, MONDAY, "18:00"), at(NEW_YORK, MONDAY, "19:00"))
    calendar = ClinicianCalendar(1, NEW_YORK, weekly={0: (hours("09:00", "12:00"),)}, busy=(far,))

    assert wall_clock_by_day(offered(calendar, rules(), MONDAY), NEW_YORK) == {MONDAY: ["09:00", "10:00", "11:00"]}


def test_minimum_notice_hides_slots_that_start_too_soon():
    calendar = ClinicianCalendar(1, NEW_YORK, weekly=every_day(hours("09:00", "17:00")))
    now = at(NEW_YORK, MONDAY, "10:20")
    next_day_notice = rules(duration=60, grid=15, min_notice=timedelta(hours=24))

    by_day = wall_clock_by_day(
        offered(calendar, next_day_notice, MONDAY, MONDAY + timedelta(days=2), now=now), NEW_YORK
    )

    assert MONDAY not in by_day
    assert by_day[MONDAY + timedelta(days=1)][0] == "10:30"  # 24 h after 10:20, on the grid
    assert by_day[MONDAY + timedelta(days=2)][0] == "09:00"


def test_a_start_exactly_min_notice_away_is_still_offered():
    calendar = ClinicianCalendar(1, NEW_YORK, weekly=every_day(hours("09:00", "17:00")))
    now = at(NEW_YORK, MONDAY, "09:00")

    slots = offered(calendar, rules(min_notice=timedelta(hours=2)), MONDAY, now=now)

    assert slots[0].start_dt == now + timedelta(hours=2)


def test_no_notice_offers_the_slot_starting_right_now_but_not_earlier_ones():
    calendar = ClinicianCalendar(1, NEW_YORK, weekly=every_day(hours("09:00", "17:00")))
    now = at(NEW_YORK, MONDAY, "13:00")

    assert wall_clock_by_day(offered(calendar, rules(), MONDAY, now=now), NEW_YORK)[MONDAY] == [
        "13:00",
        "14:00",
        "15:00",
        "16:00",
    ]


def test_horizon_is_exclusive_and_cuts_off_far_future_slots():
    calendar = ClinicianCalendar(1, NEW_YORK, weekly=every_day(hours("09:00", "17:00")))
    now = at(NEW_YORK, MONDAY, "09:00")
    two_days = rules(duration=15, grid=15, horizon=timedelta(days=2))

    slots = offered(calendar, two_days, MONDAY, MONDAY + timedelta(days=6), now=now)

    assert slots[0].start_dt == now
    assert slots[-1].start_dt == at(NEW_YORK, MONDAY + timedelta(days=1), "16:45")
    assert all(s.start_dt < now + timedelta(days=2) for s in slots)
    assert set(wall_clock_by_day(slots, NEW_YORK)) == {MONDAY, MONDAY + timedelta(days=1)}


def test_nothing_is_offered_when_notice_reaches_past_the_horizon():
    calendar = ClinicianCalendar(1, NEW_YORK, weekly=every_day(hours("00:00", "23:00")))
    now = at(NEW_YORK, MONDAY, "09:00")
    impossible = rules(min_notice=timedelta(days=3), horizon=timedelta(days=2))

    assert offered(calendar, impossible, MONDAY, MONDAY + timedelta(days=6), now=now) == []


def test_default_horizon_is_sixty_days():
    calendar = ClinicianCalendar(1, NEW_YORK, weekly=every_day(hours("09:00", "10:00")))
    now = at(NEW_YORK, MONDAY, "09:30")
    default = SlotRules(duration=timedelta(minutes=30))

    by_day = wall_clock_by_day(offered(calendar, default, MONDAY, MONDAY + timedelta(days=70), now=now), NEW_YORK)

    assert max(by_day) == MONDAY + timedelta(days=60)
    assert by_day[MONDAY + timedelta(days=60)] == ["09:00", "09:15"]  # 09:30 is exactly 60 days on
    assert by_day[MONDAY] == ["09:30"]


# ----------------------------------------------------------------------------------
# Overrides and time off
# ----------------------------------------------------------------------------------


def test_date_override_replaces_the_weekly_hours_for_that_day_only():
    special_monday = MONDAY + timedelta(days=7)
    calendar = ClinicianCalendar(
        1,
        NEW_YORK,
        weekly={0: (hours("09:00", "12:00"), hours("13:00", "17:00"))},
        overrides={special_monday: (hours("14:00", "16:00"),)},
    )

    by_day = wall_clock_by_day(offered(calendar, rules(), MONDAY, MONDAY + timedelta(days=20)), NEW_YORK)

    assert by_day == {
        MONDAY: EXPECTED_DAY,
        special_monday: ["14:00", "15:00"],
        MONDAY + timedelta(days=14): EXPECTED_DAY,
    }


def test_override_adds_hours_on_a_day_without_weekly_hours():
    saturday = MONDAY + timedelta(days=5)
    calendar = ClinicianCalendar(
        1, NEW_YORK, weekly={0: (hours("09:00", "10:00"),)}, overrides={saturday: (hours("10:00", "12:00"),)}
    )

    by_day = wall_clock_by_day(offered(calendar, rules(), MONDAY, MONDAY + timedelta(days=6)), NEW_YORK)

    assert by_day == {MONDAY: ["09:00"], saturday: ["10:00", "11:00"]}


def test_override_with_no_hours_is_a_day_off():
    calendar = ClinicianCalendar(1, NEW_YORK, weekly=every_day(hours("09:00", "12:00")), overrides={MONDAY: ()})

    by_day = wall_clock_by_day(
        offered(calendar, rules(), MONDAY - timedelta(days=1), MONDAY + timedelta(days=1)), NEW_YORK
    )

    assert MONDAY not in by_day
    assert by_day[MONDAY - timedelta(days=1)] == by_day[MONDAY + timedelta(days=1)] == ["09:00", "10:00", "11:00"]


def test_ranges_on_prefers_overrides():
    calendar = ClinicianCalendar(1, NEW_YORK, weekly={0: (hours("09:00", "10:00"),)}, overrides={MONDAY: ()})

    assert calendar.ranges_on(MONDAY) == ()
    assert calendar.ranges_on(MONDAY + timedelta(days=7)) == (hours("09:00", "10:00"),)
    assert calendar.ranges_on(MONDAY + timedelta(days=1)) == ()


def test_time_off_spanning_several_days_hides_every_slot_it_touches():
    tuesday, wednesday, thursday = (MONDAY + timedelta(days=n) for n in (1, 2, 3))
    leave = Interval(at(NEW_YORK, tuesday, "12:00"), at(NEW_YORK, thursday, "10:00"))
    calendar = ClinicianCalendar(1, NEW_YORK, weekly=every_day(hours("09:00", "17:00")), time_off=(leave,))

    by_day = wall_clock_by_day(offered(calendar, rules(), MONDAY, MONDAY + timedelta(days=4)), NEW_YORK)

    full = ["09:00", "10:00", "11:00", "12:00", "13:00", "14:00", "15:00", "16:00"]
    assert by_day[MONDAY] == full
    assert by_day[tuesday] == ["09:00", "10:00", "11:00"]  # 11:00-12:00 ends as the leave starts
    assert wednesday not in by_day
    assert by_day[thursday] == full[1:]  # from 10:00, as the leave ends
    assert by_day[MONDAY + timedelta(days=4)] == full


def test_time_off_across_the_spring_forward_weekend():
    leave = Interval(at(NEW_YORK, date(2026, 3, 6), "12:00"), at(NEW_YORK, date(2026, 3, 9), "11:00"))
    calendar = ClinicianCalendar(1, NEW_YORK, weekly=every_day(hours("09:00", "13:00")), time_off=(leave,))

    by_day = wall_clock_by_day(offered(calendar, rules(), date(2026, 3, 5), date(2026, 3, 10)), NEW_YORK)

    assert by_day == {
        date(2026, 3, 5): ["09:00", "10:00", "11:00", "12:00"],
        date(2026, 3, 6): ["09:00", "10:00", "11:00"],
        date(2026, 3, 9): ["11:00", "12:00"],
        date(2026, 3, 10): ["09:00", "10:00", "11:00", "12:00"],
    }


# ----------------------------------------------------------------------------------
# The grid follows the clinician's clock
# ----------------------------------------------------------------------------------


def test_grid_is_aligned_to_the_local_clock_not_to_now():
    calendar = ClinicianCalendar(1, NEW_YORK, weekly=every_day(hours("09:00", "12:00")))
    now = at(NEW_YORK, MONDAY, "09:07") + timedelta(seconds=33, microseconds=123)

    starts = wall_clock_by_day(offered(calendar, rules(duration=30, grid=15), MONDAY, now=now), NEW_YORK)[MONDAY]

    assert starts == ["09:15", "09:30", "09:45", "10:00", "10:15", "10:30", "10:45", "11:00", "11:15", "11:30"]


def test_grid_is_aligned_to_the_local_clock_when_notice_lands_between_grid_points():
    calendar = ClinicianCalendar(1, NEW_YORK, weekly=every_day(hours("09:00", "12:00")))
    now = at(NEW_YORK, MONDAY, "09:07")

    starts = wall_clock_by_day(
        offered(calendar, rules(duration=30, grid=15, min_notice=timedelta(hours=2)), MONDAY, now=now), NEW_YORK
    )[MONDAY]

    assert starts == ["11:15", "11:30"]


def test_working_hours_starting_off_grid_begin_at_the_next_grid_point():
    calendar = ClinicianCalendar(1, NEW_YORK, weekly=every_day(hours("09:10", "11:00")))

    assert wall_clock_by_day(offered(calendar, rules(duration=30, grid=30), MONDAY), NEW_YORK)[MONDAY] == [
        "09:30",
        "10:00",
        "10:30",
    ]


def test_hourly_grid_in_kolkata_sits_on_the_local_hour_not_the_utc_hour():
    calendar = ClinicianCalendar(1, KOLKATA, weekly=every_day(hours("09:00", "12:00")))

    slots = offered(calendar, rules(), MONDAY)

    assert [s.start_dt for s in slots] == [
        datetime(2026, 6, 15, 3, 30, tzinfo=UTC),
        datetime(2026, 6, 15, 4, 30, tzinfo=UTC),
        datetime(2026, 6, 15, 5, 30, tzinfo=UTC),
    ]


def test_overlapping_ranges_on_one_day_offer_each_start_once():
    calendar = ClinicianCalendar(1, NEW_YORK, weekly={0: (hours("09:00", "12:00"), hours("10:00", "13:00"))})

    slots = offered(calendar, rules(), MONDAY)

    assert wall_clock_by_day(slots, NEW_YORK)[MONDAY] == ["09:00", "10:00", "11:00", "12:00"]
    assert slots == sorted(slots)


def test_consultation_may_run_across_the_join_of_back_to_back_ranges():
    calendar = ClinicianCalendar(1, NEW_YORK, weekly={0: (hours("09:00", "12:00"), hours("12:00", "14:00"))})

    slots = offered(calendar, rules(duration=60, grid=30), MONDAY)

    assert wall_clock_by_day(slots, NEW_YORK)[MONDAY] == [
        "09:00",
        "09:30",
        "10:00",
        "10:30",
        "11:00",
        "11:30",
        "12:00",
        "12:30",
        "13:00",
    ]
    window = utc_window_for_local_dates(MONDAY, MONDAY, NEW_YORK)
    assert working_intervals(calendar, window) == [
        Interval(at(NEW_YORK, MONDAY, "09:00"), at(NEW_YORK, MONDAY, "14:00"))
    ]


def test_a_break_between_ranges_is_not_bridged():
    calendar = ClinicianCalendar(1, NEW_YORK, weekly={0: (hours("09:00", "12:00"), hours("12:15", "14:00"))})

    slots = offered(calendar, rules(duration=60, grid=30), MONDAY)

    assert wall_clock_by_day(slots, NEW_YORK)[MONDAY] == ["09:00", "09:30", "10:00", "10:30", "11:00", "12:30", "13:00"]


def test_slots_are_aware_utc_and_last_the_consultation_length():
    calendar = ClinicianCalendar(3, NEW_YORK, weekly=every_day(hours("09:00", "11:00")))

    slots = offered(calendar, rules(duration=50, grid=30), MONDAY)

    assert slots == [
        Slot(at(NEW_YORK, MONDAY, "09:00"), at(NEW_YORK, MONDAY, "09:50"), 3),
        Slot(at(NEW_YORK, MONDAY, "09:30"), at(NEW_YORK, MONDAY, "10:20"), 3),
        Slot(at(NEW_YORK, MONDAY, "10:00"), at(NEW_YORK, MONDAY, "10:50"), 3),
    ]
    assert all(s.start_dt.utcoffset() == timedelta(0) for s in slots)


# ----------------------------------------------------------------------------------
# First available across clinicians
# ----------------------------------------------------------------------------------


def first_available_team():
    new_york = ClinicianCalendar(2, NEW_YORK, weekly={0: (hours("09:00", "11:00"),)})  # 13:00-15:00 UTC
    london = ClinicianCalendar(1, LONDON, weekly={0: (hours("14:00", "16:00"),)})  # 13:00-15:00 UTC
    sydney = ClinicianCalendar(3, SYDNEY, weekly={1: (hours("08:00", "09:00"),)})  # Mon 22:00-23:00 UTC
    return [sydney, new_york, london]


def test_first_available_merges_every_clinician_in_start_then_id_order():
    window = utc_window_for_local_dates(MONDAY, MONDAY, UTC)

    slots = bookable_slots_for_all(first_available_team(), rules(), window, LONG_AGO)

    assert [(s.start_dt.strftime("%H:%M"), s.clinician_id) for s in slots] == [
        ("13:00", 1),
        ("13:00", 2),
        ("14:00", 1),
        ("14:00", 2),
        ("22:00", 3),
    ]
    assert slots == sorted(
        slot for calendar in first_available_team() for slot in bookable_slots(calendar, rules(), window, LONG_AGO)
    )


def test_first_available_drops_only_the_booked_clinician_from_a_shared_start():
    team = first_available_team()
    window = utc_window_for_local_dates(MONDAY, MONDAY, UTC)
    booked_london = ClinicianCalendar(
        1,
        LONDON,
        weekly=team[2].weekly,
        busy=(Interval(datetime(2026, 6, 15, 13, tzinfo=UTC), datetime(2026, 6, 15, 14, tzinfo=UTC)),),
    )

    slots = bookable_slots_for_all([team[0], team[1], booked_london], rules(), window, LONG_AGO)

    first_start = slots[0].start_dt
    assert first_start == datetime(2026, 6, 15, 13, tzinfo=UTC)
    assert [s.clinician_id for s in slots if s.start_dt == first_start] == [2]


def test_first_available_with_nobody_is_empty():
    window = utc_window_for_local_dates(MONDAY, MONDAY, UTC)

    assert bookable_slots_for_all([], rules(), window, LONG_AGO) == []


def test_first_available_booking_goes_to_the_least_booked_free_clinician():
    window = utc_window_for_local_dates(MONDAY, MONDAY, UTC)
    slots = bookable_slots_for_all(first_available_team(), rules(), window, LONG_AGO)
    free_at_first = [s.clinician_id for s in slots if s.start_dt == slots[0].start_dt]

    assert pick_fair_clinician({cid: {1: 4, 2: 1}[cid] for cid in free_at_first}) == 2


@pytest.mark.parametrize(
    ("counts", "chosen"),
    [
        pytest.param({1: 3, 2: 1, 3: 2}, 2, id="fewest-bookings-wins"),
        pytest.param({4: 2, 9: 2, 3: 2}, 3, id="tie-goes-to-lowest-id"),
        pytest.param({10: 0, 2: 5, 7: 0}, 7, id="tie-among-the-least-booked-only"),
        pytest.param({5: 9}, 5, id="only-one-free"),
    ],
)
def test_pick_fair_clinician(counts, chosen):
    assert pick_fair_clinician(counts) == chosen


def test_pick_fair_clinician_with_nobody_free_is_an_error():
    with pytest.raises(ValueError, match="no clinician"):
        pick_fair_clinician({})


# ----------------------------------------------------------------------------------
# Weeks and windows
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "moment", "monday", "length"),
    [
        pytest.param(
            NEW_YORK, datetime(2026, 3, 5, 15, tzinfo=UTC), date(2026, 3, 2), timedelta(hours=167), id="ny-spring-week"
        ),
        pytest.param(
            NEW_YORK,
            datetime(2026, 10, 29, 15, tzinfo=UTC),
            date(2026, 10, 26),
            timedelta(hours=169),
            id="ny-fall-week",
        ),
        pytest.param(
            NEW_YORK,
            datetime(2026, 6, 17, 15, tzinfo=UTC),
            date(2026, 6, 15),
            timedelta(hours=168),
            id="ny-ordinary-week",
        ),
        pytest.param(
            LONDON,
            datetime(2026, 3, 29, 12, tzinfo=UTC),
            date(2026, 3, 23),
            timedelta(hours=167),
            id="london-spring-week",
        ),
        pytest.param(
            LONDON,
            datetime(2026, 10, 25, 12, tzinfo=UTC),
            date(2026, 10, 19),
            timedelta(hours=169),
            id="london-fall-week",
        ),
        pytest.param(
            SYDNEY,
            datetime(2026, 4, 1, 0, tzinfo=UTC),
            date(2026, 3, 30),
            timedelta(hours=169),
            id="sydney-dst-ends-week",
        ),
        pytest.param(
            SYDNEY,
            datetime(2026, 10, 1, 0, tzinfo=UTC),
            date(2026, 9, 28),
            timedelta(hours=167),
            id="sydney-dst-starts-week",
        ),
        pytest.param(
            LORD_HOWE,
            datetime(2026, 10, 1, 0, tzinfo=UTC),
            date(2026, 9, 28),
            timedelta(hours=167, minutes=30),
            id="lord-howe-half-hour-week",
        ),
        # Sunday 23:30 EDT on the change day is still the week that started on 2 March ...
        pytest.param(
            NEW_YORK,
            datetime(2026, 3, 9, 3, 30, tzinfo=UTC),
            date(2026, 3, 2),
            timedelta(hours=167),
            id="ny-sunday-late-evening",
        ),
        # ... and Monday 00:00 local starts the next one.
        pytest.param(
            NEW_YORK,
            datetime(2026, 3, 9, 4, 0, tzinfo=UTC),
            date(2026, 3, 9),
            timedelta(hours=168),
            id="ny-monday-midnight",
        ),
    ],
)
def test_local_week_runs_monday_midnight_to_monday_midnight_local(zone, moment, monday, length):
    week = local_week(moment, zone)

    assert week.start_dt == local_to_utc(monday, time(0), zone)
    assert week.start_dt.astimezone(zone).replace(tzinfo=None) == datetime.combine(monday, time(0))
    assert week.end_dt.astimezone(zone).replace(tzinfo=None) == datetime.combine(monday + timedelta(days=7), time(0))
    assert week.end_dt - week.start_dt == length
    assert week.start_dt <= moment < week.end_dt


@pytest.mark.parametrize(
    ("zone", "first", "last", "length"),
    [
        pytest.param(NEW_YORK, date(2026, 3, 8), date(2026, 3, 8), timedelta(hours=23), id="ny-short-day"),
        pytest.param(NEW_YORK, date(2026, 11, 1), date(2026, 11, 1), timedelta(hours=25), id="ny-long-day"),
        pytest.param(NEW_YORK, date(2026, 3, 2), date(2026, 3, 8), timedelta(hours=167), id="ny-short-week"),
        pytest.param(LONDON, date(2026, 10, 19), date(2026, 10, 25), timedelta(hours=169), id="london-long-week"),
        pytest.param(UTC, date(2026, 3, 2), date(2026, 3, 8), timedelta(hours=168), id="utc-week"),
    ],
)
def test_utc_window_for_local_dates_covers_whole_local_days(zone, first, last, length):
    window = utc_window_for_local_dates(first, last, zone)

    assert window.start_dt == local_to_utc(first, time(0), zone)
    assert window.end_dt - window.start_dt == length


def test_working_intervals_only_include_hours_touching_the_window():
    calendar = ClinicianCalendar(7, SYDNEY, weekly=every_day(hours("09:00", "12:00")))
    la_sunday = utc_window_for_local_dates(date(2026, 1, 11), date(2026, 1, 11), LOS_ANGELES)

    intervals = working_intervals(calendar, la_sunday)

    # The LA Sunday (08:00 UTC Sun - 08:00 UTC Mon) holds Sydney Monday 09:00-12:00 AEDT only.
    assert intervals == [Interval(datetime(2026, 1, 11, 22, tzinfo=UTC), datetime(2026, 1, 12, 1, tzinfo=UTC))]


# ----------------------------------------------------------------------------------
# Value objects
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("start", "end"), [("10:00", "10:00"), ("10:00", "09:59"), ("23:00", "00:00")])
def test_time_range_must_end_after_it_starts(start, end):
    with pytest.raises(ValueError, match="end after it starts"):
        hours(start, end)


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        pytest.param((9, 10), (10, 11), False, id="touching-after"),
        pytest.param((10, 11), (9, 10), False, id="touching-before"),
        pytest.param((9, 11), (10, 12), True, id="crossing"),
        pytest.param((9, 12), (10, 11), True, id="containing"),
        pytest.param((9, 10), (11, 12), False, id="apart"),
    ],
)
def test_intervals_are_half_open(a, b, overlap):
    def interval(span):
        return Interval(datetime(2026, 6, 15, span[0], tzinfo=UTC), datetime(2026, 6, 15, span[1], tzinfo=UTC))

    assert interval(a).overlaps(interval(b)) is overlap
    assert interval(b).overlaps(interval(a)) is overlap


def test_blocked_interval_adds_both_buffers():
    start = datetime(2026, 6, 15, 14, tzinfo=UTC)
    slot_rules = rules(duration=50, buffer_before=timedelta(minutes=5), buffer_after=timedelta(minutes=10))

    assert slot_rules.blocked_interval(start) == Interval(start - timedelta(minutes=5), start + timedelta(minutes=60))


def test_daily_limit_counts_consultations_by_the_clinicians_local_date():
    """A 23:00 UTC consultation is the same New York day as a 14:00 UTC one (18:00 EST)."""
    zone = ZoneInfo("America/New_York")
    late = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)  # Tue 18:00 EST
    calendar = ClinicianCalendar(
        1,
        zone,
        weekly={day: (TimeRange(time(9), time(20)),) for day in range(7)},
        consultations=(Interval(late, late + timedelta(hours=1)),),
        max_per_day=1,
    )
    rules = SlotRules(duration=timedelta(hours=1), grid_minutes=60, horizon=timedelta(days=400))
    now = datetime(2026, 11, 1, tzinfo=UTC)
    tuesday = bookable_slots(
        calendar, rules, utc_window_for_local_dates(date(2026, 12, 1), date(2026, 12, 1), zone), now
    )
    wednesday = bookable_slots(
        calendar, rules, utc_window_for_local_dates(date(2026, 12, 2), date(2026, 12, 2), zone), now
    )
    assert tuesday == []
    assert len(wednesday) == 11


def test_minimum_gap_keeps_time_free_around_each_consultation():
    zone = ZoneInfo("UTC")
    booked = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    calendar = ClinicianCalendar(
        1,
        zone,
        weekly={day: (TimeRange(time(9), time(17)),) for day in range(7)},
        busy=(Interval(booked, booked + timedelta(hours=1)),),
        consultations=(Interval(booked, booked + timedelta(hours=1)),),
        min_gap=timedelta(minutes=30),
    )
    rules = SlotRules(duration=timedelta(hours=1), grid_minutes=30, horizon=timedelta(days=400))
    slots = bookable_slots(
        calendar,
        rules,
        utc_window_for_local_dates(date(2026, 12, 1), date(2026, 12, 1), zone),
        datetime(2026, 11, 1, tzinfo=UTC),
    )
    starts = {slot.start_dt.strftime("%H:%M") for slot in slots}
    assert "10:30" in starts and "11:00" not in starts and "13:00" not in starts and "13:30" in starts
