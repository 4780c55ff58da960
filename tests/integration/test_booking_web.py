"""The patient's booking path in the browser: a month calendar and a day's times, details, confirmation, manage link."""

import re
from datetime import UTC, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.scheduling.models import Booking, BookingStatus
from tests.helpers import booked_by, patient_form, patient_json


@pytest.fixture
def offered(create_clinician, create_consultation_type):
    clinician = create_clinician(timezone="America/New_York")
    return create_consultation_type(clinicians=[clinician]), clinician


def _slot_links(html):
    return re.findall(r'class="slot" href="([^"]+)"', html)


def _book_first_slot(client, consultation_type, tz="America/New_York", **form):
    three_days_out = (now_utc() + timedelta(days=3)).date().isoformat()
    week = client.get(f"/book/{consultation_type.slug}", query_string={"tz": tz, "from": three_days_out})
    assert week.status_code == 200
    details_url = _slot_links(week.text)[0].replace("&amp;", "&")
    return details_url, client.post(details_url, data=patient_form(**form))


def test_landing_page_explains_and_points_to_crisis_help(client, offered):
    page = client.get("/").text
    assert "Not for emergencies" in page
    assert "988" in page and "911" in page
    assert offered[0].name in page


def test_the_times_page_names_the_zone_it_shows(client, offered):
    consultation_type, _ = offered
    page = client.get(f"/book/{consultation_type.slug}", query_string={"tz": "Europe/Berlin"}).text
    assert "Times in Central European Time — Berlin (UTC+" in page
    labels = re.findall(r'class="slot" href="[^"]+"[^>]*>([^<]+)<', page)
    # The heading names the zone once; each time is just its clock.
    assert labels and all(re.fullmatch(r"\d{1,2}:\d\d [AP]M", label) for label in labels)


def test_unknown_zone_is_a_400_with_a_message_and_the_selector(client, offered):
    consultation_type, _ = offered
    response = client.get(f"/book/{consultation_type.slug}", query_string={"tz": "Atlantis/Capital"})
    assert response.status_code == 400
    assert "We do not recognise that time zone" in response.text
    assert 'name="tz"' in response.text


def test_patient_books_and_sees_time_in_both_zones(client, offered, mailbox):
    consultation_type, _ = offered
    _, response = _book_first_slot(client, consultation_type, tz="America/Los_Angeles")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).text
    assert "Your consultation is booked" in page
    assert re.search(r"\d{1,2}:\d{2} [AP]M P[SD]T", page)  # the patient's zone
    assert re.search(r"\d{1,2}:\d{2} [AP]M E[SD]T", page)  # the clinician's zone
    assert "Add to calendar" in page
    assert len(mailbox.messages) == 1


def test_add_to_calendar_download_is_a_private_generic_event(client, offered):
    consultation_type, _ = offered
    _, response = _book_first_slot(client, consultation_type)
    manage_url = response.headers["Location"]
    download = client.get(manage_url + "/invite.ics")
    assert download.headers["Content-Type"].startswith("text/calendar")
    event = Calendar.from_ical(download.data).walk("VEVENT")[0]
    assert str(event["CLASS"]) == "PRIVATE"
    assert "ketamine" not in download.text.lower()
    booking = db.session.scalar(select(Booking))
    assert event.decoded("DTSTART") == booking.start_dt


def test_the_booked_page_makes_the_questionnaire_the_next_step_for_the_browser_that_booked_only(
    app, client, offered, mailbox
):
    consultation_type, _ = offered
    _, response = _book_first_slot(client, consultation_type)
    manage_path = response.headers["Location"]
    page = client.get(manage_path).text
    assert "Next: your questionnaire" in page and "about 20–30 minutes" in page
    start = re.search(r'<a class="button primary" href="(/intake/[^"]+)">Start the questionnaire</a>', page).group(1)
    assert client.get(start).status_code == 200
    assert start in mailbox.messages[0].get_body(("plain",)).get_content()  # the same link as the email's
    # The manage link forwarded to someone else opens no page of the questionnaire.
    elsewhere = app.test_client().get(manage_path).text
    assert "/intake/" not in elsewhere and "Email me my questionnaire link" in elsewhere


def test_invalid_details_show_messages_per_field_and_book_nothing(client, offered):
    consultation_type, _ = offered
    _, response = _book_first_slot(
        client, consultation_type, name="", email="nope", phone="1", date_of_birth="3000-01-01"
    )
    assert response.status_code == 422
    for message in ("Please enter your name", "valid email", "valid phone", "must be in the past"):
        assert message in response.text
    assert db.session.scalar(select(func.count(Booking.id))) == 0


def test_a_half_typed_date_of_birth_is_named_in_the_parts_the_date_field_shows(client, offered):
    """The browser's date field sends nothing while a part is blank: the message names the parts, not a format."""
    consultation_type, _ = offered
    _, response = _book_first_slot(client, consultation_type, date_of_birth="")
    assert response.status_code == 422
    assert "Please enter your whole date of birth: month, day and year." in response.text
    assert "YYYY" not in response.text
    control = re.search(r'<input[^>]*id="date_of_birth"[^>]*>', response.text).group(0)
    # The hint and the message are read out with the control; the browser may fill it in.
    assert 'aria-describedby="date_of_birth-hint date_of_birth-error"' in control
    assert 'aria-invalid="true"' in control and 'autocomplete="bday"' in control and 'type="date"' in control
    assert db.session.scalar(select(func.count(Booking.id))) == 0


def test_a_time_just_taken_offers_the_nearest_times_and_one_tap_books_one_with_what_was_typed(client, offered):
    consultation_type, _ = offered
    details_url, first = _book_first_slot(client, consultation_type)
    assert first.status_code == 302
    typed = patient_form(name="Bo Second", email="other@example.com")
    second = client.post(details_url, data=typed)
    assert second.status_code == 409
    assert "This time was just taken" in second.text
    assert 'value="Bo Second"' in second.text and 'value="other@example.com"' in second.text  # still in the form
    alternatives = re.findall(
        r'<button type="submit" class="slot" formaction="([^"]+)">Book ([^<]+)</button>', second.text
    )
    assert alternatives and "Book this time" not in second.text  # the taken time cannot be tried again by mistake
    assert db.session.scalar(select(func.count(Booking.id))) == 1
    # The button posts the same form to the alternative's address: one tap, nothing retyped.
    booked = client.post(alternatives[0][0].replace("&amp;", "&"), data=typed)
    assert booked.status_code == 302
    assert db.session.scalar(select(func.count(Booking.id))) == 2
    assert db.session.scalar(select(Booking).where(booked_by("other@example.com"))).patient_name == "Bo Second"


def test_double_submit_of_the_form_books_once(client, offered):
    consultation_type, _ = offered
    week = client.get(f"/book/{consultation_type.slug}").text
    details_url = _slot_links(week)[0].replace("&amp;", "&")
    form = patient_form()
    first = client.post(details_url, data=form)
    second = client.post(details_url, data=form)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert db.session.scalar(select(func.count(Booking.id))) == 1


def test_back_and_book_again_finds_the_booking_instead_of_booking_another_clinician(
    client, create_clinician, create_consultation_type
):
    """With "first available" and two clinicians free, a second submit from a fresh form would book the other one."""
    consultation_type = create_consultation_type(clinicians=[create_clinician(), create_clinician()])
    details_url, first = _book_first_slot(client, consultation_type)
    assert first.status_code == 302 and "clinician=any" in details_url
    again = client.get(details_url)  # the Back button (the page is not cached)
    assert "You booked this time a moment ago" in again.text
    key = re.search(r'name="idempotency_key" type="hidden" value="([^"]+)"', again.text).group(1)
    second = client.post(details_url, data=patient_form(idempotency_key=key))
    assert second.status_code == 302 and second.headers["Location"] == first.headers["Location"]
    assert db.session.scalar(select(func.count(Booking.id))) == 1


def test_opening_the_cancel_link_changes_nothing(client, offered):
    consultation_type, _ = offered
    _, response = _book_first_slot(client, consultation_type)
    manage_url = response.headers["Location"]
    assert client.get(manage_url + "/cancel").status_code == 200
    assert db.session.scalar(select(Booking.status)) is BookingStatus.CONFIRMED


def test_patient_cancels_and_the_slot_opens_again(client, offered, mailbox):
    consultation_type, _ = offered
    details_url, response = _book_first_slot(client, consultation_type)
    manage_url = response.headers["Location"]
    cancelled = client.post(manage_url + "/cancel", data={"reason": "Feeling better"})
    assert cancelled.status_code == 302
    assert "is cancelled" in client.get(manage_url).text
    booking = db.session.scalar(select(Booking))
    db.session.refresh(booking)
    assert booking.status is BookingStatus.CANCELLED
    assert booking.ical_sequence == 1
    rebook = client.post(details_url, data=patient_form(email="next@example.com"))
    assert rebook.status_code == 302
    assert [message["Subject"] for message in mailbox.messages][:2] == [
        "Your consultation with Riverside KAP Clinic is booked",
        "Your consultation with Riverside KAP Clinic is cancelled",
    ]


def test_patient_reschedules_and_the_first_emails_link_still_opens_the_booking_and_says_it_moved(
    client, offered, mailbox
):
    consultation_type, _ = offered
    _, response = _book_first_slot(client, consultation_type)
    manage_url = response.headers["Location"]
    booking = db.session.scalar(select(Booking))
    old_start = booking.start_dt
    later = (now_utc() + timedelta(days=4)).date().isoformat()  # outside the window for changing online
    choices = client.get(manage_url + "/reschedule", query_string={"day": later}).text
    confirm_url = _slot_links(choices)[3].replace("&amp;", "&")
    assert client.get(confirm_url).status_code == 200
    moved = client.post(confirm_url)
    assert moved.status_code == 302
    new_manage_url = moved.headers["Location"]
    assert "has moved" in client.get(new_manage_url).text
    db.session.refresh(booking)
    assert booking.start_dt != old_start
    assert booking.ical_sequence == 1
    assert mailbox.messages[-1]["Subject"].endswith("has a new time")
    # The link in the first email is not a dead end: it opens the booking at its new time.
    earlier = client.get(manage_url)
    assert earlier.status_code == 200
    assert "This consultation has moved since the email you opened this from" in earlier.text
    assert "has moved since" not in client.get(new_manage_url).text  # the newest link needs no such note
    # One more move: the link before the newest keeps working, the first one stops.
    again = _slot_links(client.get(new_manage_url + "/reschedule", query_string={"day": later}).text)[-1]
    again = again.replace("&amp;", "&")
    newest = client.post(again).headers["Location"]
    assert client.get(new_manage_url).status_code == 200 and client.get(newest).status_code == 200
    assert client.get(manage_url).status_code == 404


def test_changes_close_inside_the_cancellation_window(client, create_clinician, create_consultation_type):
    from datetime import time

    around_the_clock = create_clinician(timezone="UTC", hours=((time(0), time(12)), (time(12), time(23, 30))))
    consultation_type = create_consultation_type(clinicians=[around_the_clock])
    # Today's and tomorrow's first free times are less than 24 hours away.
    week = client.get(f"/book/{consultation_type.slug}", query_string={"tz": "UTC"}).text
    details_url = _slot_links(week)[0].replace("&amp;", "&")
    manage_url = client.post(details_url, data=patient_form()).headers["Location"]
    page = client.get(manage_url).text
    assert "Online changes close 24 hours before" in page
    refused = client.post(manage_url + "/cancel", data={})
    assert refused.status_code == 409
    assert db.session.scalar(select(Booking.status)) is BookingStatus.CONFIRMED


def test_forged_or_unknown_manage_links_are_404(client, offered):
    assert client.get("/manage/not-a-token").status_code == 404
    assert client.post("/manage/not-a-token/cancel").status_code == 404


def test_manage_pages_are_not_cached_and_send_no_referrer_to_other_sites(client, offered):
    consultation_type, _ = offered
    _, response = _book_first_slot(client, consultation_type)
    page = client.get(response.headers["Location"])
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "same-origin"


def test_first_available_goes_to_the_least_booked_clinician_that_week(
    client, create_clinician, create_consultation_type
):
    from datetime import datetime, time

    busy, free = create_clinician(), create_clinician()  # busy has the lower id: ties go to busy
    consultation_type = create_consultation_type(clinicians=[busy, free])
    day = (now_utc() + timedelta(days=3)).astimezone(busy.zone).date()

    def at(hour):
        return datetime.combine(day, time(hour), busy.zone).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def book(start, clinician, email):
        url = f"/book/{consultation_type.slug}/details?start={start}&clinician={clinician}&tz=America/New_York"
        assert client.post(url, data=patient_form(email=email)).status_code == 302

    book(at(9), busy.id, "first@example.com")
    book(at(13), "any", "second@example.com")  # both free at 13:00; busy already has one this week
    book(at(15), "any", "third@example.com")  # one each now: the tie goes to the lower id
    owners = db.session.scalars(select(Booking.clinician_id).order_by(Booking.id)).all()
    assert owners == [busy.id, free.id, busy.id]


def test_a_time_already_past_is_refused_before_the_form_with_the_next_times(client, offered):
    """An old tab or the back button: the patient learns it before typing anything."""
    consultation_type, _ = offered
    past = (now_utc() - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    page = client.get(
        f"/book/{consultation_type.slug}/details",
        query_string={"tz": "America/New_York", "start": past.strftime("%Y-%m-%dT%H:%M:%SZ")},
    )
    assert page.status_code == 409
    assert "That time has already passed" in page.text and '<form method="post"' not in page.text
    offered_next = _slot_links(page.text)
    assert offered_next
    assert client.get(offered_next[0].replace("&amp;", "&")).status_code == 200  # each leads to the form


def test_the_booking_page_and_email_add_it_to_google_outlook_and_office_with_the_invites_neutral_event(
    client, offered, mailbox
):
    consultation_type, _ = offered
    _, response = _book_first_slot(client, consultation_type, name="Ana Private", email="ana.private@example.com")
    page = client.get(response.headers["Location"]).text
    links = dict(re.findall(r'<a class="button" href="(https://[^"]+)" rel="noopener noreferrer">([^<]+)</a>', page))
    by_name = {name: href.replace("&amp;", "&") for href, name in links.items()}
    assert set(by_name) == {"Google Calendar", "Outlook.com", "Office 365"}
    assert "Apple Calendar and others (.ics)" in page
    booking = db.session.scalar(select(Booking))
    start, end = booking.start_dt.astimezone(UTC), booking.end_dt.astimezone(UTC)
    google = parse_qs(urlsplit(by_name["Google Calendar"]).query)
    assert google["dates"] == [f"{start:%Y%m%dT%H%M%SZ}/{end:%Y%m%dT%H%M%SZ}"]
    assert google["text"] == ["Consultation with Riverside KAP Clinic"]
    for name in ("Outlook.com", "Office 365"):
        outlook = parse_qs(urlsplit(by_name[name]).query)
        assert (outlook["startdt"], outlook["enddt"]) == (
            [f"{start:%Y-%m-%dT%H:%M:%SZ}"],
            [f"{end:%Y-%m-%dT%H:%M:%SZ}"],
        )
        assert outlook["subject"] == google["text"]
    for href in by_name.values():  # a third party's address: nothing that names the patient or opens the booking
        assert "Private" not in href and "ana.private" not in href and "/manage/" not in href
    html_body = mailbox.messages[-1].get_body(("html",)).get_content()
    assert "https://calendar.google.com/calendar/render?" in html_body and ">Office 365</a>" in html_body


def test_a_child_under_the_online_age_is_told_on_the_form_to_book_by_phone(client, offered):
    consultation_type, _ = offered
    day = (now_utc() + timedelta(days=3)).date()
    page = client.get(f"/book/{consultation_type.slug}", query_string={"tz": "UTC", "day": day.isoformat()}).text
    details_url = _slot_links(page)[0].replace("&amp;", "&")
    ten = day.replace(year=day.year - 10).isoformat()
    refused = client.post(details_url, data=patient_form(date_of_birth=ten))
    assert refused.status_code == 422
    assert "For children under 12 we book the consultation by phone" in refused.text
    assert 'id="date_of_birth-error"' in refused.text  # on the field, and named in the summary
    assert db.session.scalar(select(func.count(Booking.id))) == 0
    # Twelve on the consultation's day is old enough (a guardian is asked to join the intake).
    twelve = day.replace(year=day.year - 12).isoformat()
    assert client.post(details_url, data=patient_form(date_of_birth=twelve)).status_code == 302


def test_the_api_refuses_a_child_under_the_online_age_on_the_field(client, offered):
    consultation_type, _ = offered
    slot = client.get(
        "/api/v1/slots",
        query_string={
            "type": consultation_type.slug,
            "start": (now_utc() + timedelta(days=2)).date().isoformat(),
            "end": (now_utc() + timedelta(days=4)).date().isoformat(),
            "tz": "UTC",
        },
    ).json["slots"][0]
    born = (now_utc() - timedelta(days=365 * 11)).date().isoformat()
    response = client.post("/api/v1/bookings", json=patient_json(consultation_type, slot["start"], date_of_birth=born))
    assert response.status_code == 422
    assert "by phone" in response.json["errors"]["date_of_birth"]
