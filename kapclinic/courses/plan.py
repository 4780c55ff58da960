"""The course planner: dates and times for a treatment course's sessions with one clinician.

Pure module (no Flask, no database), like scheduling.slots: callers pass the steps, the
clinician's calendar, `now` and the patient's other commitments. Spacing is counted in
local calendar days in the clinician's zone ("1-3 days later" is a date difference of 1,
2 or 3), and every session keeps the first one's local wall time, so a 14:00 series stays
14:00 across a daylight-saving change.

Nothing is moved silently: a session that does not fit keeps its time, says why (one
Problem), and offers alternatives that keep every gap to the other sessions as they
stand. Free time comes from bookable_slots, so the planner and the booking service
agree on hours, time off, buffers, the daily limit and the minimum gap.

The course's own sessions are passed as `starts`, not in the calendar. A session that
is already booked (and so also in the calendar) is not counted twice.
"""

import heapq
from bisect import bisect_left
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from operator import attrgetter

from kapclinic.core.timezones import day_title, local_to_utc
from kapclinic.scheduling.slots import Interval, SlotRules, bookable_slots, utc_window_for_local_dates

PREPARATION, DOSING, INTEGRATION = "preparation", "dosing", "integration"
ALTERNATIVES = 5  # offered for each session with a problem
SEARCH_DAYS = 7  # a window open on one side is searched this many days from the request, never a year
_PAD = timedelta(days=2)  # bookings this far outside a window still touch its local dates (daily limit)


@dataclass(frozen=True)
class Gap:
    """This step's local date is min_days..max_days (None: no limit) days after step `after`'s."""

    after: int
    min_days: int
    max_days: int | None = None


@dataclass(frozen=True)
class Step:
    """One session of a course: its session type's key, that type's slot rules, and its spacing."""

    kind: str
    rules: SlotRules
    gaps: tuple[Gap, ...] = ()


@dataclass(frozen=True)
class CourseShape:
    """The template an admin edits; expand() turns it into steps."""

    preparation_count: int = 2
    cycles: int = 3
    integration_min_days: int = 1
    integration_max_days: int = 3
    min_days_between_dosing: int = 6
    min_days_after_preparation: int = 1  # between preparations, and from the last one to the first dosing


@dataclass(frozen=True)
class Problem:
    """Why a session cannot stay where it is: a code for programs and a sentence for people."""

    code: str
    message: str


@dataclass(frozen=True)
class Proposal:
    """One session as requested (aware UTC), its problem if any, and free starts to offer instead."""

    kind: str
    start_dt: datetime
    end_dt: datetime
    problem: Problem | None = None
    alternatives: tuple[datetime, ...] = ()


def expand(shape, rules_by_kind):
    """Return the steps of a course shape: preparations, then cycles of dosing and integration."""
    _validate_shape(shape)
    steps, last_dosing = [], None

    def add(kind, *gaps):
        if kind not in rules_by_kind:
            raise ValueError(f"There are no slot rules for {kind} sessions.")
        steps.append(Step(kind, rules_by_kind[kind], gaps))

    for _ in range(shape.preparation_count):
        add(PREPARATION, *([Gap(len(steps) - 1, shape.min_days_after_preparation)] if steps else []))
    for _ in range(shape.cycles):
        gaps = []
        if steps:  # a day after the last preparation or integration, whichever came before
            after_preparation = steps[-1].kind == PREPARATION
            gaps.append(Gap(len(steps) - 1, shape.min_days_after_preparation if after_preparation else 1))
        if last_dosing is not None:
            gaps.append(Gap(last_dosing, shape.min_days_between_dosing))
        add(DOSING, *gaps)
        last_dosing = len(steps) - 1
        add(INTEGRATION, Gap(last_dosing, shape.integration_min_days, shape.integration_max_days))
    return tuple(steps)


def _validate_shape(shape):
    counts = {
        "preparation sessions": shape.preparation_count,
        "cycles": shape.cycles,
        "days before integration": shape.integration_min_days,
        "days until integration": shape.integration_max_days,
        "days between dosing sessions": shape.min_days_between_dosing,
        "days after a preparation session": shape.min_days_after_preparation,
    }
    for name, value in counts.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"The number of {name} must be a whole number, 0 or more.")
    if shape.preparation_count + shape.cycles == 0:
        raise ValueError("A course needs at least one preparation session or one dosing cycle.")
    if shape.integration_min_days > shape.integration_max_days:
        raise ValueError("The earliest day for integration must not be after the latest.")


def validate_steps(steps):
    """Raise ValueError unless every gap points to an earlier step and its limits make sense."""
    if not steps:
        raise ValueError("A course needs at least one session.")
    for index, step in enumerate(steps):
        for gap in step.gaps:
            if not 0 <= gap.after < index:
                raise ValueError(f"Session {index + 1} is spaced from session {gap.after + 1}, which is not before it.")
            if gap.min_days < 0 or (gap.max_days is not None and gap.max_days < gap.min_days):
                raise ValueError(f"Session {index + 1} has a gap whose days are out of order.")
    return tuple(steps)


def propose(steps, calendar, first_start, now, patient_busy=(), wall_time=None):
    """Place step 0 at first_start and each later step on the earliest local date its gaps allow.

    Later steps start at `wall_time` (default: first_start's local wall time) in the
    clinician's zone, spaced from the requested dates of earlier steps even when those
    have a problem; then every session is checked as check() does.
    """
    validate_steps(steps)
    zone = calendar.zone
    first_local = first_start.astimezone(zone)
    wall_time = wall_time or first_local.time()
    days, starts = [first_local.date()], [first_start]
    for step in steps[1:]:
        day = max((days[gap.after] + timedelta(days=gap.min_days) for gap in step.gaps), default=days[-1])
        days.append(day)
        starts.append(local_to_utc(day, wall_time, zone))
    return check(steps, calendar, starts, now, patient_busy)


def check(steps, calendar, starts, now, patient_busy=()):
    """Return a Proposal for each of `starts` (staff-edited, or at commit): spacing, timing and freedom.

    A session is spaced from, and must not overlap, the sessions before it; an overlap is
    reported on the later session only. Alternatives avoid every other session.
    """
    plan = _Plan(steps, calendar, starts, now, patient_busy)
    return tuple(plan.review(index, whole_course=False) for index in range(len(steps)))


def check_move(steps, calendar, starts, index, new_start, now, patient_busy=()):
    """Return the Proposal for moving session `index` to new_start, the other sessions staying.

    Spacing is checked both ways (its own gaps, and later sessions' gaps to it). The
    session's own current booking must not be in `calendar` (load it without that
    booking), or the session would find itself busy; the other sessions may be in it.
    """
    starts = list(starts)
    starts[index] = new_start
    return _Plan(steps, calendar, starts, now, patient_busy).review(index, whole_course=True)


def move_options(steps, calendar, starts, index, now, patient_busy=(), limit=12):
    """Free starts session `index` may move to, keeping every gap to the others: what a move page offers.

    As check_move, the session's own booking must not be in `calendar`.
    """
    return _Plan(steps, calendar, starts, now, patient_busy).alternatives(index, limit)


class _Sorted:
    """Intervals sorted by start: the few near a window are found by bisection, not by scanning a year."""

    def __init__(self, intervals):
        self.items = sorted(intervals, key=attrgetter("start_dt"))
        self.starts = [item.start_dt for item in self.items]
        self.longest = max((item.end_dt - item.start_dt for item in self.items), default=timedelta(0))

    def near(self, low, high):
        """Return the intervals overlapping [low, high)."""
        first, last = bisect_left(self.starts, low - self.longest), bisect_left(self.starts, high)
        return tuple(item for item in self.items[first:last] if item.end_dt > low)


class _Plan:
    """One course's sessions as they stand, and the clinician's calendar indexed for windows of a few days."""

    def __init__(self, steps, calendar, starts, now, patient_busy):
        self.steps = validate_steps(steps)
        if len(starts) != len(steps):
            raise ValueError("There must be one start for each session.")
        self.calendar, self.zone, self.now = calendar, calendar.zone, now
        self.starts = list(starts)
        self.days = [start.astimezone(self.zone).date() for start in starts]
        self.busy, self.consultations, self.time_off = (
            _Sorted(calendar.busy),
            _Sorted(calendar.consultations),
            _Sorted(calendar.time_off),
        )
        self.patient = _Sorted(patient_busy)

    def review(self, index, whole_course):
        """Return the Proposal for session `index`: against earlier sessions, or all of them."""
        step, start = self.steps[index], self.starts[index]
        others = [other for other in range(len(self.steps)) if other != index and (whole_course or other < index)]
        problem = (
            self._spacing(index, whole_course)
            or self._timing(step.rules, start)
            or self._overlap(step.rules, start, others)
            or self._patient_clash(step.rules, start)
            or self._clinician(step.rules, start, others)
        )
        alternatives = self.alternatives(index) if problem else ()
        return Proposal(step.kind, start, start + step.rules.duration, problem, alternatives)

    def _gaps_on(self, index):
        """Yield (gap, other step, sign): +1 for this step's own gaps, -1 for later steps' gaps to it."""
        for gap in self.steps[index].gaps:
            yield gap, gap.after, 1
        for later in range(index + 1, len(self.steps)):
            for gap in self.steps[later].gaps:
                if gap.after == index:
                    yield gap, later, -1

    def _spacing(self, index, both_ways):
        for gap, other, sign in self._gaps_on(index):
            if sign < 0 and not both_ways:
                continue
            apart = (self.days[index] - self.days[other]).days * sign
            if apart < gap.min_days:
                code, limit = ("too_soon" if sign > 0 else "too_late"), f"at least {_days(gap.min_days)}"
            elif gap.max_days is not None and apart > gap.max_days:
                code, limit = ("too_late" if sign > 0 else "too_soon"), f"at most {_days(gap.max_days)}"
            else:
                continue
            return Problem(
                code,
                f"This {self.steps[index].kind} session must be {limit} {'after' if sign > 0 else 'before'} "
                f"the {self.steps[other].kind} session on {day_title(self.days[other])}.",
            )
        return None

    def _timing(self, rules, start):
        if start < self.now + rules.min_notice:
            return Problem("past_notice", "This time has passed or is too soon to book.")
        if start >= self.now + rules.horizon:
            return Problem("beyond_horizon", "This time is further ahead than bookings are open.")
        return None

    def _overlap(self, rules, start, others):
        blocked = rules.blocked_interval(start)
        for other in others:
            step = self.steps[other]
            if blocked.overlaps(step.rules.blocked_interval(self.starts[other])):
                return Problem(
                    "overlaps_another_session_of_this_course",
                    f"This overlaps the {step.kind} session of this course on {day_title(self.days[other])}.",
                )
        return None

    def _patient_clash(self, rules, start):
        if self.patient.near(start, start + rules.duration):
            return Problem("patient_busy", "The patient has something else at this time.")
        return None

    def _clinician(self, rules, start, others):
        """Return None when bookable_slots offers `start`, else say which of the clinician's rules it breaks."""
        calendar = self._calendar_for(Interval(start, start + rules.duration), rules, others)
        if self._offers(calendar, rules, start):
            return None
        local = start.astimezone(self.zone)
        if local.second or local.microsecond or (local.hour * 60 + local.minute) % rules.grid_minutes:
            return Problem("off_grid", f"Sessions start every {rules.grid_minutes} minutes on the clinician's clock.")
        if not self._offers(replace(calendar, busy=(), consultations=(), time_off=()), rules, start):
            return Problem("outside_hours", "This is outside the clinician's working hours.")
        if not self._offers(replace(calendar, busy=(), consultations=()), rules, start):
            return Problem("clinician_busy", "The clinician is away at this time.")
        if self._offers(replace(calendar, max_per_day=None), rules, start):
            return Problem("clinician_busy", "The clinician's day is full: no more sessions that day.")
        return Problem("clinician_busy", "The clinician has another booking at or near this time.")

    def _offers(self, calendar, rules, start):
        window = Interval(start, start + timedelta(minutes=1))
        return any(slot.start_dt == start for slot in bookable_slots(calendar, rules, window, self.now))

    def _calendar_for(self, window, rules, others):
        """The calendar cut to what can touch `window`, with the course's `others` sessions as bookings."""
        pad = _PAD + rules.duration + rules.buffer_before + rules.buffer_after + self.calendar.min_gap
        low, high = window.start_dt - pad, window.end_dt + pad
        busy, consultations = self.busy.near(low, high), self.consultations.near(low, high)
        known_busy, known_consultations = set(busy), set(consultations)
        for other in others:
            other_rules, other_start = self.steps[other].rules, self.starts[other]
            blocked = other_rules.blocked_interval(other_start)
            consultation = Interval(other_start, other_start + other_rules.duration)
            if blocked not in known_busy:  # an already booked session is in the calendar: not twice
                busy += (blocked,)
            if consultation not in known_consultations:
                consultations += (consultation,)
        return replace(self.calendar, busy=busy, consultations=consultations, time_off=self.time_off.near(low, high))

    def _date_window(self, index):
        """Return the local dates (first, last) that keep every gap to the other sessions as they stand.

        A side no gap bounds is searched SEARCH_DAYS from the request (or the other bound).
        """
        lows, highs = [], []
        for gap, other, sign in self._gaps_on(index):
            (lows if sign > 0 else highs).append(self.days[other] + timedelta(days=gap.min_days * sign))
            if gap.max_days is not None:
                (highs if sign > 0 else lows).append(self.days[other] + timedelta(days=gap.max_days * sign))
        requested, search = self.days[index], timedelta(days=SEARCH_DAYS)
        first = max(lows) if lows else min([requested, *highs]) - search
        last = min(highs) if highs else max([requested, *lows]) + search
        return first, last

    def alternatives(self, index, limit=ALTERNATIVES):
        """Return free starts within the session's date window, the same wall time on other days first."""
        step, requested = self.steps[index], self.starts[index]
        rules = step.rules
        first, last = self._date_window(index)
        first = max(first, (self.now + rules.min_notice).astimezone(self.zone).date())
        last = min(last, (self.now + rules.horizon).astimezone(self.zone).date())
        if first > last:
            return ()
        window = utc_window_for_local_dates(first, last, self.zone)
        others = [other for other in range(len(self.steps)) if other != index]
        calendar = self._calendar_for(window, rules, others)
        wall_time = requested.astimezone(self.zone).time()
        ranked = (
            (start.astimezone(self.zone).time() != wall_time, abs(start - requested), start)
            for start, end_dt, _ in bookable_slots(calendar, rules, window, self.now).starts()
            if start != requested and not self.patient.near(start, end_dt)
        )
        return tuple(start for _, _, start in heapq.nsmallest(limit, ranked))


def _days(count):
    return f"{count} day{'' if count == 1 else 's'}"
