"""The guardian's "correct and resend" form: a few resends a day, and no typed text in the email.

Whoever fills in the form chooses the recipient, so without limits it would send the
clinic's email, with words of the sender's choosing, to anyone, as often as asked.
"""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from werkzeug.datastructures import MultiDict

from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.intake.models import GuardianEmailRequest, Intake
from kapclinic.scheduling.models import Booking
from tests.helpers import booked_by, seed_offering
from tests.intake_answers import ADULT_STEPS, book_for_intake, born_years_ago, complete_steps, form_for

FIFTEEN = born_years_ago(15)
TYPED_NAME = "Visit evil example org"  # a "name" that is really a message


@pytest.fixture
def offering(app):
    return seed_offering(app, "guardian-resend")


def _adolescent_awaiting_guardian(app, offering, mailbox, slot, email, guardian_email):
    """An adolescent books the `slot`-th start (60 minutes, starts 30 apart) and submits; the guardian is asked once."""
    patient = app.test_client()
    intake_url = book_for_intake(patient, offering, mailbox, slot=slot, email=email, date_of_birth=FIFTEEN)
    complete_steps(
        patient,
        intake_url,
        ADULT_STEPS[:-1] + ["guardian", "consent"],
        about={"date_of_birth": FIFTEEN},
        guardian={"guardian_email": guardian_email},
    )
    assert patient.post(f"{intake_url}/review").status_code == 302
    return intake_url


def _resend(client, intake_url, **changes):
    form = form_for("guardian", **changes)
    return client.post(
        f"{intake_url}/guardian-details", data=MultiDict([(k, v) for k, values in form.items() for v in values])
    )


def _sent_to(mailbox, address):
    return [message for message in mailbox.messages if message["To"] == address]


def _guardian_answers(email):
    db.session.expire_all()
    return db.session.scalar(select(Intake).join(Booking).where(booked_by(email))).answers["guardian"]


@pytest.mark.usefixtures("app_context")
def test_patient_can_resend_the_guardian_email_three_times_a_day_then_is_asked_to_call(app, offering, mailbox):
    intake_url = _adolescent_awaiting_guardian(app, offering, mailbox, 0, "teen@example.com", "first@example.com")
    client = app.test_client()
    for number in range(3):
        assert _resend(client, intake_url, guardian_email=f"grace{number}@example.com").status_code == 302
        assert len(_sent_to(mailbox, f"grace{number}@example.com")) == 1
    last_link = re.search(
        r"(/intake/guardian/\S+)", _sent_to(mailbox, "grace2@example.com")[0].get_body(("plain",)).get_content()
    ).group(1)
    sent_before = len(mailbox.messages)

    refused = _resend(client, intake_url, guardian_email="grace3@example.com", guardian_name="Grace Changed")
    assert refused.status_code == 429
    assert "cannot send the consent email again today" in refused.text
    assert "Please call us on" in refused.text and app.config["CLINIC_PHONE"] in refused.text
    assert len(mailbox.messages) == sent_before  # nothing sent
    saved = _guardian_answers("teen@example.com")
    assert (
        saved["guardian_email"] == "grace2@example.com" and saved["guardian_name"] != "Grace Changed"
    )  # nothing saved
    assert app.test_client().get(last_link).status_code == 200  # the last link sent still works

    # A day later the patient may resend again.
    db.session.execute(update(GuardianEmailRequest).values(requested_dt=now_utc() - timedelta(hours=25)))
    db.session.commit()
    assert _resend(client, intake_url, guardian_email="grace3@example.com").status_code == 302
    assert len(_sent_to(mailbox, "grace3@example.com")) == 1


@pytest.mark.usefixtures("app_context")
def test_one_address_gets_at_most_three_requested_consent_emails_a_day_across_intakes(app, offering, mailbox):
    # Two bookings name the same address (a +tag reaches the same mailbox): two first requests.
    first = _adolescent_awaiting_guardian(app, offering, mailbox, 0, "one@example.com", "target@example.com")
    second = _adolescent_awaiting_guardian(app, offering, mailbox, 2, "two@example.com", "Target+2@example.com")
    third = _adolescent_awaiting_guardian(app, offering, mailbox, 4, "three@example.com", "someone@example.com")
    client = app.test_client()
    assert _resend(client, first, guardian_email="target+again@example.com").status_code == 302  # the third to it today
    sent_before = len(mailbox.messages)

    refused = _resend(client, third, guardian_email="target@example.com")
    assert refused.status_code == 429 and "Please call us on" in refused.text
    assert len(mailbox.messages) == sent_before
    assert _guardian_answers("three@example.com")["guardian_email"] == "someone@example.com"
    # Other addresses are not held up by it.
    assert _resend(client, second, guardian_email="grace@example.com").status_code == 302
    assert len(_sent_to(mailbox, "grace@example.com")) == 1


def test_the_guardian_email_carries_no_free_text_the_requester_typed_only_a_plain_first_name(app, offering, mailbox):
    intake_url = _adolescent_awaiting_guardian(app, offering, mailbox, 0, "teen@example.com", "first@example.com")
    assert (
        _resend(
            app.test_client(),
            intake_url,
            guardian_email="grace@example.com",
            guardian_name=TYPED_NAME,
            guardian_relationship="Aunt",
        ).status_code
        == 302
    )
    (message,) = _sent_to(mailbox, "grace@example.com")
    for part in (message.get_body(("plain",)), message.get_body(("html",))):
        content = part.get_content()
        assert "Hello," in content
        assert TYPED_NAME not in content and "Aunt" not in content
        assert "Patient" not in content  # of the name given when booking, only the first name, when plainly a name
        assert "Ana has booked a consultation" in content
    assert TYPED_NAME not in message["Subject"]
