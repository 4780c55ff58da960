"""A clinician's schedule, cancellations, outcomes, .ics exports and the private subscription feed."""

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlalchemy import select

from kapclinic.accounts.models import Role
from kapclinic.core.timezones import now_utc, parse_instant
from kapclinic.extensions import db
from kapclinic.scheduling.models import Booking, BookingStatus, Clinician, ConsultationType, Modality
from tests.helpers import new_feed_path, patient_json, sign_in

pytestmark = pytest.mark.both_databases


@pytest.fixture
def clinician_user(create_staff, in_app):
    user = create_staff(Role.CLINICIAN, email="dr.feed@clinic.example.org", name="Dr Feed", timezone="America/New_York")

    def offer():
        db.session.add(
            ConsultationType(
                slug="feed",
                name="Initial consultation, video; 60 min",
                duration_minutes=60,
                min_notice_minutes=0,
                horizon_days=400,
                slot_step_minutes=60,
                modality=Modality.VIDEO,
                video_link="https://video.clinic.example.org/room",
                clinicians=[db.session.get(Clinician, user.clinician_id)],
            )
        )

    in_app(offer)
    return user


def _book(client, user, days_ahead=3, name="Zoë O'Brien-Núñez", index=0):
    first = (now_utc() + timedelta(days=days_ahead)).date()
    slots = client.get(
        "/api/v1/slots",
        query_string={
            "type": "feed",
            "start": first.isoformat(),
            "end": (first + timedelta(days=1)).isoformat(),
            "tz": "UTC",
        },
    ).json["slots"]
    response = client.post(
        "/api/v1/bookings",
        json=patient_json(
            type("T", (), {"slug": "feed"}),
            slots[index]["start"],
            clinician_id=user.clinician_id,
            name=name,
            email=f"patient{days_ahead}{index}@example.com",
        ),
    )
    assert response.status_code == 201, response.json
    return response.json


def _events(data):
    return Calendar.from_ical(data).walk("VEVENT")


def _feed_url(client, user):
    return new_feed_path(client, user.clinician_id)


def test_week_schedule_lists_consultations_with_intake_status(client, clinician_user):
    booked = _book(client, clinician_user)
    sign_in(client, clinician_user.email)
    day = booked["start"][:10]
    page = client.get(f"/staff/clinicians/{clinician_user.clinician_id}/schedule", query_string={"date": day}).text
    assert "Zoë O&#39;Brien-Núñez" in page
    assert "Video call" in page and "Not finished" in page and "draft" not in page  # the intake's state in words
    day_view = client.get(
        f"/staff/clinicians/{clinician_user.clinician_id}/schedule", query_string={"date": day, "view": "day"}
    ).text
    assert "Zoë O&#39;Brien-Núñez" in day_view


def test_clinician_cancels_with_a_reason_and_the_patient_gets_method_cancel(client, clinician_user, mailbox, in_app):
    booked = _book(client, clinician_user)
    sign_in(client, clinician_user.email)
    url = f"/staff/bookings/{booked['id']}/cancel"
    missing = client.post(url, data={"reason": ""})
    assert missing.status_code == 422 and "Give the reason" in missing.text
    assert client.post(url, data={"reason": "Clinician unwell"}).status_code == 302
    invite = next(part for part in mailbox.messages[-1].walk() if part.get_content_type() == "text/calendar")
    assert invite.get_param("method") == "CANCEL"
    status, reason = in_app(lambda: db.session.execute(select(Booking.status, Booking.cancellation_reason)).one())
    assert status is BookingStatus.CANCELLED and reason == "Clinician unwell"
    day = parse_instant(booked["start"]).date().isoformat()
    slots = client.get("/api/v1/slots", query_string={"type": "feed", "start": day, "end": day, "tz": "UTC"}).json[
        "slots"
    ]
    assert parse_instant(booked["start"]) in [parse_instant(slot["start"]) for slot in slots]


def test_past_consultations_are_marked_completed_or_no_show(client, clinician_user, in_app):
    booked = _book(client, clinician_user)
    sign_in(client, clinician_user.email)
    url = f"/staff/bookings/{booked['id']}/outcome"
    assert client.post(url, data={"status": "completed"}).status_code == 403  # it has not started yet
    started = now_utc() - timedelta(hours=2)
    in_app(
        lambda: db.session.execute(
            Booking.__table__.update().values(
                start_dt=started,
                end_dt=started + timedelta(hours=1),
                blocked_start_dt=started,
                blocked_end_dt=started + timedelta(hours=1),
            )
        )
    )
    assert client.post(url, data={"status": "no_show"}).status_code == 302
    status, sequence = in_app(lambda: db.session.execute(select(Booking.status, Booking.ical_sequence)).one())
    assert status is BookingStatus.NO_SHOW and sequence == 1
    assert client.post(url, data={"status": "vanished"}).status_code == 400


def test_one_consultation_and_a_date_range_download_as_ics(client, clinician_user):
    first = _book(client, clinician_user, days_ahead=3)
    second = _book(client, clinician_user, days_ahead=5, name="Sam Second")
    sign_in(client, clinician_user.email)
    single = client.get(f"/staff/bookings/{first['id']}/invite.ics")
    assert single.headers["Content-Type"].startswith("text/calendar")
    (event,) = _events(single.data)
    assert str(event["SUMMARY"]) == "Initial consultation, video; 60 min: Z. O."
    assert "ATTENDEE" not in event and str(event["CLASS"]) == "PRIVATE"
    span = client.get(
        f"/staff/clinicians/{clinician_user.clinician_id}/schedule.ics",
        query_string={"start": first["start"][:10], "end": second["start"][:10]},
    )
    assert [str(event["UID"]) for event in _events(span.data)] and len(_events(span.data)) == 2
    bad = client.get(
        f"/staff/clinicians/{clinician_user.clinician_id}/schedule.ics", query_string={"start": "x", "end": "y"}
    )
    assert bad.status_code == 400


def test_feed_has_what_calendar_apps_need_and_escapes_text(client, clinician_user):
    booked = _book(client, clinician_user)
    sign_in(client, clinician_user.email)
    feed = client.get(_feed_url(client, clinician_user))
    assert feed.status_code == 200 and feed.headers["Content-Type"].startswith("text/calendar")
    raw = feed.text.replace("\r\n ", "")
    assert "X-WR-CALNAME:Riverside KAP Clinic: Dr Feed" in raw
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H" in raw and "X-PUBLISHED-TTL:PT1H" in raw
    assert "SUMMARY:Initial consultation\\, video\\; 60 min: Z. O." in raw
    assert "\\nDetails are in kapclinic." in raw  # a line break inside a text value is escaped
    (event,) = _events(feed.data)
    assert event.decoded("DTSTART") == parse_instant(booked["start"])
    assert raw.count("DTSTART:") == 1 and re.search(r"DTSTART:\d{8}T\d{6}Z", raw)
    assert "DTSTAMP" in event and int(event["SEQUENCE"]) == 0
    assert "example.com" not in raw and "Núñez" not in raw  # initials only, no contact details


def test_feed_can_show_full_names_when_the_clinic_chooses(make_app, database_url, create_staff, in_app):
    app = make_app(database_url, FEED_PATIENT_NAMES="full")
    client = app.test_client()
    user = create_staff(Role.CLINICIAN, email="dr.full@clinic.example.org")
    in_app(
        lambda: db.session.add(
            ConsultationType(
                slug="feed",
                name="Consult",
                duration_minutes=60,
                min_notice_minutes=0,
                horizon_days=30,
                slot_step_minutes=60,
                modality=Modality.PHONE,
                clinicians=[db.session.get(Clinician, user.clinician_id)],
            )
        )
    )
    _book(client, user)
    sign_in(client, user.email)
    (event,) = _events(client.get(_feed_url(client, user)).data)
    assert str(event["SUMMARY"]) == "Consult: Zoë O'Brien-Núñez"


def test_feed_names_the_clinic_by_its_neutral_display_name(make_app, database_url, create_staff, in_app):
    app = make_app(database_url, CLINIC_NAME="Riverside Ketamine Clinic", CLINIC_DISPLAY_NAME="Riverside Health")
    client = app.test_client()
    user = create_staff(Role.CLINICIAN, email="dr.neutral@clinic.example.org", name="Dr Neutral")
    in_app(
        lambda: db.session.add(
            ConsultationType(
                slug="feed",
                name="Consult",
                duration_minutes=60,
                min_notice_minutes=0,
                horizon_days=30,
                slot_step_minutes=60,
                modality=Modality.PHONE,
                clinicians=[db.session.get(Clinician, user.clinician_id)],
            )
        )
    )
    _book(client, user)
    sign_in(client, user.email)
    calendar = Calendar.from_ical(client.get(_feed_url(client, user)).data)
    # A subscribed calendar's name shows in the phone's calendar list and on shared screens.
    assert str(calendar["X-WR-CALNAME"]) == str(calendar["NAME"]) == "Riverside Health: Dr Neutral"
    (event,) = calendar.walk("VEVENT")
    assert event["ORGANIZER"].params["CN"] == "Riverside Health"
    assert "ketamine" not in calendar.to_ical().decode().lower()


def test_feed_keeps_cancelled_consultations_marked_and_bumps_sequence(client, clinician_user):
    booked = _book(client, clinician_user)
    manage = booked["manage_url"].removeprefix("https://clinic.example.org")
    sign_in(client, clinician_user.email)
    url = _feed_url(client, clinician_user)
    client.post(f"{manage}/cancel", data={})
    (event,) = _events(client.get(url).data)
    assert str(event["STATUS"]) == "CANCELLED" and int(event["SEQUENCE"]) == 1
    # Calendar apps that ignore STATUS:CANCELLED still show it as cancelled.
    assert str(event["SUMMARY"]) == "Cancelled: Initial consultation, video; 60 min: Z. O."
    assert str(event["UID"]) == str(_events(client.get(f"/staff/bookings/{booked['id']}/invite.ics").data)[0]["UID"])


def test_rotating_the_feed_kills_the_old_address_at_once(client, clinician_user):
    sign_in(client, clinician_user.email)
    old = _feed_url(client, clinician_user)
    new = _feed_url(client, clinician_user)
    assert client.get(old).status_code == 404
    assert client.get(new).status_code == 200
    assert client.get("/feeds/not-a-token.ics").status_code == 404


def test_feed_times_stay_local_across_daylight_saving(client, clinician_user, in_app):
    """A 09:00 New York consultation each side of the next change is 14:00Z then 13:00Z (or the reverse)."""
    from datetime import datetime, time
    from zoneinfo import ZoneInfo

    from tests.integration.test_time_zones_end_to_end import next_offset_change

    zone = ZoneInfo("America/New_York")
    change = next_offset_change("America/New_York", now_utc() + timedelta(days=2))
    starts = [datetime.combine(change + timedelta(days=offset), time(9), zone) for offset in (-2, 2)]
    for number, start in enumerate(starts):
        response = client.post(
            "/api/v1/bookings",
            json=patient_json(
                type("T", (), {"slug": "feed"}),
                start.isoformat(),
                clinician_id=clinician_user.clinician_id,
                email=f"dst{number}@example.com",
            ),
        )
        assert response.status_code == 201, response.json
    sign_in(client, clinician_user.email)
    events = _events(client.get(_feed_url(client, clinician_user)).data)
    local_hours = {event.decoded("DTSTART").astimezone(zone).hour for event in events}
    utc_hours = {event.decoded("DTSTART").hour for event in events}
    assert local_hours == {9} and len(utc_hours) == 2


def test_no_access_to_another_clinicians_schedule_feed_or_bookings(client, create_staff, clinician_user):
    booked = _book(client, clinician_user)
    other = create_staff(Role.CLINICIAN, email="dr.other@clinic.example.org")
    sign_in(client, other.email)
    theirs = f"/staff/clinicians/{clinician_user.clinician_id}"
    for path in (
        f"{theirs}/schedule",
        f"{theirs}/schedule.ics?start=2030-01-01&end=2030-01-02",
        f"{theirs}/feed",
        f"/staff/bookings/{booked['id']}/invite.ics",
        f"/staff/bookings/{booked['id']}/cancel",
    ):
        assert client.get(path).status_code == 403, path
    assert client.post(f"{theirs}/feed").status_code == 403
    assert client.post(f"/staff/bookings/{booked['id']}/cancel", data={"reason": "x"}).status_code == 403
    assert client.post(f"/staff/bookings/{booked['id']}/outcome", data={"status": "completed"}).status_code == 403
    assert client.get("/staff/bookings/00000000-0000-0000-0000-000000000000/invite.ics").status_code == 404


def test_finished_or_past_consultations_cannot_be_cancelled(client, clinician_user, in_app, mailbox):
    booked = _book(client, clinician_user)
    sign_in(client, clinician_user.email)
    started = now_utc() - timedelta(hours=2)
    in_app(
        lambda: db.session.execute(
            Booking.__table__.update().values(
                start_dt=started,
                end_dt=started + timedelta(hours=1),
                blocked_start_dt=started,
                blocked_end_dt=started + timedelta(hours=1),
                status="completed",
            )
        )
    )
    sent = len(mailbox.messages)
    assert client.post(f"/staff/bookings/{booked['id']}/cancel", data={"reason": "oops"}).status_code == 409
    assert len(mailbox.messages) == sent
    assert in_app(lambda: db.session.scalar(select(Booking.status))) is BookingStatus.COMPLETED


def test_the_feed_page_survives_a_refresh_and_keeps_the_address_out_of_urls(client, clinician_user):
    """POST, redirect, GET: a reload shows the same address again and never makes a new one."""
    sign_in(client, clinician_user.email)
    page_url = f"/staff/clinicians/{clinician_user.clinician_id}/feed"
    assert "Make a feed address" in client.get(page_url).text
    made = client.post(page_url)
    assert made.status_code == 303 and made.headers["Location"] == page_url  # the secret is not in the Location
    first, again = client.get(page_url).text, client.get(page_url).text
    address = re.search(r'value="(https://clinic\.example\.org/feeds/[^"]+\.ics)"', first).group(1)
    assert address in again
    assert f'href="webcal://{address.removeprefix("https://")}"' in first
    assert 'data-copy-from="feed-url"' in first and 'aria-live="polite"' in first
    assert client.get(address.removeprefix("https://clinic.example.org")).status_code == 200


def test_replacing_the_feed_needs_the_box_ticked_and_says_calendars_stop(client, clinician_user, in_app):
    sign_in(client, clinician_user.email)
    old = _feed_url(client, clinician_user)
    stored = in_app(lambda: db.session.get(Clinician, clinician_user.clinician_id).feed_token_hash)
    unticked = client.post(f"/staff/clinicians/{clinician_user.clinician_id}/feed")
    assert unticked.status_code == 422
    assert "Tick the box to replace the address" in unticked.text and "stop updating" in unticked.text
    assert 'id="confirm-error"' in unticked.text and 'aria-invalid="true"' in unticked.text
    assert in_app(lambda: db.session.get(Clinician, clinician_user.clinician_id).feed_token_hash) == stored
    assert client.get(old).status_code == 200
    new = _feed_url(client, clinician_user)
    assert new != old and client.get(old).status_code == 404


def test_a_new_sign_in_sees_only_that_an_address_exists(app, client, clinician_user):
    """Only a hash is stored: another session cannot be shown the address, only offered a new one."""
    sign_in(client, clinician_user.email)
    _feed_url(client, clinician_user)
    elsewhere = app.test_client()
    sign_in(elsewhere, clinician_user.email)
    page = elsewhere.get(f"/staff/clinicians/{clinician_user.clinician_id}/feed").text
    assert "/feeds/" not in page and "cannot be shown again" in page and "Replace the address" in page


def test_patient_names_open_the_intake_record_for_those_who_may_read_it(client, clinician_user, create_staff, in_app):
    booked = _book(client, clinician_user)
    intake_id = in_app(lambda: db.session.scalar(select(Booking).where(Booking.public_id == booked["id"])).intake.id)
    schedule = f"/staff/clinicians/{clinician_user.clinician_id}/schedule"
    link = f'href="/staff/intakes/{intake_id}"'
    for user in (clinician_user, create_staff(Role.ADMIN, email="admin.sched@clinic.example.org")):
        sign_in(client, user.email)
        page = client.get(schedule, query_string={"date": booked["start"][:10]}).text
        assert link in page, user.email
        assert client.get(f"/staff/intakes/{intake_id}").status_code == 200
        client.post("/staff/logout")


def test_the_day_view_opens_on_today_in_the_clinicians_zone(client, clinician_user, monkeypatch):
    """At 02:30 UTC it is still yesterday in New York: "Day view" from this week opens on that day."""
    import kapclinic.workspace.views as views

    late = now_utc().replace(hour=2, minute=30)
    monkeypatch.setattr(views, "now_utc", lambda: late)
    new_york_today = late.astimezone(ZoneInfo("America/New_York")).date()
    sign_in(client, clinician_user.email)
    schedule = f"/staff/clinicians/{clinician_user.clinician_id}/schedule"
    week = client.get(schedule).text
    assert f"view=day&amp;date={new_york_today.isoformat()}" in week
    assert "(today)" in client.get(schedule, query_string={"view": "day"}).text
    elsewhere = client.get(schedule, query_string={"date": (new_york_today + timedelta(days=21)).isoformat()}).text
    assert ">Today</a>" in elsewhere


def test_the_time_off_warning_links_each_consultation_it_covers(client, clinician_user):
    booked = _book(client, clinician_user, days_ahead=5)
    sign_in(client, clinician_user.email)
    day = booked["start"][:10]
    response = client.post(
        f"/staff/clinicians/{clinician_user.clinician_id}/time-off", data={"first_day": day, "last_day": day}
    )
    assert response.status_code == 200
    row = f"/staff/clinicians/{clinician_user.clinician_id}/schedule?view=day&amp;date={day}#booking-{booked['id']}"
    assert f'href="{row}"' in response.text
    assert f'id="booking-{booked["id"]}"' in client.get(row.replace("&amp;", "&").split("#")[0]).text
