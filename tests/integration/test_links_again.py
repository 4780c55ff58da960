"""Links a patient cannot lose: "Send me my links again" emails fresh links to every upcoming consultation.

It answers the same whether or not an address has booked, is limited per network and per
address, and every expired or unknown link, the landing page and the booking emails lead to it.
"""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.scheduling.models import Booking
from tests.helpers import patient_form, patient_json, seed_offering

pytestmark = pytest.mark.both_databases
SAME_ANSWER = "has upcoming consultations with us, we have emailed fresh links to it"


@pytest.fixture
def booked_twice(client, create_clinician, create_consultation_type, mailbox):
    """Two consultations booked with one address on the web form; return the first emails' manage links."""
    consultation_type = create_consultation_type(clinicians=[create_clinician()])
    links = []
    for days in (3, 5):
        day = (now_utc() + timedelta(days=days)).date().isoformat()
        page = client.get(f"/book/{consultation_type.slug}", query_string={"tz": "UTC", "day": day}).text
        details = re.search(r'class="slot" href="([^"]+)"', page).group(1).replace("&amp;", "&")
        response = client.post(details, data=patient_form(email="ana@example.com"))
        assert response.status_code == 302
        links.append(response.headers["Location"])
    return links


def _sent_links(mailbox, count=1):
    """The "Your links" emails (the confirmations of the bookings made first are not among them)."""
    sent = [message for message in mailbox.messages if message["Subject"].startswith("Your links")]
    assert len(sent) == count, [message["Subject"] for message in mailbox.messages]
    return sent


def _links_in(message):
    text = message.get_body(("plain",)).get_content()
    return re.findall(r"https://clinic\.example\.org(/manage/\S+)", text), re.findall(
        r"https://clinic\.example\.org(/intake/\S+)", text
    )


def test_one_email_brings_fresh_links_to_each_upcoming_consultation_and_questionnaire(client, booked_twice, mailbox):
    page = client.post("/links", data={"email": "ANA@example.com"})
    assert page.status_code == 200 and SAME_ANSWER in page.text
    (message,) = _sent_links(mailbox)
    assert message["To"] == "ana@example.com"
    manage, questionnaires = _links_in(message)
    assert len(manage) == 2 and len(questionnaires) == 2
    for link in manage:
        assert client.get(link).status_code == 200
    for link in questionnaires:
        assert client.get(link).status_code == 200
    # The links in the first emails no longer change the bookings; the new ones do.
    for old in booked_twice:
        assert client.get(old).status_code == 404


def test_an_address_with_nothing_booked_gets_the_same_answer_and_no_email(client, booked_twice, mailbox):
    page = client.post("/links", data={"email": "nobody@example.com"})
    assert page.status_code == 200 and SAME_ANSWER in page.text
    _sent_links(mailbox, count=0)
    for old in booked_twice:  # and nobody else's links changed
        assert client.get(old).status_code == 200


def test_a_cancelled_or_past_consultation_is_not_sent(app, client, booked_twice, mailbox, app_context):
    first = db.session.scalars(select(Booking).order_by(Booking.start_dt)).first()
    first.status = first.status.CANCELLED
    db.session.commit()
    client.post("/links", data={"email": "ana@example.com"})
    (message,) = _sent_links(mailbox)
    manage, _ = _links_in(message)
    assert len(manage) == 1


def test_a_bad_address_gets_a_message_on_its_field(client):
    page = client.post("/links", data={"email": "not an address"})
    assert page.status_code == 422
    assert "valid email address" in page.text and 'aria-invalid="true"' in page.text


def test_an_address_is_sent_its_links_three_times_an_hour_and_a_network_asks_a_few_times_more(
    make_app, database_url, mailbox
):
    app = make_app(database_url, RATELIMIT_ENABLED=True, LINKS_AGAIN_RATE_LIMIT="5 per hour")
    offering = seed_offering(app, "limited")
    client = app.test_client()
    booked = client.post("/api/v1/bookings", json=patient_json(offering, offering.starts[0].isoformat()))
    assert booked.status_code == 201
    ask = lambda address: client.post("/links", data={"email": address}).status_code  # noqa: E731
    assert [ask("ana.patient@example.com") for _ in range(4)] == [200, 200, 200, 429]
    assert len(_sent_links(mailbox, count=3)) == 3
    # Other addresses may still ask, until the network's five are spent (a refused request is not counted).
    assert [ask(f"other{number}@example.com") for number in range(3)] == [200, 200, 429]


def test_the_landing_page_an_unknown_link_and_the_booking_email_lead_there(client, booked_twice, mailbox):
    assert 'href="/links"' in client.get("/").text
    unknown = client.get("/manage/not-a-real-link")
    assert unknown.status_code == 404 and 'href="/links"' in unknown.text
    confirmations = [message for message in mailbox.messages if message["Subject"].endswith("is booked")]
    assert len(confirmations) == 2
    for message in confirmations:
        assert (
            "Lost a link? Get them all again: https://clinic.example.org/links"
            in message.get_body(("plain",)).get_content()
        )
