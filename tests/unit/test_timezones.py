"""Edge-case tables for kapclinic.core.timezones.

Everything inside kapclinic is an aware UTC instant; wall-clock times only
appear at the edges. These tables pin down what `local_to_utc` does on the
nights the clocks change:

- New York: spring forward 2026-03-08 at 02:00 (EST -5 -> EDT -4),
  fall back 2026-11-01 at 02:00 (EDT -> EST, 01:00-01:59 happens twice).
- London: spring forward 2026-03-29 at 01:00 (GMT -> BST),
  fall back 2026-10-25 at 02:00 BST (01:00-01:59 happens twice).
- Sydney: DST ends 2026-04-05 at 03:00 AEDT -> 02:00 AEST (02:xx twice),
  starts 2026-10-04 at 02:00 AEST -> 03:00 AEDT (02:xx does not exist).
- Lord Howe Island: a half-hour DST shift (02:00 -> 02:30 / 02:00 -> 01:30).

The documented rules: a wall time that does not exist moves forward by the
length of the gap; a wall time that happens twice means its first occurrence.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from kapclinic.core.timezones import (
    UnknownTimeZone,
    canonical_zone,
    format_moment,
    format_time,
    get_zone,
    instant_param,
    is_place_zone,
    local_day_bounds,
    local_to_utc,
    now_utc,
    parse_instant,
    parse_local_date,
    to_zone,
    zone_choices,
    zone_label,
    zone_names,
)

NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
SYDNEY = ZoneInfo("Australia/Sydney")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def utc(*args):
    return datetime(*args, tzinfo=UTC)


# (zone, local date, wall time, expected UTC instant, wall clock / abbreviation the zone shows then)
LOCAL_TO_UTC_TABLE = [
    # --- New York, spring forward 2026-03-08 02:00 EST -> 03:00 EDT -----------------
    pytest.param(
        NEW_YORK, date(2026, 3, 7), time(9, 0), utc(2026, 3, 7, 14, 0), "09:00 EST", id="ny-day-before-spring-9am"
    ),
    pytest.param(NEW_YORK, date(2026, 3, 8), time(0, 0), utc(2026, 3, 8, 5, 0), "00:00 EST", id="ny-spring-midnight"),
    pytest.param(
        NEW_YORK,
        date(2026, 3, 8),
        time(1, 59),
        utc(2026, 3, 8, 6, 59),
        "01:59 EST",
        id="ny-spring-last-minute-before-gap",
    ),
    pytest.param(NEW_YORK, date(2026, 3, 8), time(2, 0), utc(2026, 3, 8, 7, 0), "03:00 EDT", id="ny-spring-gap-opens"),
    pytest.param(
        NEW_YORK,
        date(2026, 3, 8),
        time(2, 30),
        utc(2026, 3, 8, 7, 30),
        "03:30 EDT",
        id="ny-spring-gap-0230-becomes-0330",
    ),
    pytest.param(
        NEW_YORK, date(2026, 3, 8), time(2, 59), utc(2026, 3, 8, 7, 59), "03:59 EDT", id="ny-spring-gap-last-minute"
    ),
    pytest.param(
        NEW_YORK, date(2026, 3, 8), time(3, 0), utc(2026, 3, 8, 7, 0), "03:00 EDT", id="ny-spring-first-real-minute"
    ),
    pytest.param(NEW_YORK, date(2026, 3, 8), time(9, 0), utc(2026, 3, 8, 13, 0), "09:00 EDT", id="ny-spring-day-9am"),
    pytest.param(NEW_YORK, date(2026, 3, 8), time(13, 0), utc(2026, 3, 8, 17, 0), "13:00 EDT", id="ny-spring-day-1pm"),
    pytest.param(
        NEW_YORK, date(2026, 3, 9), time(9, 0), utc(2026, 3, 9, 13, 0), "09:00 EDT", id="ny-day-after-spring-9am"
    ),
    # --- New York, fall back 2026-11-01 02:00 EDT -> 01:00 EST ----------------------
    pytest.param(
        NEW_YORK, date(2026, 10, 31), time(9, 0), utc(2026, 10, 31, 13, 0), "09:00 EDT", id="ny-day-before-fall-9am"
    ),
    pytest.param(
        NEW_YORK, date(2026, 11, 1), time(0, 30), utc(2026, 11, 1, 4, 30), "00:30 EDT", id="ny-fall-before-repeat"
    ),
    pytest.param(
        NEW_YORK,
        date(2026, 11, 1),
        time(1, 0),
        utc(2026, 11, 1, 5, 0),
        "01:00 EDT",
        id="ny-fall-repeat-starts-first-occurrence",
    ),
    pytest.param(
        NEW_YORK,
        date(2026, 11, 1),
        time(1, 30),
        utc(2026, 11, 1, 5, 30),
        "01:30 EDT",
        id="ny-fall-0130-first-occurrence",
    ),
    pytest.param(
        NEW_YORK, date(2026, 11, 1), time(1, 59), utc(2026, 11, 1, 5, 59), "01:59 EDT", id="ny-fall-repeat-last-minute"
    ),
    pytest.param(
        NEW_YORK, date(2026, 11, 1), time(2, 0), utc(2026, 11, 1, 7, 0), "02:00 EST", id="ny-fall-after-repeat"
    ),
    pytest.param(NEW_YORK, date(2026, 11, 1), time(13, 0), utc(2026, 11, 1, 18, 0), "13:00 EST", id="ny-fall-day-1pm"),
    pytest.param(
        NEW_YORK, date(2026, 11, 2), time(9, 0), utc(2026, 11, 2, 14, 0), "09:00 EST", id="ny-day-after-fall-9am"
    ),
    # --- London, spring forward 2026-03-29 01:00 GMT -> 02:00 BST -------------------
    pytest.param(
        LONDON, date(2026, 3, 29), time(0, 59), utc(2026, 3, 29, 0, 59), "00:59 GMT", id="london-spring-before-gap"
    ),
    pytest.param(
        LONDON, date(2026, 3, 29), time(1, 0), utc(2026, 3, 29, 1, 0), "02:00 BST", id="london-spring-gap-opens"
    ),
    pytest.param(
        LONDON,
        date(2026, 3, 29),
        time(1, 30),
        utc(2026, 3, 29, 1, 30),
        "02:30 BST",
        id="london-spring-gap-0130-becomes-0230",
    ),
    pytest.param(
        LONDON, date(2026, 3, 29), time(2, 0), utc(2026, 3, 29, 1, 0), "02:00 BST", id="london-spring-first-real-minute"
    ),
    pytest.param(
        LONDON, date(2026, 3, 29), time(9, 0), utc(2026, 3, 29, 8, 0), "09:00 BST", id="london-spring-day-9am"
    ),
    pytest.param(
        LONDON, date(2026, 3, 28), time(13, 0), utc(2026, 3, 28, 13, 0), "13:00 GMT", id="london-day-before-spring-1pm"
    ),
    # --- London, fall back 2026-10-25 02:00 BST -> 01:00 GMT ------------------------
    pytest.param(
        LONDON, date(2026, 10, 25), time(0, 30), utc(2026, 10, 24, 23, 30), "00:30 BST", id="london-fall-before-repeat"
    ),
    pytest.param(
        LONDON,
        date(2026, 10, 25),
        time(1, 0),
        utc(2026, 10, 25, 0, 0),
        "01:00 BST",
        id="london-fall-repeat-starts-first-occurrence",
    ),
    pytest.param(
        LONDON,
        date(2026, 10, 25),
        time(1, 30),
        utc(2026, 10, 25, 0, 30),
        "01:30 BST",
        id="london-fall-0130-first-occurrence",
    ),
    pytest.param(
        LONDON, date(2026, 10, 25), time(2, 0), utc(2026, 10, 25, 2, 0), "02:00 GMT", id="london-fall-after-repeat"
    ),
    pytest.param(
        LONDON, date(2026, 10, 25), time(13, 0), utc(2026, 10, 25, 13, 0), "13:00 GMT", id="london-fall-day-1pm"
    ),
    # --- Sydney, DST ends 2026-04-05 03:00 AEDT -> 02:00 AEST -----------------------
    pytest.param(
        SYDNEY, date(2026, 4, 5), time(1, 30), utc(2026, 4, 4, 14, 30), "01:30 AEDT", id="sydney-end-before-repeat"
    ),
    pytest.param(
        SYDNEY,
        date(2026, 4, 5),
        time(2, 0),
        utc(2026, 4, 4, 15, 0),
        "02:00 AEDT",
        id="sydney-end-repeat-starts-first-occurrence",
    ),
    pytest.param(
        SYDNEY,
        date(2026, 4, 5),
        time(2, 30),
        utc(2026, 4, 4, 15, 30),
        "02:30 AEDT",
        id="sydney-end-0230-first-occurrence",
    ),
    pytest.param(
        SYDNEY, date(2026, 4, 5), time(3, 0), utc(2026, 4, 4, 17, 0), "03:00 AEST", id="sydney-end-after-repeat"
    ),
    pytest.param(SYDNEY, date(2026, 4, 5), time(9, 0), utc(2026, 4, 4, 23, 0), "09:00 AEST", id="sydney-end-day-9am"),
    # --- Sydney, DST starts 2026-10-04 02:00 AEST -> 03:00 AEDT ---------------------
    pytest.param(
        SYDNEY, date(2026, 10, 4), time(1, 30), utc(2026, 10, 3, 15, 30), "01:30 AEST", id="sydney-start-before-gap"
    ),
    pytest.param(
        SYDNEY, date(2026, 10, 4), time(2, 0), utc(2026, 10, 3, 16, 0), "03:00 AEDT", id="sydney-start-gap-opens"
    ),
    pytest.param(
        SYDNEY,
        date(2026, 10, 4),
        time(2, 30),
        utc(2026, 10, 3, 16, 30),
        "03:30 AEDT",
        id="sydney-start-gap-0230-becomes-0330",
    ),
    pytest.param(
        SYDNEY,
        date(2026, 10, 4),
        time(3, 0),
        utc(2026, 10, 3, 16, 0),
        "03:00 AEDT",
        id="sydney-start-first-real-minute",
    ),
    pytest.param(
        SYDNEY, date(2026, 10, 4), time(9, 0), utc(2026, 10, 3, 22, 0), "09:00 AEDT", id="sydney-start-day-9am"
    ),
    # --- Lord Howe, half-hour shifts -------------------------------------------------
    pytest.param(
        LORD_HOWE,
        date(2026, 10, 4),
        time(2, 0),
        utc(2026, 10, 3, 15, 30),
        "02:30 +11",
        id="lord-howe-half-hour-gap-opens",
    ),
    pytest.param(
        LORD_HOWE,
        date(2026, 10, 4),
        time(2, 15),
        utc(2026, 10, 3, 15, 45),
        "02:45 +11",
        id="lord-howe-half-hour-gap-0215-becomes-0245",
    ),
    pytest.param(
        LORD_HOWE,
        date(2026, 4, 5),
        time(1, 45),
        utc(2026, 4, 4, 14, 45),
        "01:45 +11",
        id="lord-howe-half-hour-repeat-first-occurrence",
    ),
    pytest.param(
        LORD_HOWE,
        date(2026, 4, 5),
        time(2, 0),
        utc(2026, 4, 4, 15, 30),
        "02:00 +1030",
        id="lord-howe-after-half-hour-repeat",
    ),
]


@pytest.mark.parametrize(("zone", "day", "wall_time", "expected", "shown"), LOCAL_TO_UTC_TABLE)
def test_local_to_utc_edge_cases(zone, day, wall_time, expected, shown):
    result = local_to_utc(day, wall_time, zone)

    assert result == expected
    assert result.utcoffset() == timedelta(0)
    assert result.replace(tzinfo=None) == expected.replace(tzinfo=None)
    local = result.astimezone(zone)
    assert f"{local:%H:%M} {local.tzname()}" == shown


@pytest.mark.parametrize(("zone", "day", "wall_time", "expected", "shown"), LOCAL_TO_UTC_TABLE)
def test_local_to_utc_matches_pep_495_fold_zero(zone, day, wall_time, expected, shown):
    # fold=0 means "first occurrence" for repeated times and "offset from before the
    # transition" (i.e. shifted forward by the gap) for missing ones.
    assert local_to_utc(day, wall_time, zone) == datetime.combine(day, wall_time, tzinfo=zone).astimezone(UTC)


@pytest.mark.parametrize(
    ("zone", "day", "wall_time"),
    [
        pytest.param(NEW_YORK, date(2026, 11, 1), time(1, 30), id="ny"),
        pytest.param(LONDON, date(2026, 10, 25), time(1, 30), id="london"),
        pytest.param(SYDNEY, date(2026, 4, 5), time(2, 30), id="sydney"),
        pytest.param(LORD_HOWE, date(2026, 4, 5), time(1, 45), id="lord-howe"),
    ],
)
def test_repeated_wall_time_is_the_earlier_of_its_two_instants(zone, day, wall_time):
    first = local_to_utc(day, wall_time, zone)
    naive = datetime.combine(day, wall_time)
    second = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)

    assert first < second
    assert first.astimezone(zone).replace(tzinfo=None) == naive
    assert second.astimezone(zone).replace(tzinfo=None) == naive
    assert first.astimezone(zone).fold == 0


@pytest.mark.parametrize(
    ("zone", "day", "wall_time", "gap"),
    [
        pytest.param(NEW_YORK, date(2026, 3, 8), time(2, 30), timedelta(hours=1), id="ny"),
        pytest.param(LONDON, date(2026, 3, 29), time(1, 30), timedelta(hours=1), id="london"),
        pytest.param(SYDNEY, date(2026, 10, 4), time(2, 30), timedelta(hours=1), id="sydney"),
        pytest.param(LORD_HOWE, date(2026, 10, 4), time(2, 10), timedelta(minutes=30), id="lord-howe"),
    ],
)
def test_missing_wall_time_moves_forward_by_the_gap(zone, day, wall_time, gap):
    result = local_to_utc(day, wall_time, zone)

    assert result.astimezone(zone).replace(tzinfo=None) == datetime.combine(day, wall_time) + gap


def test_local_to_utc_accepts_a_zone_from_get_zone():
    assert local_to_utc(date(2026, 1, 12), time(9), get_zone("Australia/Sydney")) == utc(2026, 1, 11, 22, 0)


# --- get_zone ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Mars/Olympus",
        "../etc/passwd",
        "../../usr/share/zoneinfo/UTC",
        "/usr/share/zoneinfo/UTC",
        "",
        None,
        42,
        b"America/New_York",
        "America/New_York ",
        "america/new_york",
    ],
)
def test_get_zone_rejects_names_that_are_not_iana_zones(name):
    with pytest.raises(UnknownTimeZone):
        get_zone(name)


def test_unknown_time_zone_is_a_value_error():
    with pytest.raises(ValueError, match="Mars/Olympus"):
        get_zone("Mars/Olympus")


@pytest.mark.parametrize(
    "name", ["America/Los_Angeles", "America/New_York", "Europe/London", "Australia/Lord_Howe", "UTC"]
)
def test_get_zone_accepts_iana_names(name):
    zone = get_zone(name)

    assert isinstance(zone, ZoneInfo)
    assert zone.key == name


def test_zone_selector_offers_each_place_once_and_utc():
    names = zone_names()

    assert list(names[:-1]) == sorted(names[:-1]) and names[-1] == "UTC"
    assert {"America/Los_Angeles", "Asia/Kolkata", "Africa/Asmara", "Europe/Kyiv"} <= set(names)
    # Older names of the same zones, reversed-sign offsets and abbreviations are not offered.
    assert not {"Asia/Calcutta", "Africa/Asmera", "Africa/Timbuktu", "Etc/GMT+8", "EST", "US/Pacific"} & set(names)
    assert all(get_zone(name).key == name for name in ("Asia/Kolkata", "Australia/Sydney"))
    # Typed or sent under an older name, a zone is still accepted, and shown as the picker names it.
    assert get_zone("Asia/Calcutta").key == "Asia/Calcutta"
    assert canonical_zone("Asia/Calcutta") == "Asia/Kolkata" and canonical_zone("Europe/Paris") == "Europe/Paris"


@pytest.mark.parametrize(
    ("name", "winter", "summer"),
    [
        (
            "America/Los_Angeles",
            "Pacific Time — Los Angeles (UTC−8)",
            "Pacific Time — Los Angeles (UTC−7)",
        ),
        ("Europe/London", "British Time — London (UTC)", "British Time — London (UTC+1)"),
        ("Asia/Kathmandu", "Nepal Time — Kathmandu (UTC+5:45)", "Nepal Time — Kathmandu (UTC+5:45)"),
        (
            "America/St_Johns",
            "Newfoundland Time — St. John’s (UTC−3:30)",
            "Newfoundland Time — St. John’s (UTC−2:30)",
        ),
        (
            "Australia/Lord_Howe",
            "Lord Howe Time — Lord Howe Island (UTC+10:30)",
            "Lord Howe Time — Lord Howe Island (UTC+11)",
        ),
        ("Asia/Calcutta", "India Time — Kolkata (UTC+5:30)", "India Time — Kolkata (UTC+5:30)"),
        ("UTC", "Coordinated Universal Time (UTC)", "Coordinated Universal Time (UTC)"),
    ],
)
def test_a_zone_is_named_in_words_people_use_with_the_offset_of_the_season(name, winter, summer):
    """Northern winter is Lord Howe's summer: the offset is the one in force at that moment, across each change."""
    january, july = utc(2027, 1, 15, 12, 0), utc(2027, 7, 15, 12, 0)
    assert zone_label(name, january if "Lord_Howe" not in name else july) == winter
    assert zone_label(name, july if "Lord_Howe" not in name else january) == summer


def test_the_picker_lists_zones_west_to_east_with_the_patients_first():
    choices = zone_choices(utc(2027, 1, 15, 12, 0), first="Asia/Kathmandu")
    assert choices[0] == ("Asia/Kathmandu", "Nepal Time — Kathmandu (UTC+5:45)")
    names = [name for name, _ in choices]
    assert sorted(names) == sorted(zone_names())
    offsets = [get_zone(name).utcoffset(datetime(2027, 1, 15, 12)) for name in names[1:]]
    assert offsets == sorted(offsets)
    assert names.index("America/Los_Angeles") < names.index("America/New_York") < names.index("Europe/London")


def test_only_a_place_is_a_clinics_zone():
    assert is_place_zone("America/New_York") and is_place_zone("Asia/Calcutta")
    assert not any(is_place_zone(name) for name in ("EST", "EST5EDT", "Etc/GMT+5", "UTC", "GMT", "Mars/Olympus"))


# --- formatting ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("moment", "zone", "expected"),
    [
        pytest.param(utc(2026, 3, 7, 14, 0), NEW_YORK, "Sat, Mar 7, 2026, 9:00 AM EST", id="ny-before-spring"),
        pytest.param(utc(2026, 3, 9, 13, 0), NEW_YORK, "Mon, Mar 9, 2026, 9:00 AM EDT", id="ny-after-spring"),
        pytest.param(utc(2026, 3, 10, 13, 0), NEW_YORK, "Tue, Mar 10, 2026, 9:00 AM EDT", id="ny-docstring-example"),
        pytest.param(utc(2026, 3, 8, 6, 59), NEW_YORK, "Sun, Mar 8, 2026, 1:59 AM EST", id="ny-last-est-minute"),
        pytest.param(utc(2026, 3, 8, 7, 0), NEW_YORK, "Sun, Mar 8, 2026, 3:00 AM EDT", id="ny-first-edt-minute"),
        pytest.param(utc(2026, 11, 1, 5, 30), NEW_YORK, "Sun, Nov 1, 2026, 1:30 AM EDT", id="ny-0130-first"),
        pytest.param(utc(2026, 11, 1, 6, 30), NEW_YORK, "Sun, Nov 1, 2026, 1:30 AM EST", id="ny-0130-second"),
        pytest.param(utc(2026, 11, 2, 17, 0), NEW_YORK, "Mon, Nov 2, 2026, 12:00 PM EST", id="ny-noon"),
        pytest.param(utc(2026, 11, 2, 5, 0), NEW_YORK, "Mon, Nov 2, 2026, 12:00 AM EST", id="ny-midnight"),
        pytest.param(utc(2026, 3, 29, 0, 59), LONDON, "Sun, Mar 29, 2026, 12:59 AM GMT", id="london-last-gmt-minute"),
        pytest.param(utc(2026, 3, 29, 1, 0), LONDON, "Sun, Mar 29, 2026, 2:00 AM BST", id="london-first-bst-minute"),
        pytest.param(utc(2026, 10, 25, 0, 30), LONDON, "Sun, Oct 25, 2026, 1:30 AM BST", id="london-0130-first"),
        pytest.param(utc(2026, 10, 25, 1, 30), LONDON, "Sun, Oct 25, 2026, 1:30 AM GMT", id="london-0130-second"),
        pytest.param(utc(2026, 4, 4, 15, 30), SYDNEY, "Sun, Apr 5, 2026, 2:30 AM AEDT", id="sydney-0230-first"),
        pytest.param(utc(2026, 4, 4, 16, 30), SYDNEY, "Sun, Apr 5, 2026, 2:30 AM AEST", id="sydney-0230-second"),
        pytest.param(
            utc(2026, 1, 11, 22, 0), LOS_ANGELES, "Sun, Jan 11, 2026, 2:00 PM PST", id="la-sees-sydney-monday-9am"
        ),
        pytest.param(utc(2026, 1, 11, 22, 0), SYDNEY, "Mon, Jan 12, 2026, 9:00 AM AEDT", id="sydney-monday-9am"),
        pytest.param(utc(2026, 6, 1, 12, 0), UTC, "Mon, Jun 1, 2026, 12:00 PM UTC", id="utc"),
        # A zone without a letter abbreviation is named by its offset from GMT, never a bare "+0545".
        pytest.param(
            utc(2026, 3, 8, 4, 15), ZoneInfo("Asia/Kathmandu"), "Sun, Mar 8, 2026, 10:00 AM GMT+05:45", id="kathmandu"
        ),
        pytest.param(
            utc(2026, 10, 4, 13, 0),
            ZoneInfo("America/Sao_Paulo"),
            "Sun, Oct 4, 2026, 10:00 AM GMT-03:00",
            id="sao-paulo",
        ),
    ],
)
def test_format_moment_names_the_zone_abbreviation(moment, zone, expected):
    assert format_moment(moment, zone) == expected


@pytest.mark.parametrize(
    ("moment", "zone", "expected"),
    [
        pytest.param(utc(2026, 3, 7, 14, 0), NEW_YORK, "9:00 AM EST", id="est"),
        pytest.param(utc(2026, 3, 9, 13, 0), NEW_YORK, "9:00 AM EDT", id="edt"),
        pytest.param(utc(2026, 11, 1, 5, 30), NEW_YORK, "1:30 AM EDT", id="first-0130"),
        pytest.param(utc(2026, 11, 1, 6, 30), NEW_YORK, "1:30 AM EST", id="second-0130"),
        pytest.param(utc(2026, 7, 1, 17, 45), NEW_YORK, "1:45 PM EDT", id="afternoon"),
        pytest.param(utc(2026, 7, 1, 16, 0), NEW_YORK, "12:00 PM EDT", id="noon"),
        pytest.param(utc(2026, 7, 1, 4, 5), NEW_YORK, "12:05 AM EDT", id="just-after-midnight"),
    ],
)
def test_format_time_names_the_zone_abbreviation(moment, zone, expected):
    assert format_time(moment, zone) == expected


def test_to_zone_keeps_the_instant():
    moment = utc(2026, 11, 1, 6, 30)
    local = to_zone(moment, NEW_YORK)

    # Compare in UTC: by PEP 495 an aware datetime with fold=1 in a repeated hour
    # never compares equal to one in another zone, even at the same instant.
    assert local != moment
    assert local.astimezone(UTC) == moment
    assert local.timestamp() == moment.timestamp()
    assert (local.hour, local.minute, local.fold, local.tzname()) == (1, 30, 1, "EST")


# --- local_day_bounds ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "day", "start", "length"),
    [
        pytest.param(NEW_YORK, date(2026, 3, 7), utc(2026, 3, 7, 5), timedelta(hours=24), id="ny-ordinary"),
        pytest.param(NEW_YORK, date(2026, 3, 8), utc(2026, 3, 8, 5), timedelta(hours=23), id="ny-spring"),
        pytest.param(NEW_YORK, date(2026, 11, 1), utc(2026, 11, 1, 4), timedelta(hours=25), id="ny-fall"),
        pytest.param(LONDON, date(2026, 3, 29), utc(2026, 3, 29, 0), timedelta(hours=23), id="london-spring"),
        pytest.param(LONDON, date(2026, 10, 25), utc(2026, 10, 24, 23), timedelta(hours=25), id="london-fall"),
        pytest.param(SYDNEY, date(2026, 4, 5), utc(2026, 4, 4, 13), timedelta(hours=25), id="sydney-end"),
        pytest.param(SYDNEY, date(2026, 10, 4), utc(2026, 10, 3, 14), timedelta(hours=23), id="sydney-start"),
        pytest.param(
            LORD_HOWE,
            date(2026, 10, 4),
            utc(2026, 10, 3, 13, 30),
            timedelta(hours=23, minutes=30),
            id="lord-howe-start",
        ),
        pytest.param(
            LORD_HOWE, date(2026, 4, 5), utc(2026, 4, 4, 13), timedelta(hours=24, minutes=30), id="lord-howe-end"
        ),
    ],
)
def test_local_day_bounds_cover_short_and_long_days(zone, day, start, length):
    assert local_day_bounds(day, zone) == (start, start + length)


# --- small helpers -----------------------------------------------------------------------


def test_now_utc_is_aware_utc():
    before = datetime.now(UTC)
    moment = now_utc()
    after = datetime.now(UTC)

    assert moment.utcoffset() == timedelta(0)
    assert before <= moment <= after


def test_parse_local_date_reads_iso_dates():
    assert parse_local_date("2026-03-08") == date(2026, 3, 8)


@pytest.mark.parametrize("value", ["", "08/03/2026", "2026-02-30", None, "tomorrow"])
def test_parse_local_date_rejects_anything_else_readably(value):
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        parse_local_date(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("2026-03-09T14:00:00Z", utc(2026, 3, 9, 14, 0), id="zulu"),
        pytest.param("2026-03-09T09:00:00-05:00", utc(2026, 3, 9, 14, 0), id="est-offset"),
        pytest.param("2026-11-01T01:30:00-04:00", utc(2026, 11, 1, 5, 30), id="first-0130-by-offset"),
        pytest.param("2026-11-01T01:30:00-05:00", utc(2026, 11, 1, 6, 30), id="second-0130-by-offset"),
        pytest.param("2026-01-12T09:00:00+11:00", utc(2026, 1, 11, 22, 0), id="sydney-offset"),
    ],
)
def test_parse_instant_reads_an_offset_and_returns_utc(value, expected):
    moment = parse_instant(value)

    assert moment == expected
    assert moment.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("2026-03-09T09:00:00", "offset", id="naive-is-ambiguous"),
        pytest.param("next tuesday", "ISO 8601", id="not-a-date"),
        pytest.param("", "ISO 8601", id="empty"),
        pytest.param(None, "ISO 8601", id="none"),
        pytest.param("2026-03-09T09:00:00.000000000000000000+00:00", "ISO 8601", id="too-long"),
    ],
)
def test_parse_instant_rejects_input_without_a_clear_instant(value, message):
    with pytest.raises(ValueError, match=message):
        parse_instant(value)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        pytest.param(utc(2026, 3, 9, 14, 0), "2026-03-09T14:00:00Z", id="utc"),
        pytest.param(datetime(2026, 3, 9, 9, 0, tzinfo=NEW_YORK), "2026-03-09T13:00:00Z", id="new-york-edt"),
        pytest.param(datetime(2026, 11, 1, 1, 30, fold=1, tzinfo=NEW_YORK), "2026-11-01T06:30:00Z", id="second-0130"),
    ],
)
def test_instant_param_writes_utc_with_z(moment, expected):
    assert instant_param(moment) == expected
    assert parse_instant(instant_param(moment)) == moment.astimezone(UTC)
