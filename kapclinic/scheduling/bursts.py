"""Spotting bursts of bookings: one client network or one phone number booking many times in a short while.

Pure module (no Flask, no database): it takes plain booking rows, each with the client network it came
from (kapclinic.core.networks).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class BookingTrace:
    """What grouping needs of one booking."""

    booking_id: int
    created_dt: datetime
    client_network: str | None
    phone: str


@dataclass(frozen=True)
class Burst:
    kind: str  # "network" or "phone"
    value: str
    booking_ids: tuple
    first_dt: datetime
    last_dt: datetime

    @property
    def count(self):
        return len(self.booking_ids)


def _densest_window(traces, window):
    """The largest run of traces (sorted by creation) made within `window` of the run's first."""
    best = []
    start = 0
    for end in range(len(traces)):
        while traces[end].created_dt - traces[start].created_dt > window:
            start += 1
        if end - start + 1 > len(best):
            best = traces[start : end + 1]
    return best


def find_bursts(traces, min_count, window: timedelta):
    """Group bookings by client network and by phone; keep each key's densest window of `min_count` or more.

    The worst burst comes first (most bookings, then the most recent). A booking can
    be in a network burst and a phone burst at once: both say something.
    """
    by_key = {}
    for trace in traces:
        if trace.client_network:
            by_key.setdefault(("network", trace.client_network), []).append(trace)
        by_key.setdefault(("phone", trace.phone), []).append(trace)
    bursts = []
    for (kind, value), group in by_key.items():
        run = _densest_window(sorted(group, key=lambda trace: (trace.created_dt, trace.booking_id)), window)
        if len(run) >= min_count:
            bursts.append(
                Burst(kind, value, tuple(trace.booking_id for trace in run), run[0].created_dt, run[-1].created_dt)
            )
    return sorted(bursts, key=lambda burst: (-burst.count, -burst.last_dt.timestamp(), burst.kind, burst.value))
