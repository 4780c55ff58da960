"""The pure parts alone: the slot engine's scale curve, and a one-year clinician feed.

Slot engine: 7, 30, 90 and 365 days x 1, 5, 10 and 50 clinicians, each clinician working
08:00-18:00 every day in their own zone with one booking on every other working day
(bookings grow with days x clinicians). The cost per clinician-day shows whether time
grows faster than linearly; the goal holds it at 365 x 50 within 1.5 times its cost at
30 x 5. The engine hands back its slots as a lazy sequence, so each row also times
computing and then reading every slot, as a caller turning them into text would.
Feed: 2,000 events through the same builder the subscription feed uses.

Usage: python bench/bench_engine.py [--write]  (--write replaces the engine section of bench/RESULTS.md)
"""

import re
import statistics
import sys
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from datetime import time as wall_time
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kapclinic.ics.builder import InviteEvent, Person, build_calendar  # noqa: E402
from kapclinic.scheduling.slots import (  # noqa: E402
    ClinicianCalendar,
    Interval,
    SlotRules,
    TimeRange,
    bookable_slots_for_all,
)

ZONES = ["America/New_York", "America/Los_Angeles", "Europe/London", "Australia/Sydney", "Asia/Kolkata"]
DAYS = (7, 30, 90, 365)
CLINICIANS = (1, 5, 10, 50)
SMALL, LARGE = (30, 5), (365, 50)  # (days, clinicians): the goal compares their cost per clinician-day
GOAL_RATIO = 1.5
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
ENGINE_HEADING = "## Slot engine alone (best of runs)"
RULES = SlotRules(
    duration=timedelta(minutes=45),
    buffer_after=timedelta(minutes=15),
    min_notice=timedelta(hours=24),
    horizon=timedelta(days=400),
    grid_minutes=15,
)
FEED_EVENTS = 2_000


def _calendars(clinicians, days, now):
    calendars = []
    for number in range(clinicians):
        zone = ZoneInfo(ZONES[number % len(ZONES)])
        weekly = {weekday: (TimeRange(wall_time(8), wall_time(18)),) for weekday in range(7)}
        consultations = []
        for day in range(1, days + 1, 2):
            local = (now + timedelta(days=day)).astimezone(zone).date()
            start = datetime.combine(local, wall_time(10), zone).astimezone(UTC)
            consultations.append(Interval(start, start + RULES.duration))
        busy = tuple(Interval(item.start_dt, item.end_dt + RULES.buffer_after) for item in consultations)
        calendars.append(ClinicianCalendar(number + 1, zone, weekly, busy=busy, consultations=tuple(consultations)))
    return calendars


def _best_of(function, repeats):
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        timings.append(time.perf_counter() - started)
    return min(timings), statistics.median(timings), result


def _compute_and_read(calendars, window, now):
    slots = bookable_slots_for_all(calendars, RULES, window, now)
    deque(slots, maxlen=0)  # make every Slot and let it go, as a caller formatting each one does
    return slots


def engine_rows():
    """Return rows (days, clinicians, slots, best ms, µs per clinician-day, best ms to compute and read every slot)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    rows = []
    for clinicians in CLINICIANS:
        for days in DAYS:
            calendars = _calendars(clinicians, days, now)
            window = Interval(now, now + timedelta(days=days))
            repeats = 5 if clinicians * days <= 3_650 else 3
            best, _, slots = _best_of(lambda: bookable_slots_for_all(calendars, RULES, window, now), repeats)  # noqa: B023
            read, _, _ = _best_of(lambda: _compute_and_read(calendars, window, now), repeats)  # noqa: B023
            rows.append((days, clinicians, len(slots), best * 1000, best * 1e6 / (clinicians * days), read * 1000))
    return rows


def engine_curve():
    """Return rows (days, clinicians, slots, best ms, µs per clinician-day), as bench/results.py reads them."""
    return [row[:5] for row in engine_rows()]


def per_day_ratio(rows, column):
    """Return the cost per clinician-day at LARGE over that at SMALL, for a column of milliseconds."""
    per_day = {(row[0], row[1]): row[column] / (row[0] * row[1]) for row in rows}
    return per_day[LARGE] / per_day[SMALL]


def goal_line(rows):
    """Say whether the cost per clinician-day at 365 x 50 stays within GOAL_RATIO of its cost at 30 x 5."""
    computed, read = per_day_ratio(rows, 3), per_day_ratio(rows, 5)
    verdict = "met" if computed <= GOAL_RATIO else "not met"
    return (
        f"Goal: cost per clinician-day at {LARGE[0]}x{LARGE[1]} within {GOAL_RATIO}x of {SMALL[0]}x{SMALL[1]}: "
        f"{computed:.2f}x, {verdict} (computing and reading every slot: {read:.2f}x)."
    )


def engine_section(rows, feed, when):
    """Return the markdown of RESULTS.md's engine section, from its heading to the line before the next one."""
    events, feed_ms, feed_bytes = feed
    lines = [
        ENGINE_HEADING,
        "",
        f"`python bench/bench_engine.py --write` on {when:%Y-%m-%d %H:%M} UTC, on the machine above. The engine "
        "returns a lazy sequence of its free runs; the last columns add reading every slot from it.",
        "",
        "| days | clinicians | slots | ms | µs per clinician-day | ms with every slot read | µs per clinician-day |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for days, clinicians, slots, ms, per_day, read in rows:
        read_per_day = read * 1000 / (days * clinicians)
        lines.append(
            f"| {days} | {clinicians} | {slots} | {ms:.1f} | {per_day:.1f} | {read:.1f} | {read_per_day:.1f} |"
        )
    lines += [
        "",
        goal_line(rows),
        "",
        f"One-year clinician feed: {events} events in {feed_ms:.0f} ms ({feed_bytes / 1024:.0f} KiB).",
        "",
    ]
    return "\n".join(lines)


def write_engine_section(section):
    """Replace only the engine section of RESULTS.md; the HTTP rows and goals keep their own run."""
    text = RESULTS.read_text()
    pattern = re.compile(rf"^{re.escape(ENGINE_HEADING)}\n.*?(?=^## )", re.MULTILINE | re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"{RESULTS} has no '{ENGINE_HEADING}' section followed by another")
    RESULTS.write_text(pattern.sub(lambda _: section + "\n", text, count=1))


def feed_generation():
    """Return (events, best ms, bytes) for one clinician's year of consultations as a feed."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    organizer = Person("appointments@clinic.example.org", "Riverside KAP Clinic")
    events = [
        InviteEvent(
            uid=f"{number}@bench.kapclinic",
            sequence=number % 3,
            start_dt=now + timedelta(hours=4 * number),
            end_dt=now + timedelta(hours=4 * number, minutes=45),
            summary="Initial consultation: A. P.",
            description="Video. Link in kapclinic.",
            location="Video call",
            organizer=organizer,
            attendee=None,
            cancelled=number % 50 == 0,
        )
        for number in range(FEED_EVENTS)
    ]
    best, _, body = _best_of(lambda: build_calendar(events, now, name="Consultations", refresh=timedelta(hours=1)), 3)
    return FEED_EVENTS, best * 1000, len(body)


def main():
    rows = engine_rows()
    print("slot engine (best of runs)")
    print(f"{'days':>5}{'clinicians':>12}{'slots':>9}{'ms':>10}{'µs per clinician-day':>24}{'ms, every slot read':>22}")
    for days, clinicians, slots, ms, per_day, read in rows:
        print(f"{days:>5}{clinicians:>12}{slots:>9}{ms:>10.1f}{per_day:>24.1f}{read:>22.1f}")
    print(goal_line(rows))
    feed = feed_generation()
    events, ms, size = feed
    print(f"feed: {events} events in {ms:.0f} ms ({size / 1024:.0f} KiB)")
    if "--write" in sys.argv[1:]:
        write_engine_section(engine_section(rows, feed, datetime.now(UTC)))
        print(f"engine section written to {RESULTS}")


if __name__ == "__main__":
    main()
