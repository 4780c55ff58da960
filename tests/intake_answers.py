"""Patient-side helpers for intake tests: book through the API, then post steps of valid answers."""

import re
from datetime import date

from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from kapclinic.extensions import db
from kapclinic.intake.models import Intake
from kapclinic.intake.sample_answers import sample_form as form_for
from kapclinic.scheduling.models import Booking
from tests.helpers import booked_by, patient_json


def book_for_intake(client, offering, mailbox, date_of_birth="1990-04-12", slot=0, **patient):
    """Book the offering's `slot`-th free start through the API; return the intake link from the confirmation email."""
    response = client.post(
        "/api/v1/bookings",
        json=patient_json(
            offering,
            offering.starts[slot].isoformat(),
            clinician_id=offering.clinician_id,
            date_of_birth=date_of_birth,
            **patient,
        ),
    )
    assert response.status_code == 201, response.json
    body = mailbox.messages[-1].get_body(("plain",)).get_content()
    intake_url = re.search(r"https://clinic\.example\.org(/intake/\S+)", body).group(1)
    return intake_url


def post_step(client, intake_url, key, **changes):
    return client.post(
        f"{intake_url}/step/{key}",
        data=MultiDict([(k, v) for k, values in form_for(key, **changes).items() for v in values]),
    )


def complete_steps(client, intake_url, keys, **changes_by_step):
    last = None
    for key in keys:
        last = post_step(client, intake_url, key, **changes_by_step.get(key, {}))
        assert last.status_code == 302, (key, last.text[:2000])
    return last


ADULT_STEPS = [
    "about",
    "reasons",
    "history",
    "medications",
    "medical",
    "psychiatric",
    "phq9",
    "asq",
    "gad7",
    "audit",
    "consent",
]


def submit_intake(app, offering, mailbox, slot, name, email, **changes_by_step):
    """A patient books `slot` and submits the intake; return the intake's id."""
    patient = app.test_client()
    intake_url = book_for_intake(patient, offering, mailbox, slot=slot, name=name, email=email)
    complete_steps(patient, intake_url, ADULT_STEPS, **changes_by_step)
    assert patient.post(f"{intake_url}/review").status_code == 302
    with app.app_context():
        intake_id = db.session.scalar(select(Intake.id).join(Booking).where(booked_by(email)))
        db.session.rollback()
    return intake_id


def born_years_ago(years):
    """A date of birth `years` ago, on the 1st of this month (never a 29 February that the year lacks)."""
    today = date.today()
    return today.replace(year=today.year - years, day=1).isoformat()
