"""The booking page picks a date, then a time: a month calendar in the patient's zone, then that day's times.

Server-rendered links only, so it works without JavaScript; every control's accessible
name says the weekday and date, and what the calendar shows agrees with the API.
"""

import html
import re
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.scheduling.models import TimeOff
from kapclinic.scheduling.slots import utc_window_for_local_dates

pytestmark = pytest.mark.both_databases
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
DAY_LINK = re.compile(r'<td class="open[^"]*"><a href="([^"]+)" aria-label="([^"]+)"')
CLOSED_DAY = re.compile(
    r'<td class="closed[^"]*"><span aria-hidden="true">(\d+)</span><span class="visually-hidden">([^<]+)<'
)
TIME_LINK = re.compile(r'<a class="slot" href="([^"]+)" aria-label="([^"]+)">([^<]+)<')


@pytest.fixture
def team(create_clinician, create_consultation_type):
    """Two clinicians with the same hours: "first available" has two clinicians free at every start."""
    first = create_clinician(timezone="America/New_York")
    second = create_clinician(timezone="America/New_York")
    return create_consultation_type(clinicians=[first, second], horizon_days=120), first, second


def _page(client, consultation_type, **query):
    response = client.get(f"/book/{consultation_type.slug}", query_string={"tz": "America/Los_Angeles", **query})
    assert response.status_code == 200, response.text
    return response.text


def _spoken(text):
    return html.unescape(text)


def test_days_with_free_times_are_links_named_by_weekday_date_and_count_and_the_rest_say_so(client, team):
    consultation_type, _, _ = team
    page = _page(client, consultation_type)
    open_days = [_spoken(name) for _, name in DAY_LINK.findall(page)]
    closed_days = [_spoken(name) for _, name in CLOSED_DAY.findall(page)]
    today = now_utc().astimezone(LOS_ANGELES).date()
    tomorrow = today + timedelta(days=1)
    if tomorrow.month == today.month:  # tomorrow is in the month shown first
        name = f"{tomorrow:%A}, {tomorrow:%B} {tomorrow.day}, {tomorrow.year}"
        assert any(day.startswith(f"{name}, ") and day.endswith(" times free") for day in open_days), open_days
    assert all(re.fullmatch(r"\w+day, \w+ \d+, \d{4}, \d+ times? free", day) for day in open_days)
    assert all(re.fullmatch(r"\w+day, \w+ \d+, \d{4}, no free times", day) for day in closed_days)
    assert len(open_days) + len(closed_days) in (28, 29, 30, 31)


def test_a_chosen_day_lists_each_start_once_with_its_weekday_and_date_in_its_name(client, team):
    consultation_type, _, _ = team
    day = (now_utc() + timedelta(days=3)).date()
    page = _page(client, consultation_type, day=day.isoformat())
    times = TIME_LINK.findall(page)
    labels = [label for _, _, label in times]
    assert labels and len(labels) == len(set(labels))  # two clinicians free, one button per time
    assert labels[0] == "6:00 AM"  # 09:00 in New York, shown in Los Angeles (the heading names the zone)
    for _, name, label in times:
        assert _spoken(name) == f"{day:%A}, {day:%B} {day.day}, {day.year}, {label}"
    assert f'<h3 id="day-times-heading">{day:%A}, {day:%B} {day.day}, {day.year}</h3>' in page
    chosen = [
        href for href, name in DAY_LINK.findall(page) if _spoken(name).startswith(f"{day:%A}, {day:%B} {day.day}, ")
    ]
    assert chosen and f'href="{chosen[0]}" aria-label' in page and 'aria-current="date"' in page
    # A time leads to the details form for that start.
    assert client.get(html.unescape(times[0][0])).status_code == 200


def test_without_a_day_the_first_free_day_of_the_month_is_open(client, team):
    consultation_type, _, _ = team
    page = _page(client, consultation_type)
    first_open = _spoken(DAY_LINK.findall(page)[0][1]).rsplit(", ", 1)[0]  # "Monday, December 7, 2026"
    assert f'id="day-times-heading">{first_open}</h3>' in page
    assert TIME_LINK.findall(page)


def test_a_month_with_nothing_left_offers_the_next_available_day(client, team, app_context):
    consultation_type, first, second = team
    zone = LOS_ANGELES
    today = now_utc().astimezone(zone).date()
    next_month = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
    resumes = next_month + timedelta(days=9)
    # Both away from now until the 10th of next month.
    away_until = utc_window_for_local_dates(resumes, resumes, zone).start_dt
    for clinician in (first, second):
        db.session.add(TimeOff(clinician=clinician, start_dt=now_utc() - timedelta(days=1), end_dt=away_until))
    db.session.commit()

    page = _page(client, consultation_type)
    assert not DAY_LINK.findall(page) and not TIME_LINK.findall(page)
    found = re.search(r'<a href="([^"]+)">Next available: ([^<]+)</a>', page)
    assert found and _spoken(found.group(2)) == f"{resumes:%A}, {resumes:%B} {resumes.day}, {resumes.year}"
    later = client.get(html.unescape(found.group(1))).text
    assert f'id="day-times-heading">{resumes:%A}, {resumes:%B} {resumes.day}, {resumes.year}</h3>' in later
    assert TIME_LINK.findall(later)


def test_months_go_forward_to_the_horizon_and_never_before_this_one(client, team):
    consultation_type, _, _ = team
    page = _page(client, consultation_type)
    assert "&larr;" not in page.split('<table class="month">')[0]  # no month before this one
    months_seen = 1
    while (found := re.search(r'<a href="([^"]+)">\w+ &rarr;</a>', page)) and months_seen < 10:
        page = client.get(html.unescape(found.group(1))).text
        months_seen += 1
    assert months_seen in (4, 5, 6)  # 120 days ahead, then no further link
    assert "&larr;" in page.split('<table class="month">')[0]
    # A month asked for beyond the horizon shows the last month offered, not an error.
    far = client.get(f"/book/{consultation_type.slug}", query_string={"tz": "UTC", "month": "2099-01"})
    assert far.status_code == 200 and "2099" not in far.text


def test_the_calendar_counts_what_the_api_counts_across_a_clock_change(
    client, create_clinician, create_consultation_type
):
    clinician = create_clinician(timezone="America/New_York", hours=((time(8), time(12)), (time(13), time(17))))
    today = now_utc().date()
    march = date(today.year if today.month < 3 else today.year + 1, 3, 1)
    consultation_type = create_consultation_type(clinicians=[clinician], horizon_days=(march - today).days + 40)
    page = _page(client, consultation_type, month=f"{march:%Y-%m}")
    shown = {}
    for _, name in DAY_LINK.findall(page):
        words = _spoken(name)
        _, month_and_day, _, count = words.split(", ")  # "Monday, March 9, 2026, 12 times free"
        shown[int(month_and_day.split()[1])] = int(count.split()[0])
    api = client.get(
        "/api/v1/availability",
        query_string={"type": consultation_type.slug, "month": f"{march:%Y-%m}", "tz": "America/Los_Angeles"},
    ).json
    assert shown == {int(day["date"][8:]): day["count"] for day in api["days"] if day["count"]}
    assert len(shown) == 31

    # A time is its clock alone (the heading names the zone), except on the day the clocks change.
    change_day = next(march + timedelta(days=n) for n in range(7, 14) if (march + timedelta(days=n)).weekday() == 6)

    def labels_on(day):
        chosen = _page(client, consultation_type, month=f"{march:%Y-%m}", day=day.isoformat())
        return [label for _, _, label in TIME_LINK.findall(chosen)]

    assert labels_on(change_day) and all(label.endswith(" PDT") for label in labels_on(change_day))
    day_before = labels_on(change_day - timedelta(days=1))
    assert day_before and all(re.fullmatch(r"\d{1,2}:\d\d [AP]M", label) for label in day_before)


def test_a_bad_day_or_month_is_a_400_with_a_message_and_the_calendar_still_shown(client, team):
    consultation_type, _, _ = team
    for query, message in (({"day": "2026-02-30"}, None), ({"month": "March"}, "Use a month in the form YYYY-MM.")):
        response = client.get(f"/book/{consultation_type.slug}", query_string={"tz": "UTC", **query})
        assert response.status_code == 400
        assert 'class="error" role="alert"' in response.text and '<table class="month">' in response.text
        if message:
            assert message in response.text


CLINICIAN_CARD = re.compile(r'<a class="card choice" href="([^"]+)"( aria-current="true")?>(.*?)</a>', re.S)


def test_clinicians_are_cards_with_credentials_and_bio_and_choosing_one_shows_only_their_times(
    client, create_clinician, create_consultation_type
):
    mornings = create_clinician(
        name="Dr. Maya Alvarez",
        credentials="MD, Psychiatrist",
        bio="Sees adults and adolescents.",
        hours=((time(9), time(12)),),
    )
    afternoons = create_clinician(name="Jordan Lee", credentials="PMHNP-BC", hours=((time(13), time(17)),))
    consultation_type = create_consultation_type(clinicians=[mornings, afternoons], horizon_days=60)
    day = (now_utc() + timedelta(days=3)).date().isoformat()
    page = _page(client, consultation_type, day=day, tz="America/New_York")
    cards = CLINICIAN_CARD.findall(page)
    assert [re.search(r"<strong>([^<]+)</strong>", body).group(1) for _, _, body in cards] == [
        "First available",
        "Dr. Maya Alvarez",
        "Jordan Lee",
    ]
    assert cards[0][1] and not cards[1][1]  # "first available" is the one chosen at first
    assert "MD, Psychiatrist" in cards[1][2] and "Sees adults and adolescents." in cards[1][2]
    assert '<span class="avatar" aria-hidden="true">MA</span>' in cards[1][2]  # initials, "Dr." left out
    all_times = [label for _, _, label in TIME_LINK.findall(page)]
    assert "9:00 AM" in all_times and "1:00 PM" in all_times

    # Choosing a card keeps the zone and the month, and shows that clinician's times only.
    chosen = client.get(html.unescape(cards[2][0]) + f"&day={day}")
    assert chosen.status_code == 200
    assert "tz=America%2FNew_York" in cards[2][0] or "tz=America/New_York" in cards[2][0]
    marked = CLINICIAN_CARD.findall(chosen.text)
    assert [bool(current) for _, current, _ in marked] == [False, False, True]
    their_times = [label for _, _, label in TIME_LINK.findall(chosen.text)]
    assert their_times and "1:00 PM" in their_times and "9:00 AM" not in their_times
