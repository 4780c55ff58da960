"""Time zone handling at the edges: UTC inside, the viewer's zone on screen.

Pure module (no Flask). Every datetime that crosses a function boundary in
kapclinic is aware and in UTC; zones are applied only when reading wall-clock
input or formatting for a person.
"""

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel.core import get_global
from babel.dates import format_date, format_skeleton, get_timezone_gmt, get_timezone_location, get_timezone_name
from babel.dates import format_time as format_babel_time
from babel.dates import get_timezone as get_babel_zone

from kapclinic.core.errors import DomainError


class UnknownTimeZone(DomainError, ValueError):
    """The name is not an IANA time zone (also a ValueError, for parsers that catch those)."""

    default_field = "tz"


def now_utc():
    """Return the current time as an aware UTC datetime (the one clock of the app)."""
    return datetime.now(UTC)


# IANA's geographic areas: where people find their city. Left out: Etc/GMT+8 and its kind
# (whose signs are reversed), abbreviations such as EST, and legacy names such as US/Pacific.
_AREAS = frozenset(
    ("Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific")
)
LOCALE = "en_US"
MINUS_SIGN = "\u2212"


@lru_cache(maxsize=1)
def zone_names():
    """The IANA zones a picker offers: one name per place (CLDR's aliases such as Asia/Calcutta or
    Africa/Asmera left out: they are the same zone under an older name), and UTC."""
    aliases = get_global("zone_aliases")
    places = (name for name in available_timezones() if name.split("/")[0] in _AREAS and name not in aliases)
    return (*sorted(places), "UTC")


def canonical_zone(name):
    """The name a picker shows for a zone typed or sent under an older one (Asia/Calcutta: Asia/Kolkata)."""
    return get_global("zone_aliases").get(name, name)


def is_place_zone(name):
    """A zone named after a place, so with its daylight-saving rules: not an abbreviation (EST), a fixed
    offset (Etc/GMT+8) or UTC. What a clinic's own zone must be."""
    return name in _known_zone_names() and name.split("/")[0] in _AREAS


def utc_offset_text(zone, moment):
    """The zone's offset at `moment` as people write it: UTC−8, UTC+5:30, UTC (with a real minus sign)."""
    minutes = round(moment.astimezone(zone).utcoffset().total_seconds() // 60)
    if minutes == 0:
        return "UTC"
    hours, rest = divmod(abs(minutes), 60)
    sign = "+" if minutes > 0 else MINUS_SIGN
    return f"UTC{sign}{hours}{f':{rest:02d}' if rest else ''}"


def zone_label(name, moment):
    """The zone as people name it, with its offset at `moment`: 'Pacific Time — Los Angeles (UTC−8)'.

    The words are CLDR's, through Babel (the generic name, so it holds all year); the
    offset is the one in force at `moment`, so the same zone in July says UTC−7.
    """
    return f"{zone_in_words(name)} ({utc_offset_text(get_zone(name), moment)})"


def zone_in_words(name):
    """The zone as people name it all year, 'Eastern Time — New York': for pages that list times across the seasons."""
    if name == "UTC":
        return "Coordinated Universal Time"
    if not is_place_zone(canonical_zone(name)):  # Etc/GMT+8, EST5EDT: no place to name
        return name
    return _zone_words(canonical_zone(name))


@lru_cache(maxsize=1024)
def _zone_words(name):
    babel_zone = get_babel_zone(name)
    generic = get_timezone_name(babel_zone, width="long", zone_variant="generic", locale=LOCALE)
    return f"{generic} \u2014 {get_timezone_location(babel_zone, locale=LOCALE, return_city=True)}"


def zone_choices(moment, first=None):
    """(name, label) for every zone a picker offers, west to east at `moment`, with `first` (the patient's) first."""
    choices = _choices_in_hour(moment.replace(minute=0, second=0, microsecond=0))
    if first is not None and first not in zone_names():  # a zone typed by hand (Etc/GMT+8) still shows as chosen
        choices = ((first, zone_label(first, moment)), *choices)
    return sorted(choices, key=lambda choice: choice[0] != first)  # stable: the rest stay west to east


@lru_cache(maxsize=2)
def _choices_in_hour(hour):
    # Offsets change on the hour: the labels and their order hold for the hour.
    labelled = sorted(
        (hour.astimezone(get_zone(name)).utcoffset(), zone_label(name, hour), name) for name in zone_names()
    )
    return tuple((name, label) for _, label, name in labelled)


def get_zone(name):
    """Return the ZoneInfo for an IANA name, or raise UnknownTimeZone."""
    if not isinstance(name, str) or name not in _known_zone_names():
        raise UnknownTimeZone(f"{name!r} is not a known time zone")
    return _loaded_zone(name)


@lru_cache(maxsize=1024)
def _loaded_zone(name):
    # ZoneInfo's own cache keeps only a few zones strongly: a picker's 419 would be read
    # from disk again on every page. There are fewer than 600 names.
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # pragma: no cover - tzdata mismatch
        raise UnknownTimeZone(f"{name!r} is not a known time zone") from exc


@lru_cache(maxsize=1)
def _known_zone_names():
    # Checked against the list first so that names like "../../etc" never reach the
    # file system lookup inside ZoneInfo.
    return frozenset(available_timezones())


def local_to_utc(day, wall_time, zone):
    """Convert a wall-clock time on a local date to UTC, deliberately across DST.

    - A wall time that does not exist (spring forward, e.g. 02:30 in New York on the
      second Sunday of March) moves forward by the length of the gap: 02:30 becomes
      03:30 daylight time. A clinician whose hours start inside the gap starts when
      the clock next shows that much time after the gap opened.
    - A wall time that occurs twice (fall back, e.g. 01:30 on the first Sunday of
      November) means its first occurrence (fold=0, still daylight time).
    """
    naive = datetime.combine(day, wall_time)
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first.astimezone(UTC)
    # In a gap zoneinfo gives fold=0 the offset from before the transition and
    # fold=1 the offset after it; a real time round-trips, a gap time does not.
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive:
        return first.astimezone(UTC)  # ambiguous: keep the first occurrence
    gap = abs(second.utcoffset() - first.utcoffset())
    shifted = naive + gap
    return shifted.replace(tzinfo=zone).astimezone(UTC)


def local_day_bounds(day, zone):
    """Return the UTC instants of local midnight starting `day` and the next day."""
    start = local_to_utc(day, time(0), zone)
    end = local_to_utc(day + timedelta(days=1), time(0), zone)
    return start, end


def to_zone(moment, zone):
    """Return an aware UTC datetime as wall-clock time in `zone`."""
    return moment.astimezone(zone)


def zone_abbreviation(moment):
    """The zone of an aware instant as people write it: its abbreviation (EST, BST), else GMT+05:45."""
    abbreviation = moment.tzname() or ""
    if any(char.isalpha() for char in abbreviation):
        return abbreviation
    return get_timezone_gmt(moment, width="long", locale=LOCALE)


def _clock(local):
    # CLDR puts a narrow no-break space before AM/PM; emails, invites and plain text get an ordinary one.
    return format_babel_time(local, format="short", locale=LOCALE).replace("\u202f", " ")


def format_clock(moment, zone):
    """Only the wall-clock time of an instant in `zone` ('7:45 PM'), where the zone is named nearby."""
    return _clock(moment.astimezone(zone))


def format_time_of_day(wall_time):
    """A wall-clock time with no day or zone, as the locale writes it ('9:00 AM'): weekly hours."""
    return _clock(wall_time)


def format_moment(moment, zone):
    """A UTC instant in the locale's way, naming the zone (e.g. 'Tue, Mar 10, 2026, 9:00 AM EDT')."""
    local = moment.astimezone(zone)
    return f"{format_skeleton('yMMMEd', local, locale=LOCALE)}, {_clock(local)} {zone_abbreviation(local)}"


def format_day(moment, zone):
    """The calendar day of an instant in `zone`, written out in the locale's long form (e.g. 'December 6, 2026')."""
    return format_date(moment.astimezone(zone).date(), format="long", locale=LOCALE)


def format_time(moment, zone):
    """Format only the clock time of an instant in `zone`, with the zone's abbreviation."""
    local = moment.astimezone(zone)
    return f"{_clock(local)} {zone_abbreviation(local)}"


def day_title(day):
    """A calendar day for a heading or an accessible name, in full: 'Monday, December 7, 2026'."""
    return format_date(day, format="full", locale=LOCALE)


def short_date(day):
    """A calendar date in a list or beside a name, such as a date of birth: 'Mar 4, 1990'."""
    return format_date(day, format="medium", locale=LOCALE)


def month_title(month, with_year=True):
    """A month for a heading ('December 2026') or a link to it ('December')."""
    return format_skeleton("yMMMM" if with_year else "MMMM", month, locale=LOCALE)


# Dates and instants outside these years are refused before any arithmetic, so that
# adding a day or a zone offset to a hostile value can never overflow.
EARLIEST_YEAR, LATEST_YEAR = 1900, 2200


def parse_local_date(value):
    """Parse YYYY-MM-DD into a date, or raise ValueError with a readable message."""
    try:
        day = date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError("Use a date in the form YYYY-MM-DD.") from None
    if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
        raise ValueError("That date is too far from today.")
    return day


def parse_instant(value):
    """Parse an ISO 8601 instant that names its offset (or Z) into aware UTC."""
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError("Use an ISO 8601 date and time with an offset, like 2026-03-09T14:00:00Z.")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("Use an ISO 8601 date and time with an offset, like 2026-03-09T14:00:00Z.") from None
    if moment.tzinfo is None:
        raise ValueError("Include the UTC offset in the time, like 2026-03-09T09:00:00-05:00.")
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise ValueError("That time is too far from today.")
    return moment.astimezone(UTC)


def instant_param(moment):
    """Format an instant for a URL or API field: UTC, minute precision, Z suffix."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
