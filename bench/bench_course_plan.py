"""The course planner alone: proposing a ten-session course for a clinician with a year of bookings.

One New York clinician working 09:00-18:00 Monday to Saturday, with six 50-minute
consultations (10-minute buffer after) every weekday for a year (09:00-13:00 and 16:00-18:00,
two on Saturdays), an extra 13:00 booking every fifth day, and three weeks of time off. The
course: 2 preparations, then 4 x [dosing (180 minutes), integration 1-3 days later], dosing at
least 6 days apart, starting about three months ahead. At 13:00 a few sessions land on a
Sunday or a busy afternoon and come back with a problem and alternatives; at 12:00 every
session conflicts, so every one searches for alternatives (the slow path). The goal: a
proposal in under 50 ms; check() of the same starts is timed too, and for scale one
bookable_slots call over the whole year.

Usage: python bench/bench_course_plan.py [--write]  (--write replaces or adds the planner section of bench/RESULTS.md)
"""

import re
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kapclinic.core.timezones import local_to_utc  # noqa: E402
from kapclinic.courses.plan import CourseShape, check, expand, propose  # noqa: E402
from kapclinic.scheduling.slots import (  # noqa: E402
    ClinicianCalendar,
    Interval,
    SlotRules,
    TimeRange,
    bookable_slots,
)

ZONE = ZoneInfo("America/New_York")
NOW = datetime(2026, 1, 5, 14, tzinfo=UTC)
FIRST_DAY = date(2026, 4, 6)  # a Monday, three months ahead
RUNS = 50
GOAL_MS = 50
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADING = "## Course planner alone"
CONSULTATION = timedelta(minutes=50)
BUFFER = timedelta(minutes=10)
DAILY = (wall_time(9), wall_time(10), wall_time(11), wall_time(12), wall_time(16), wall_time(17))
TIME_OFF = ((date(2026, 7, 6), date(2026, 7, 20)), (date(2026, 12, 21), date(2026, 12, 28)))


def _rules(minutes):
    return SlotRules(
        duration=timedelta(minutes=minutes),
        min_notice=timedelta(hours=24),
        horizon=timedelta(days=400),
        grid_minutes=15,
    )


RULES = {"preparation": _rules(50), "dosing": _rules(180), "integration": _rules(50)}
SHAPE = CourseShape(preparation_count=2, cycles=4)


def year_calendar():
    """Return the clinician's calendar: a year of weekday bookings, weekly hours and time off."""
    weekly = {weekday: (TimeRange(wall_time(9), wall_time(18)),) for weekday in range(6)}
    consultations = []
    first_day = NOW.astimezone(ZONE).date()
    for offset in range(365):
        day = first_day + timedelta(days=offset)
        if day.weekday() == 6:
            continue
        extra = (wall_time(13),) if offset % 5 == 2 else ()
        for start in (DAILY[:2] if day.weekday() == 5 else DAILY) + extra:
            start_dt = local_to_utc(day, start, ZONE)
            consultations.append(Interval(start_dt, start_dt + CONSULTATION))
    busy = tuple(Interval(item.start_dt, item.end_dt + BUFFER) for item in consultations)
    time_off = tuple(
        Interval(local_to_utc(first, wall_time(0), ZONE), local_to_utc(last, wall_time(0), ZONE))
        for first, last in TIME_OFF
    )
    return ClinicianCalendar(1, ZONE, weekly, time_off=time_off, busy=busy, consultations=tuple(consultations))


def _timed(function, runs):
    timings, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = function()
        timings.append((time.perf_counter() - started) * 1000)
    return timings, result


def _percentile(timings, share):
    ordered = sorted(timings)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _summary(proposals):
    problems = Counter(proposal.problem.code for proposal in proposals if proposal.problem)
    offered = sum(len(proposal.alternatives) for proposal in proposals)
    named = ", ".join(f"{count} {code}" for code, count in sorted(problems.items())) or "no problem"
    return f"{named}; {offered} alternatives"


def run():
    """Return the measurements: bookings, sessions, and rows (operation, median ms, p95 ms)."""
    calendar = year_calendar()
    steps = expand(SHAPE, RULES)
    rows = []
    for wall in (wall_time(13), wall_time(12)):
        first_start = local_to_utc(FIRST_DAY, wall, ZONE)
        proposed, proposals = _timed(lambda: propose(steps, calendar, first_start, NOW), RUNS)  # noqa: B023
        starts = [proposal.start_dt for proposal in proposals]
        checked, _ = _timed(lambda: check(steps, calendar, starts, NOW), RUNS)  # noqa: B023
        label = f"at {wall:%H:%M} ({_summary(proposals)})"
        rows.append((f"propose() {label}", statistics.median(proposed), _percentile(proposed, 0.95)))
        rows.append((f"check() of the same starts {label}", statistics.median(checked), _percentile(checked, 0.95)))
    year = Interval(NOW, NOW + timedelta(days=365))
    whole_year, slots = _timed(lambda: bookable_slots(calendar, RULES["dosing"], year, NOW), 5)
    rows.append(
        (f"for scale: bookable_slots over the whole year ({len(slots)} starts)", statistics.median(whole_year), None)
    )
    return {"bookings": len(calendar.consultations), "sessions": len(steps), "rows": rows}


def goal_line(results):
    """Say whether every proposal's p95 stays under the goal."""
    p95 = max(p95 for name, _, p95 in results["rows"] if name.startswith("propose()"))
    verdict = "met" if p95 < GOAL_MS else "not met"
    return (
        f"Goal: propose a {results['sessions']}-session course against a year of bookings in < {GOAL_MS} ms: "
        f"slowest p95 {p95:.1f} ms, {verdict}."
    )


def section(results, when):
    """Return the markdown of RESULTS.md's planner section."""
    lines = [
        HEADING,
        "",
        f"`python bench/bench_course_plan.py --write` on {when:%Y-%m-%d %H:%M} UTC, on the machine above: one "
        f"clinician with {results['bookings']} bookings over a year, a course of {results['sessions']} sessions "
        f"three months ahead, {RUNS} runs each.",
        "",
        "| operation | median ms | p95 ms |",
        "| --- | ---: | ---: |",
    ]
    for name, median, p95 in results["rows"]:
        lines.append(f"| {name} | {median:.1f} | {'' if p95 is None else f'{p95:.1f}'} |")
    lines += ["", goal_line(results), ""]
    return "\n".join(lines)


def write_section(text):
    """Replace the planner section of RESULTS.md, or add it at the end; the other sections keep their own run."""
    current = RESULTS.read_text()
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(current):
        RESULTS.write_text(pattern.sub(lambda _: text + "\n", current, count=1))
    else:
        RESULTS.write_text(current.rstrip("\n") + "\n\n" + text + "\n")


def main():
    results = run()
    print(section(results, datetime.now(UTC)))
    if "--write" in sys.argv[1:]:
        write_section(section(results, datetime.now(UTC)))
        print(f"planner section written to {RESULTS}")


if __name__ == "__main__":
    main()
