"""What a person sees when the clinic says no: plain words, what happens next, a number to tap, what they typed kept.

Each test follows a refusal a reviewer met on a phone (issue 12 follow-up): an expired
hold, the network's booking budget, the per-patient cap, a guardian's link after the
consultation was cancelled, the guardian resend limit, and the error pages.
"""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from kapclinic.core.timezones import instant_param, now_utc
from kapclinic.extensions import db, limiter
from kapclinic.intake.models import GuardianEmailRequest, Intake, IntakeStatus
from kapclinic.scheduling import services
from kapclinic.scheduling.models import Booking, BookingStatus
from tests.helpers import patient_form, patient_json, seed_offering
from tests.intake_answers import ADULT_STEPS, book_for_intake, born_years_ago, complete_steps, form_for

CLINIC_PHONE = "+1 555 0100"
TEL_LINK = f'<a href="tel:{CLINIC_PHONE}">{CLINIC_PHONE}</a>'


def _text(message):
    return message.get_body(("plain",)).get_content()


def _manage_path(message):
    return re.search(r"https://clinic\.example\.org(/manage/\S+)", _text(message)).group(1)


def _details_url(offering, slot, tz="UTC"):
    start = instant_param(offering.starts[slot])
    return f"/book/{offering.slug}/details?start={start}&clinician={offering.clinician_id}&tz={tz}"


def _alert(page):
    """The text of the page's first role="alert" region."""
    match = re.search(r'role="alert"[^>]*>(.*?)</div>', page.text, re.S)
    assert match, "no alert region on the page"
    return match.group(1)


def _bookings():
    return db.session.scalar(select(func.count(Booking.id)))


# --- 1. a hold past its deadline --------------------------------------------------------------------


@pytest.fixture
def hold_app(make_app, sqlite_url):
    app = make_app(sqlite_url, BOOKING_CONFIRMATION_MINUTES=30)
    with app.app_context():
        yield app


DEADLINE_IN_NEW_YORK = r"by \w{3}, \w{3} \d{1,2}, \d{4}, \d+:\d\d [AP]M E[SD]T\."


def test_the_hold_page_says_the_link_was_emailed_and_names_the_deadlines_zone(hold_app, mailbox):
    offering = seed_offering(hold_app, "held-page")
    client = hold_app.test_client()
    page = client.post(_details_url(offering, 0, tz="America/New_York"), data=patient_form(), follow_redirects=True)
    assert page.request.path == "/book/held"
    words = " ".join(page.text.split())
    assert "We have emailed a link to <strong>ana.patient@example.com</strong>" in words
    assert re.search(DEADLINE_IN_NEW_YORK, words)
    # The emailed link opens the page that confirms, with the same deadline.
    emailed = client.get(_manage_path(mailbox.messages[-1]))
    assert re.search(r"Please confirm it " + DEADLINE_IN_NEW_YORK, emailed.text)


def _hold_past_its_deadline(app, mailbox, slug):
    offering = seed_offering(app, slug)
    client = app.test_client()
    assert (
        client.post("/api/v1/bookings", json=patient_json(offering, instant_param(offering.starts[0]))).status_code
        == 201
    )
    booking = db.session.scalar(select(Booking))
    booking.confirm_by_dt = now_utc() - timedelta(minutes=1)
    db.session.commit()
    return client, offering, _manage_path(mailbox.messages[-1])


def _says_released(page, offering):
    assert "Held for you" not in page.text
    assert "<dt>Status</dt><dd>Released: not confirmed in time</dd>" in page.text
    assert "<h1>This time was not confirmed</h1>" in page.text
    alert = _alert(page)
    assert "this time was released for other patients" in alert
    assert TEL_LINK in alert
    assert re.search(rf'<a href="/book/{offering.slug}\?tz=[^"]+">Book a time again</a>', alert)


def test_a_hold_past_its_deadline_says_it_was_released_and_how_to_book_again(hold_app, mailbox):
    client, offering, manage = _hold_past_its_deadline(hold_app, mailbox, "released-page")
    page = client.get(manage)
    assert page.status_code == 200
    _says_released(page, offering)
    assert "Confirm my consultation" not in page.text

    late = client.post(f"{manage}/confirm")
    assert late.status_code == 409
    _says_released(late, offering)
    db.session.expire_all()
    assert db.session.scalar(select(Booking.status)) is BookingStatus.PENDING  # nothing written
    assert len(mailbox.messages) == 1

    # Once the worker has released it, the page says the same.
    services.release_expired_holds(now_utc())
    db.session.commit()
    _says_released(client.get(manage), offering)


# --- 2. the network's booking budget -----------------------------------------------------------------


@pytest.fixture
def budget_app(make_app, sqlite_url):
    app = make_app(sqlite_url, RATELIMIT_ENABLED=True, BOOKING_RATE_LIMIT="1 per hour")
    with app.app_context():
        yield app


def _over_budget_alert(page):
    alert = _alert(page)
    minutes = re.search(
        r"We can't take another booking online from your network just now[^.]*\.\s+Please try again in "
        r"about\s+(\d+) minutes",
        alert,
    )
    assert minutes and 55 <= int(minutes.group(1)) <= 60, alert
    assert TEL_LINK in alert
    return alert


def test_a_booking_over_the_networks_budget_shows_the_form_again_with_what_was_typed(budget_app, mailbox):
    offering = seed_offering(budget_app, "over-budget")
    client = budget_app.test_client()
    assert client.post(_details_url(offering, 0), data=patient_form()).status_code == 302
    typed = patient_form(
        name="Bea Second", email="bea@example.com", phone="+1 212 555 0142", date_of_birth="1985-02-03"
    )

    refused = client.post(_details_url(offering, 2), data=typed)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"]
    assert "Too Many Requests" not in refused.text
    _over_budget_alert(refused)
    for value in ("Bea Second", "bea@example.com", "+1 212 555 0142", "1985-02-03", typed["idempotency_key"]):
        assert f'value="{value}"' in refused.text
    assert re.search(r'<input checked id="contact_consent"', refused.text)
    assert "Book this time" in refused.text
    assert _bookings() == 1

    # Over the budget, an address that is no form gets the plain error page, never a 500.
    for nowhere in (
        f"/book/no-such-type/details?start={instant_param(offering.starts[4])}",
        "/manage/made-up/reschedule/confirm",
    ):
        page = client.post(nowhere)
        assert page.status_code == 429 and "<h1>Please wait a moment</h1>" in page.text

    # The API keeps its JSON answer.
    api = client.post("/api/v1/bookings", json=patient_json(offering, instant_param(offering.starts[4])))
    assert api.status_code == 429 and api.is_json and "call us on" in api.json["message"]


def test_a_reschedule_over_the_networks_budget_shows_the_reschedule_page_with_the_alert(budget_app, mailbox):
    offering = seed_offering(budget_app, "move-over-budget")
    client = budget_app.test_client()
    assert client.post(_details_url(offering, 0), data=patient_form()).status_code == 302
    manage = _manage_path(mailbox.messages[-1])
    booked_start = db.session.scalar(select(Booking.start_dt))

    refused = client.post(f"{manage}/reschedule/confirm?start={instant_param(offering.starts[4])}&tz=UTC")
    assert refused.status_code == 429
    assert "<h1>Confirm the new time</h1>" in refused.text and "Move my consultation" in refused.text
    assert "your consultation has not moved" in _over_budget_alert(refused)
    db.session.expire_all()
    assert db.session.scalar(select(Booking.start_dt)) == booked_start


# --- 3. the per-patient cap --------------------------------------------------------------------------


@pytest.mark.usefixtures("app_context")
def test_the_cap_refusal_is_summarised_at_the_top_and_offers_a_number_to_tap(app, client, mailbox):
    offering = seed_offering(app, "cap-summary")
    for slot in (0, 2):
        assert (
            client.post(_details_url(offering, slot), data=patient_form(phone=f"+1 212 555 01{slot:02d}")).status_code
            == 302
        )

    third = client.post(_details_url(offering, 4), data=patient_form(phone="+1 212 555 0199", name="Ana Third"))
    assert third.status_code == 422
    summary = re.search(r'<div class="error-summary"[^>]*>(.*?)</div>', third.text, re.S).group(1)
    assert re.search(r'<a href="#email">This email address already has 2 upcoming consultations', summary)
    field_error = re.search(r'<p class="error" id="email-error">(.*?)</p>', third.text, re.S).group(1)
    assert "the most we book online for one person" in field_error
    assert f"To book another, please call us on {TEL_LINK}." in field_error
    assert "To change one of your consultations instead, use the link in its confirmation email." in field_error
    assert 'value="Ana Third"' in third.text
    assert _bookings() == 2


@pytest.mark.usefixtures("app_context")
def test_the_phone_cap_speaks_of_the_phone_number_not_of_one_person(app, client, mailbox):
    offering = seed_offering(app, "cap-phone")
    for slot, email in ((0, "one@example.com"), (2, "two@example.com")):
        assert (
            client.post(
                _details_url(offering, slot), data=patient_form(email=email, phone="+1 212 555 0177")
            ).status_code
            == 302
        )

    third = client.post(
        _details_url(offering, 4), data=patient_form(email="three@example.com", phone="+1 212 555 0177")
    )
    assert third.status_code == 422
    field_error = re.search(r'<p class="error" id="phone-error">(.*?)</p>', third.text, re.S).group(1)
    assert "the most we book online with this phone number" in field_error and "one person" not in field_error
    assert 'href="#phone"' in third.text
    assert _bookings() == 2


# --- 6 and 7. the guardian's pages ----------------------------------------------------------------------


FIFTEEN = born_years_ago(15)


def _adolescent_awaiting_guardian(app, mailbox, slug):
    offering = seed_offering(app, slug)
    patient = app.test_client()
    intake_url = book_for_intake(patient, offering, mailbox, email="teen@example.com", date_of_birth=FIFTEEN)
    complete_steps(
        patient,
        intake_url,
        ADULT_STEPS[:-1] + ["guardian", "consent"],
        about={"date_of_birth": FIFTEEN},
        guardian={"guardian_email": "grace@example.com"},
    )
    assert patient.post(f"{intake_url}/review").status_code == 302
    guardian_link = re.search(r"https://clinic\.example\.org(/intake/guardian/\S+)", _text(mailbox.messages[-1])).group(
        1
    )
    return patient, intake_url, guardian_link


@pytest.mark.usefixtures("app_context")
def test_a_guardian_cannot_sign_once_the_consultation_is_cancelled(app, mailbox):
    patient, intake_url, guardian_link = _adolescent_awaiting_guardian(app, mailbox, "guardian-cancelled")
    manage = _manage_path(next(m for m in mailbox.messages if m["To"] == "teen@example.com"))
    assert patient.post(f"{manage}/cancel", data={"reason": ""}).status_code == 302
    guardian = app.test_client()

    page = guardian.get(guardian_link)
    assert page.status_code == 200
    assert "This consultation has been cancelled, so there is nothing to sign." in _alert(page)
    assert 'name="signature"' not in page.text and "<form" not in page.text.split("</header>", 1)[1]

    signed = guardian.post(
        guardian_link, data={"agree": "yes", "relationship": "Mother", "signature": "Grace Guardian"}
    )
    assert signed.status_code == 409
    assert "nothing to sign" in signed.text
    db.session.expire_all()
    intake = db.session.scalar(select(Intake))
    assert intake.guardian_signed_dt is None and intake.guardian_consent is None
    assert intake.status is IntakeStatus.AWAITING_GUARDIAN

    # Nor can the patient's side send the guardian another email for a cancelled consultation.
    sent = len(mailbox.messages)
    assert "Correct it and resend" not in patient.get(f"{intake_url}/done").text
    assert patient.get(f"{intake_url}/guardian-details").status_code == 302
    assert _resend(patient, intake_url, "other.guardian@example.com").status_code == 302
    assert len(mailbox.messages) == sent


def _resend(client, intake_url, address):
    form = form_for("guardian", guardian_email=address)
    return client.post(
        f"{intake_url}/guardian-details", data=MultiDict([(k, v) for k, values in form.items() for v in values])
    )


@pytest.mark.usefixtures("app_context")
def test_the_resend_form_says_its_daily_limit_up_front_and_goes_away_once_it_is_spent(app, mailbox):
    patient, intake_url, _ = _adolescent_awaiting_guardian(app, mailbox, "resend-limit")
    form = patient.get(f"{intake_url}/guardian-details")
    assert "We can send it again up to 3 times a day" in form.text and "(3 left today)" in form.text
    assert ">Save and resend</button>" in form.text
    assert "Wrong address? Correct it and resend" in patient.get(f"{intake_url}/done").text

    for number in range(3):
        assert _resend(patient, intake_url, f"grace{number}@example.com").status_code == 302
    done = patient.get(f"{intake_url}/done")
    assert "Correct it and resend" not in done.text and TEL_LINK in done.text
    sent = db.session.scalar(select(func.count(GuardianEmailRequest.id)))

    for refused in (_resend(patient, intake_url, "grace3@example.com"), patient.get(f"{intake_url}/guardian-details")):
        assert "We cannot send the consent email again today" in _alert(refused)
        assert f'<a class="button" href="{intake_url}/done">Back to your answers</a>' in refused.text
        assert "<form" not in refused.text.split("</header>", 1)[1]
    assert db.session.scalar(select(func.count(GuardianEmailRequest.id))) == sent


# --- 8. error pages ----------------------------------------------------------------------------------------


def test_a_page_that_is_not_there_says_so_plainly_with_a_number_to_call(client):
    page = client.get("/no-such-page")
    assert page.status_code == 404
    assert "<h1>Page not found</h1>" in page.text
    assert "If you entered the URL manually" not in page.text and "Not Found" not in page.text
    assert f"call us on {TEL_LINK}" in page.text
    assert 'class="crisis"' in page.text  # the patients' layout


@pytest.mark.parametrize(
    "path", ["/manage/not-a-real-token-0123456789", "/intake/not-a-real-token-0123456789/step/about"]
)
def test_a_private_link_that_finds_nothing_says_the_link_no_longer_works_and_offers_fresh_links(client, path):
    page = client.get(path)
    assert page.status_code == 404
    assert "<h1>This link does not work any more</h1>" in page.text
    assert '<a class="button primary" href="/links">Send me my links again</a>' in page.text


def test_a_staff_error_page_uses_the_staff_layout_and_leads_back_to_staff_sign_in(client):
    page = client.get("/staff/no-such-page")
    assert page.status_code == 404
    assert "<h1>Page not found</h1>" in page.text
    assert "· staff</a>" in page.text and 'class="crisis"' not in page.text
    assert '<a href="/staff/login">Back to staff sign-in</a>' in page.text
    assert 'href="/"' not in page.text.split("</header>", 1)[1]


def test_sign_in_paused_while_redis_is_away_leads_back_to_staff_sign_in(client, monkeypatch):
    monkeypatch.setattr(type(limiter), "counting_locally", property(lambda self: True))
    page = client.get("/staff/login")
    assert page.status_code == 503 and page.headers["Retry-After"]
    assert "<h1>We can&#39;t do that just now</h1>" in page.text
    assert "tell your administrator" in page.text
    assert '<a href="/staff/login">Back to staff sign-in</a>' in page.text
    assert 'class="crisis"' not in page.text and "/book" not in page.text
