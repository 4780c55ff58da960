"""A mistyped email domain is caught before booking: the patient would otherwise never get their links.

"Did you mean …@gmail.com?" with one tap to use it, and one to keep the address as typed;
nothing typed is lost and nothing is booked until they choose.
"""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from kapclinic.core.timezones import now_utc
from kapclinic.core.validation import likely_typo
from kapclinic.extensions import db
from kapclinic.scheduling.models import Booking
from tests.helpers import patient_form


@pytest.fixture
def details_url(client, create_clinician, create_consultation_type):
    consultation_type = create_consultation_type(clinicians=[create_clinician()])
    day = (now_utc() + timedelta(days=3)).date().isoformat()
    page = client.get(f"/book/{consultation_type.slug}", query_string={"tz": "America/New_York", "day": day}).text
    return re.search(r'class="slot" href="([^"]+)"', page).group(1).replace("&amp;", "&")


def _bookings(app):
    with app.app_context():
        return [booking.patient_email for booking in db.session.scalars(select(Booking))]


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("ana@gmial.com", "ana@gmail.com"),
        ("ana@yaho.com", "ana@yahoo.com"),
        ("ana@hotmial.com", "ana@hotmail.com"),
        ("Ana.Patient@example.con", "Ana.Patient@example.com"),
    ],
)
def test_a_likely_typo_in_the_domain_is_suggested_and_nothing_is_booked_yet(app, client, details_url, typed, meant):
    form = patient_form(email=typed, name="Ana Typed", phone="+1 212 555 0147")
    page = client.post(details_url, data=form)
    assert page.status_code == 200
    assert f"Did you mean <strong>{meant}</strong>?" in page.text
    assert f'name="email_fix" value="{meant}"' in page.text and 'name="email_fix" value="keep"' in page.text
    for kept in (typed, "Ana Typed", "+12125550147", "1990-04-12"):
        assert f'value="{kept}"' in page.text  # everything typed is still in the form (the phone as we read it)
    assert _bookings(app) == []


def test_one_tap_books_with_the_corrected_address_and_the_email_goes_there(app, client, details_url, mailbox):
    response = client.post(details_url, data=patient_form(email="ana@gmial.com", email_fix="ana@gmail.com"))
    assert response.status_code == 302
    assert _bookings(app) == ["ana@gmail.com"]
    assert [message["To"] for message in mailbox.messages] == ["ana@gmail.com"]


def test_the_address_can_be_kept_as_typed(app, client, details_url, mailbox):
    response = client.post(details_url, data=patient_form(email="ana@gmial.com", email_fix="keep"))
    assert response.status_code == 302
    assert _bookings(app) == ["ana@gmial.com"]


def test_a_correction_for_another_address_is_not_applied(app, client, details_url):
    """The patient changed the address after the suggestion: the new one is checked again, not replaced."""
    page = client.post(details_url, data=patient_form(email="ana@yaho.com", email_fix="ana@gmail.com"))
    assert page.status_code == 200 and "Did you mean <strong>ana@yahoo.com</strong>?" in page.text
    assert _bookings(app) == []


def test_a_usual_address_books_at_once(app, client, details_url):
    assert client.post(details_url, data=patient_form(email="ana@gmail.com")).status_code == 302
    assert _bookings(app) == ["ana@gmail.com"]


@pytest.mark.parametrize(
    "address", ["ana@gmail.com", "ana@clinic.example.org", "ana@hotmail.co.uk", "ana@uni.edu", "ana@proton.me"]
)
def test_real_domains_are_left_alone(address):
    assert likely_typo(address) is None
