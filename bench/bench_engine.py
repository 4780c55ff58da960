"""The pure parts alone: the slot engine's scale curve, and a one-year clinician feed.

Slot engine: 7, 30, 90 and 365 days x 1, 10 and 50 clinicians, each clinician working
08:00-18:00 every day in their own zone with one booking on every other working day
(bookings grow with days x clinicians). The cost per clinician-day shows whether time
grows faster than linearly. Feed: 2,000 events through the same builder the
subscription feed uses.

Usage: python bench/bench_engine.py
"""

import statistics
import sys
import time
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
CLINICIANS = (1, 10, 50)
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


def engine_curve():
    """Return rows (days, clinicians, slots, best ms, µs per clinician-day)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    rows = []
    for clinicians in CLINICIANS:
        for days in DAYS:
            calendars = _calendars(clinicians, days, now)
            window = Interval(now, now + timedelta(days=days))
            repeats = 5 if clinicians * days <= 3_650 else 2
            best, _, slots = _best_of(lambda: bookable_slots_for_all(calendars, RULES, window, now), repeats)  # noqa: B023
            rows.append((days, clinicians, len(slots), best * 1000, best * 1e6 / (clinicians * days)))
    return rows


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
    print("slot engine (best of runs)")
    print(f"{'days':>5}{'clinicians':>12}{'slots':>9}{'ms':>10}{'µs per clinician-day':>24}")
    for days, clinicians, slots, ms, per_day in engine_curve():
        print(f"{days:>5}{clinicians:>12}{slots:>9}{ms:>10.1f}{per_day:>24.1f}")
    events, ms, size = feed_generation()
    print(f"feed: {events} events in {ms:.0f} ms ({size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
