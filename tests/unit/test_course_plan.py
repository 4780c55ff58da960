"""User stories for the course planner (kapclinic.courses.plan).

A clinic proposes a KAP course (two preparations, then three dosing sessions each
followed by an integration 1-3 days later, dosing at least 6 days apart) with one
clinician: dates at the minimum spacing and one local wall time, across daylight-saving
changes too; a session that does not fit says why and offers alternatives that keep
every rule; staff-edited times and moves are checked the same way.

Zone facts used below (as in test_slots.py):
- New York: EST (UTC-5) until 2026-03-08 02:00, EDT (UTC-4) until 2026-11-01 02:00.
- London: GMT until 2026-03-29 01:00, BST (UTC+1) until 2026-10-25 02:00.
"""

import ast
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapclinic.core.timezones import local_to_utc
from kapclinic.courses import plan
from kapclinic.courses.plan import (
    DOSING,
    INTEGRATION,
    PREPARATION,
    CourseShape,
    Gap,
    Step,
    check,
    check_move,
    expand,
    propose,
    validate_steps,
)
from kapclinic.scheduling.slots import ClinicianCalendar, Interval, SlotRules, TimeRange

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)  # before every date below
FIRST_DAY = date(2026, 4, 6)  # a Monday; the course's five weeks hold no clock change
IDEAL_OFFSETS = [0, 1, 2, 3, 8, 9, 14, 15]  # days from the first session, at the minimum spacing
NINE_TO_FIVE = {weekday: (TimeRange(time(9), time(17)),) for weekday in range(7)}


def rules(minutes, **extra):
    extra.setdefault("horizon", timedelta(days=800))
    return SlotRules(duration=timedelta(minutes=minutes), grid_minutes=15, **extra)


RULES = {PREPARATION: rules(50), DOSING: rules(180), INTEGRATION: rules(50)}
STEPS = expand(CourseShape(), RULES)


def day(offset):
    return FIRST_DAY + timedelta(days=offset)


def at(local_day, wall, zone=NEW_YORK):
    return local_to_utc(local_day, time.fromisoformat(wall), zone)


def span(local_day, start, end, zone=NEW_YORK):
    return Interval(at(local_day, start, zone), at(local_day, end, zone))


def calendar(*bookings, zone=NEW_YORK, **extra):
    """A clinician working 09:00-17:00 every day, with bookings that have no buffers."""
    return ClinicianCalendar(1, zone, NINE_TO_FIVE, busy=bookings, consultations=bookings, **extra)


def ideal_starts(wall="14:00"):
    return [at(day(offset), wall) for offset in IDEAL_OFFSETS]


def problems(proposals):
    return {index: proposal.problem.code for index, proposal in enumerate(proposals) if proposal.problem}


def local(moment, zone=NEW_YORK):
    return f"{moment.astimezone(zone):%m-%d %H:%M}"


def assert_every_alternative_keeps_every_rule(steps, clinician, proposals, patient_busy=()):
    """Substitute each alternative: that session has no problem, and no other session gains one."""
    starts = [proposal.start_dt for proposal in proposals]
    had = problems(proposals)
    for index, proposal in enumerate(proposals):
        for alternative in proposal.alternatives:
            moved = check(steps, clinician, [*starts[:index], alternative, *starts[index + 1 :]], NOW, patient_busy)
            assert moved[index].problem is None, (index, alternative, moved[index].problem)
            assert problems(moved).items() <= had.items()
            assert check_move(steps, clinician, starts, index, alternative, NOW, patient_busy).problem is None


# ----------------------------------------------------------------------------------
# The template an admin edits
# ----------------------------------------------------------------------------------


def test_example_template_expands_to_eight_sessions_with_their_gaps():
    assert [(step.kind, step.gaps) for step in STEPS] == [
        (PREPARATION, ()),
        (PREPARATION, (Gap(0, 1),)),
        (DOSING, (Gap(1, 1),)),
        (INTEGRATION, (Gap(2, 1, 3),)),
        (DOSING, (Gap(3, 1), Gap(2, 6))),
        (INTEGRATION, (Gap(4, 1, 3),)),
        (DOSING, (Gap(5, 1), Gap(4, 6))),
        (INTEGRATION, (Gap(6, 1, 3),)),
    ]
    assert [step.rules for step in STEPS] == [RULES[step.kind] for step in STEPS]


def test_template_spaces_preparations_and_the_first_dosing_as_the_admin_says():
    steps = expand(CourseShape(preparation_count=3, cycles=1, min_days_after_preparation=7), RULES)

    assert [step.gaps for step in steps] == [(), (Gap(0, 7),), (Gap(1, 7),), (Gap(2, 7),), (Gap(3, 1, 3),)]


def test_course_without_preparation_starts_with_dosing():
    steps = expand(CourseShape(preparation_count=0, cycles=2), RULES)

    assert [(step.kind, step.gaps) for step in steps] == [
        (DOSING, ()),
        (INTEGRATION, (Gap(0, 1, 3),)),
        (DOSING, (Gap(1, 1), Gap(0, 6))),
        (INTEGRATION, (Gap(2, 1, 3),)),
    ]


def test_preparation_only_course_needs_no_dosing_rules():
    steps = expand(CourseShape(preparation_count=2, cycles=0), {PREPARATION: RULES[PREPARATION]})

    assert [(step.kind, step.gaps) for step in steps] == [(PREPARATION, ()), (PREPARATION, (Gap(0, 1),))]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"preparation_count": -1}, "preparation sessions must be a whole number"),
        ({"cycles": -2}, "cycles must be a whole number"),
        ({"cycles": 1.5}, "cycles must be a whole number"),
        ({"min_days_between_dosing": -1}, "days between dosing sessions"),
        ({"min_days_after_preparation": -1}, "days after a preparation session"),
        ({"integration_min_days": -1}, "days before integration"),
        ({"preparation_count": 0, "cycles": 0}, "at least one preparation session or one dosing cycle"),
        ({"integration_min_days": 4, "integration_max_days": 3}, "must not be after the latest"),
    ],
)
def test_admin_sees_why_a_template_is_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        expand(replace(CourseShape(), **changes), RULES)


def test_template_needs_rules_for_every_kind_of_session_it_uses():
    with pytest.raises(ValueError, match="no slot rules for integration sessions"):
        expand(CourseShape(), {PREPARATION: RULES[PREPARATION], DOSING: RULES[DOSING]})


@pytest.mark.parametrize(
    ("gaps", "message"),
    [
        ((Gap(1, 1),), "not before it"),
        ((Gap(2, 1),), "not before it"),
        ((Gap(-1, 1),), "not before it"),
        ((Gap(0, 3, 2),), "out of order"),
        ((Gap(0, -1),), "out of order"),
    ],
)
def test_steps_must_be_spaced_from_earlier_steps_only(gaps, message):
    steps = (Step(DOSING, RULES[DOSING]), Step(INTEGRATION, RULES[INTEGRATION], gaps))

    with pytest.raises(ValueError, match=message):
        validate_steps(steps)


def test_an_empty_course_is_refused():
    with pytest.raises(ValueError, match="at least one session"):
        validate_steps(())


def test_check_needs_one_start_per_session():
    with pytest.raises(ValueError, match="one start for each session"):
        check(STEPS, calendar(), ideal_starts()[:-1], NOW)


# ----------------------------------------------------------------------------------
# Proposing a course
# ----------------------------------------------------------------------------------


def test_free_clinician_gets_every_session_at_the_minimum_spacing_and_the_same_wall_time():
    proposals = propose(STEPS, calendar(), at(FIRST_DAY, "14:00"), NOW)

    assert [proposal.start_dt for proposal in proposals] == ideal_starts()
    assert [proposal.end_dt - proposal.start_dt for proposal in proposals] == [
        RULES[step.kind].duration for step in STEPS
    ]
    assert [proposal.kind for proposal in proposals] == [step.kind for step in STEPS]
    assert all(proposal.problem is None and proposal.alternatives == () for proposal in proposals)


def test_later_sessions_can_be_proposed_at_another_wall_time():
    proposals = propose(STEPS, calendar(), at(FIRST_DAY, "14:00"), NOW, wall_time=time(9, 30))

    assert [local(proposal.start_dt) for proposal in proposals] == [
        "04-06 14:00", "04-07 09:30", "04-08 09:30", "04-09 09:30",
        "04-14 09:30", "04-15 09:30", "04-20 09:30", "04-21 09:30",
    ]  # fmt: skip


def test_busy_clinician_on_the_ideal_dosing_day_flags_only_that_session_with_alternatives_that_keep_every_rule():
    clinician = calendar(span(day(8), "15:00", "16:00"))

    proposals = propose(STEPS, clinician, at(FIRST_DAY, "14:00"), NOW)

    assert problems(proposals) == {4: "clinician_busy"}
    assert proposals[4].start_dt == at(day(8), "14:00")  # kept where asked, not moved silently
    assert "another booking" in proposals[4].problem.message
    # Its integration the next day and the next dosing six days on pin it to that day: the
    # 180-minute session fits before the 15:00 booking, nearest to 14:00 first.
    assert [local(start) for start in proposals[4].alternatives] == [
        "04-14 12:00", "04-14 11:45", "04-14 11:30", "04-14 11:15", "04-14 11:00",
    ]  # fmt: skip
    assert_every_alternative_keeps_every_rule(STEPS, clinician, proposals)


def test_later_sessions_are_spaced_from_a_conflicting_session_as_requested():
    clinician = calendar(span(day(2), "09:00", "17:00"))

    proposals = propose(STEPS, clinician, at(FIRST_DAY, "14:00"), NOW)

    assert problems(proposals) == {2: "clinician_busy"}
    assert proposals[2].alternatives == ()  # its whole allowed window (one day) is taken
    assert [proposal.start_dt for proposal in proposals] == ideal_starts()


def test_alternatives_prefer_the_same_wall_time_on_other_allowed_days():
    clinician = calendar(span(day(15), "14:00", "14:50"))

    proposals = propose(STEPS, clinician, at(FIRST_DAY, "14:00"), NOW)

    assert problems(proposals) == {7: "clinician_busy"}
    # The last integration may be 1-3 days after its dosing (days 15-17): 14:00 on the
    # other two days, then the nearest times on the requested day (a tie goes earlier).
    assert [local(start) for start in proposals[7].alternatives] == [
        "04-22 14:00", "04-23 14:00", "04-21 13:00", "04-21 15:00", "04-21 12:45",
    ]  # fmt: skip
    assert_every_alternative_keeps_every_rule(STEPS, clinician, proposals)


def test_a_busy_first_session_is_offered_the_same_time_on_the_days_before_the_second():
    clinician = calendar(span(FIRST_DAY, "13:00", "15:00"))

    proposals = propose(STEPS, clinician, at(FIRST_DAY, "14:00"), NOW)

    assert problems(proposals) == {0: "clinician_busy"}
    assert [local(start) for start in proposals[0].alternatives] == [
        "04-05 14:00", "04-04 14:00", "04-03 14:00", "04-02 14:00", "04-01 14:00",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("free_day", "expected"),
    [
        pytest.param(day(7), ["04-13 14:00"], id="a-week-on-is-searched"),
        pytest.param(day(8), [], id="further-is-not"),
    ],
)
def test_an_open_window_is_searched_a_week_either_side_never_a_year(free_day, expected):
    steps = (Step(DOSING, RULES[DOSING]),)
    away = (
        Interval(at(day(-60), "00:00"), at(free_day, "00:00")),
        Interval(at(free_day, "17:00"), at(day(60), "00:00")),
    )
    clinician = calendar(time_off=away)

    (proposal,) = check(steps, clinician, [at(FIRST_DAY, "14:00")], NOW)

    assert proposal.problem.code == "clinician_busy"
    assert [local(start) for start in proposal.alternatives[:1]] == expected


def test_fewer_free_times_than_three_gives_what_there_is():
    clinician = calendar(span(day(8), "09:00", "10:15"), span(day(8), "13:30", "17:00"))

    proposals = propose(STEPS, clinician, at(FIRST_DAY, "14:00"), NOW)

    assert problems(proposals) == {4: "clinician_busy"}
    assert [local(start) for start in proposals[4].alternatives] == ["04-14 10:30", "04-14 10:15"]


def test_patient_busy_at_a_session_is_flagged_and_alternatives_avoid_the_commitment():
    appointment = span(day(3), "13:30", "15:00")
    clinician = calendar()

    proposals = propose(STEPS, clinician, at(FIRST_DAY, "14:00"), NOW, patient_busy=(appointment,))

    assert problems(proposals) == {3: "patient_busy"}
    assert [local(start) for start in proposals[3].alternatives] == [
        "04-10 14:00", "04-11 14:00", "04-09 15:00", "04-09 15:15", "04-09 12:30",
    ]  # fmt: skip
    assert_every_alternative_keeps_every_rule(STEPS, clinician, proposals, (appointment,))


def test_full_day_under_the_daily_limit_is_flagged_and_alternatives_are_on_other_days():
    clinician = calendar(span(day(15), "09:00", "09:50"), max_per_day=1)

    proposals = propose(STEPS, clinician, at(FIRST_DAY, "14:00"), NOW)

    assert problems(proposals) == {7: "clinician_busy"}
    assert "day is full" in proposals[7].problem.message
    assert [local(start) for start in proposals[7].alternatives[:2]] == ["04-22 14:00", "04-23 14:00"]
    assert all(start.astimezone(NEW_YORK).date() != day(15) for start in proposals[7].alternatives)
    assert_every_alternative_keeps_every_rule(STEPS, clinician, proposals)


@pytest.mark.parametrize(
    ("buffer_before", "expected"),
    [
        pytest.param(timedelta(0), {}, id="no-buffer-fits-after-the-booking"),
        pytest.param(timedelta(minutes=15), {4: "clinician_busy"}, id="buffer-runs-into-the-booking"),
    ],
)
def test_buffers_keep_a_session_clear_of_the_booking_before_it(buffer_before, expected):
    steps = expand(CourseShape(), {**RULES, DOSING: rules(180, buffer_before=buffer_before)})
    clinician = calendar(span(day(8), "13:00", "13:50"))

    proposals = propose(steps, clinician, at(FIRST_DAY, "14:00"), NOW)

    assert problems(proposals) == expected
    assert_every_alternative_keeps_every_rule(steps, clinician, proposals)


def test_clinicians_minimum_gap_between_consultations_counts():
    clinician = calendar(span(day(8), "13:00", "13:50"), min_gap=timedelta(minutes=15))

    assert problems(propose(STEPS, clinician, at(FIRST_DAY, "14:00"), NOW)) == {4: "clinician_busy"}


def test_time_off_is_the_clinician_being_away():
    clinician = calendar(time_off=(Interval(at(day(9), "00:00"), at(day(10), "00:00")),))

    proposals = propose(STEPS, clinician, at(FIRST_DAY, "14:00"), NOW)

    assert problems(proposals) == {5: "clinician_busy"}
    assert "away" in proposals[5].problem.message
    assert [local(start) for start in proposals[5].alternatives[:2]] == ["04-16 14:00", "04-17 14:00"]


# ----------------------------------------------------------------------------------
# Staff-edited times and moves
# ----------------------------------------------------------------------------------


def test_staff_edited_integration_four_days_after_dosing_is_too_late():
    starts = ideal_starts()
    starts[3] = at(day(6), "14:00")  # four days after its dosing on day 2

    proposals = check(STEPS, calendar(), starts, NOW)

    assert problems(proposals) == {3: "too_late"}
    assert proposals[3].problem.message == (
        "This integration session must be at most 3 days after the dosing session on Wednesday, April 8, 2026."
    )
    # Days 3-5 keep it within three days of its dosing and a day before the next dosing.
    assert [local(start) for start in proposals[3].alternatives[:3]] == ["04-11 14:00", "04-10 14:00", "04-09 14:00"]


def test_staff_edited_dosing_five_days_after_the_last_is_too_soon():
    starts = ideal_starts()
    starts[4] = at(day(7), "14:00")

    proposals = check(STEPS, calendar(), starts, NOW)

    assert problems(proposals) == {4: "too_soon"}
    assert "at least 6 days after the dosing session on" in proposals[4].problem.message


def test_sessions_of_one_course_do_not_overlap_counting_their_buffers():
    first = rules(50, buffer_after=timedelta(minutes=15))
    steps = (Step(PREPARATION, first), Step(INTEGRATION, rules(50), (Gap(0, 0, 0),)))
    start = at(FIRST_DAY, "10:00")

    overlapping = check(steps, calendar(), [start, at(FIRST_DAY, "10:55")], NOW)
    clear = check(steps, calendar(), [start, at(FIRST_DAY, "11:15")], NOW)

    assert problems(overlapping) == {1: "overlaps_another_session_of_this_course"}
    assert all(alternative >= at(FIRST_DAY, "11:05") for alternative in overlapping[1].alternatives)
    assert problems(clear) == {}


@pytest.mark.parametrize(
    ("limits", "second_start", "nearest"),
    [
        pytest.param({"max_per_day": 1}, "14:00", ["04-07 14:00", "04-07 09:00"], id="daily-limit"),
        pytest.param({"min_gap": timedelta(minutes=30)}, "11:00", ["04-07 11:00", "04-06 11:30"], id="minimum-gap"),
    ],
)
def test_the_clinicians_daily_limit_and_minimum_gap_count_the_courses_own_sessions(limits, second_start, nearest):
    steps = (Step(PREPARATION, RULES[PREPARATION]), Step(INTEGRATION, RULES[INTEGRATION], (Gap(0, 0, 1),)))
    starts = [at(FIRST_DAY, "10:00"), at(FIRST_DAY, second_start)]

    proposals = check(steps, calendar(**limits), starts, NOW)

    assert problems(proposals) == {1: "clinician_busy"}
    assert [local(start) for start in proposals[1].alternatives[:2]] == nearest
    assert_every_alternative_keeps_every_rule(steps, calendar(**limits), proposals)


SOON = date(2026, 1, 20)  # inside the 30-day horizon below


@pytest.mark.parametrize(
    ("start", "code"),
    [
        pytest.param(at(SOON, "15:00"), "outside_hours", id="ends-after-five"),
        pytest.param(at(SOON, "07:00"), "outside_hours", id="before-nine"),
        pytest.param(at(SOON, "10:07"), "off_grid", id="off-the-quarter-hour"),
        pytest.param(at(SOON, "14:00"), None, id="fits"),
        pytest.param(NOW + timedelta(hours=2), "past_notice", id="inside-the-notice"),
        pytest.param(NOW - timedelta(days=1), "past_notice", id="already-passed"),
        pytest.param(NOW + timedelta(days=30, hours=2), "beyond_horizon", id="beyond-the-horizon"),
    ],
)
def test_a_staff_edited_time_the_clinic_does_not_offer_says_why(start, code):
    steps = (Step(DOSING, rules(180, min_notice=timedelta(days=1), horizon=timedelta(days=30))),)

    (proposal,) = check(steps, calendar(), [start], NOW)

    assert (proposal.problem and proposal.problem.code) == code


def test_moving_a_session_into_free_time_within_its_window_is_fine():
    starts = ideal_starts()

    moved = check_move(STEPS, calendar(), starts, 7, at(day(17), "10:00"), NOW)

    assert moved.problem is None and moved.start_dt == at(day(17), "10:00")


def test_moving_a_dosing_past_its_integration_is_too_late_for_the_dosing():
    moved = check_move(STEPS, calendar(), ideal_starts(), 2, at(day(3), "10:00"), NOW)

    assert moved.problem.code == "too_late"
    assert "at least 1 day before the integration session on" in moved.problem.message


def test_moving_a_dosing_earlier_than_its_integration_allows_is_too_soon():
    steps = (Step(DOSING, RULES[DOSING]), Step(INTEGRATION, RULES[INTEGRATION], (Gap(0, 1, 3),)))
    starts = [at(day(0), "14:00"), at(day(3), "14:00")]

    moved = check_move(steps, calendar(), starts, 0, at(day(-1), "14:00"), NOW)

    assert moved.problem.code == "too_soon"
    assert "at most 3 days before the integration session on" in moved.problem.message


def test_moving_onto_a_later_session_of_the_course_is_an_overlap():
    steps = (Step(PREPARATION, RULES[PREPARATION]), Step(INTEGRATION, RULES[INTEGRATION], (Gap(0, 0, 2),)))
    starts = [at(day(0), "10:00"), at(day(1), "10:00")]

    moved = check_move(steps, calendar(), starts, 0, at(day(1), "10:30"), NOW)
    checked = check(steps, calendar(), [at(day(1), "10:30"), starts[1]], NOW)

    assert moved.problem.code == "overlaps_another_session_of_this_course"
    assert problems(checked) == {1: "overlaps_another_session_of_this_course"}  # check() flags the later one


def test_a_move_counts_the_other_sessions_once_when_they_are_already_booked():
    steps = (Step(PREPARATION, RULES[PREPARATION]), Step(INTEGRATION, RULES[INTEGRATION], (Gap(0, 0, 2),)))
    starts = [at(day(0), "10:00"), at(day(1), "10:00")]
    booked = Interval(starts[0], starts[0] + RULES[PREPARATION].duration)
    clinician = calendar(booked, max_per_day=2)  # the moving session's own booking left out

    moved = check_move(steps, clinician, starts, 1, at(day(0), "14:00"), NOW)

    assert moved.problem is None  # the preparation that day counts once, not twice, against the limit of two
    assert check_move(steps, replace(clinician, max_per_day=1), starts, 1, at(day(0), "14:00"), NOW).problem


# ----------------------------------------------------------------------------------
# Daylight-saving changes: one wall time for the whole course
# ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "first_day", "change"),
    [
        pytest.param(NEW_YORK, date(2026, 10, 24), date(2026, 11, 1), id="new-york-fall-back"),
        pytest.param(NEW_YORK, date(2026, 2, 28), date(2026, 3, 8), id="new-york-spring-forward"),
        pytest.param(LONDON, date(2026, 3, 21), date(2026, 3, 29), id="london-spring-forward"),
        pytest.param(LONDON, date(2026, 10, 17), date(2026, 10, 25), id="london-fall-back"),
    ],
)
def test_a_two_pm_course_stays_two_pm_local_across_the_clock_change(zone, first_day, change):
    proposals = propose(STEPS, calendar(zone=zone), at(first_day, "14:00", zone), NOW)

    locals_ = [proposal.start_dt.astimezone(zone) for proposal in proposals]
    assert [moment.date() for moment in locals_] == [first_day + timedelta(days=n) for n in IDEAL_OFFSETS]
    assert change in [moment.date() for moment in locals_]  # a session on the change day itself
    assert {moment.time() for moment in locals_} == {time(14)}
    assert len({moment.utcoffset() for moment in locals_}) == 2
    assert all(proposal.start_dt.tzinfo is UTC for proposal in proposals)
    assert problems(proposals) == {}


def test_alternatives_across_a_clock_change_keep_the_wall_time():
    first_day = date(2026, 10, 16)  # the last integration's window is Oct 31 (EDT) to Nov 2 (EST)
    clinician = calendar(span(date(2026, 10, 31), "14:00", "15:00"))

    proposals = propose(STEPS, clinician, at(first_day, "14:00"), NOW)

    assert problems(proposals) == {7: "clinician_busy"}
    assert f"{proposals[7].start_dt.astimezone(NEW_YORK):%m-%d %H:%M %Z}" == "10-31 14:00 EDT"
    assert [f"{start.astimezone(NEW_YORK):%m-%d %H:%M %Z}" for start in proposals[7].alternatives[:2]] == [
        "11-01 14:00 EST",
        "11-02 14:00 EST",
    ]


# ----------------------------------------------------------------------------------
# Properties and shape of the module
# ----------------------------------------------------------------------------------

busy_spans = st.tuples(st.integers(0, 20), st.integers(9 * 4, 16 * 4), st.integers(2, 16))  # day, quarter, quarters


def _spans(drawn):
    midnight = {offset: at(day(offset), "00:00") for offset, _, _ in drawn}
    return tuple(
        Interval(midnight[offset] + timedelta(minutes=15 * quarter), midnight[offset] + timedelta(minutes=15 * end))
        for offset, quarter, end in ((offset, quarter, quarter + length) for offset, quarter, length in drawn)
    )


@settings(max_examples=50, deadline=None, database=None)
@given(
    st.lists(busy_spans, max_size=25),
    st.lists(busy_spans, max_size=4),
    st.one_of(st.none(), st.integers(1, 3)),
    st.sampled_from([0, 10]),
    st.sampled_from([0, 15]),
)
def test_every_alternative_passes_check(bookings, commitments, max_per_day, min_gap, buffer_after):
    steps = expand(CourseShape(), {**RULES, DOSING: rules(180, buffer_after=timedelta(minutes=buffer_after))})
    clinician = calendar(*sorted(_spans(bookings)), max_per_day=max_per_day, min_gap=timedelta(minutes=min_gap))
    patient_busy = _spans(commitments)

    proposals = propose(steps, clinician, at(FIRST_DAY, "14:00"), NOW, patient_busy)

    assert [proposal.start_dt for proposal in proposals] == ideal_starts()
    for proposal in proposals:
        assert len(proposal.alternatives) == len(set(proposal.alternatives)) <= plan.ALTERNATIVES
        assert (proposal.problem is None) <= (proposal.alternatives == ())
    assert_every_alternative_keeps_every_rule(steps, clinician, proposals, patient_busy)


def test_the_planner_is_pure():
    tree = ast.parse(Path(plan.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}

    assert {name for name in imported if name.startswith("kapclinic")} <= {
        "kapclinic.core.timezones",
        "kapclinic.scheduling.slots",
    }
    assert not {name.split(".")[0] for name in imported} & {"flask", "sqlalchemy", "wtforms", "werkzeug"}
