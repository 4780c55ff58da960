"""Spotting bursts of bookings: networks as the grouping sees them, and the densest window per network or phone."""

from datetime import UTC, datetime, timedelta

import pytest

from kapclinic.core.networks import network_of
from kapclinic.scheduling.bursts import BookingTrace, find_bursts

T0 = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)
DAY = timedelta(hours=24)


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.5", "203.0.113.5"),  # IPv4 seen through an IPv6 socket is the IPv4 address
        ("not an address", None),
        ("", None),
        (None, None),
    ],
)
def test_a_booking_is_grouped_by_its_ipv4_address_or_ipv6_64(address, network):
    assert network_of(address) == network


def _trace(booking_id, hours, network="203.0.113.5", phone=None):
    return BookingTrace(booking_id, T0 + timedelta(hours=hours), network, phone or f"+1212555{booking_id:04d}")


def test_three_bookings_from_one_network_within_a_day_are_a_burst_and_spread_ones_are_not():
    traces = [_trace(1, 0), _trace(2, 5), _trace(3, 23), _trace(4, 60), _trace(5, 0, network="198.51.100.1")]
    [burst] = find_bursts(traces, 3, DAY)
    assert (burst.kind, burst.value, burst.booking_ids) == ("network", "203.0.113.5", (1, 2, 3))
    assert (burst.first_dt, burst.last_dt) == (T0, T0 + timedelta(hours=23))
    assert find_bursts(traces, 4, DAY) == []


def test_the_densest_window_is_kept_and_the_worst_burst_comes_first():
    spread = [_trace(number, 20 * number) for number in range(1, 6)]  # every 20 hours: at most 2 in a day
    phone = [_trace(10 + number, number, network=f"192.0.2.{number}", phone="+12125550177") for number in range(4)]
    bursts = find_bursts(spread + phone, 2, DAY)
    assert bursts[0].kind == "phone" and bursts[0].count == 4
    assert bursts[1].kind == "network" and bursts[1].count == 2
