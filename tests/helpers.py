"""Plain helpers the tests import: the loopback SMTP server, seeded offerings, form and API bodies, staff sign-in.

Fixtures stay in tests/conftest.py (pytest finds them there); what a test calls itself lives
here, so a test module imports it by name, as flaskr's tests import their `AuthActions`.
"""

import contextlib
import os
import re
import socket
import threading
import uuid
import zlib
from dataclasses import dataclass
from datetime import time, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from kapclinic.extensions import db
from kapclinic.scheduling.models import AvailabilityRule, Clinician, ConsultationType, Modality

POSTGRES_URL = os.environ.get("KAPCLINIC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
RUNNING_IN_CI = os.environ.get("CI", "").lower() == "true"
EVERY_DAY = range(7)
STAFF_PASSWORD = "correct horse battery"
AXE = Path(__file__).resolve().parent / "e2e" / "node_modules" / "axe-core" / "axe.min.js"


def skip_or_fail_without(what, how):
    """Skip a test that needs a missing tool locally; in CI (.ci/run installs it) fail instead."""
    if RUNNING_IN_CI:
        pytest.fail(f"{what} is missing in CI: {how}")
    pytest.skip(f"{what} is not installed here ({how}); CI installs it")


# --- mail ---------------------------------------------------------------------------


class Mailbox:
    """Messages received by the loopback SMTP server, parsed as email.message objects."""

    def __init__(self):
        self._lock = threading.Lock()
        self._messages = []
        self.refuse = False

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        # A domain whose mailboxes do not exist: a permanent refusal, as a real server gives.
        if address.endswith("@no-such-mailbox.example"):
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return "451 Requested action aborted: local error in processing"
        with self._lock:
            self._messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    @property
    def messages(self):
        with self._lock:
            return list(self._messages)

    def clear(self):
        with self._lock:
            self._messages.clear()
        self.refuse = False


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_smtp(handler):
    """A real SMTP server on loopback that hands each message to `handler`; yields its controller."""
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


# --- the clinic and its patients -------------------------------------------------------------


@dataclass(frozen=True)
class Offering:
    """A consultation type with one clinician, as plain values (no ORM objects outliving a session)."""

    slug: str
    clinician_id: int
    starts: list  # free slot starts (aware UTC), two days ahead


def seed_offering(app, slug, zone="UTC", **type_overrides):
    """Commit a clinician working 08:00-18:00 every day and a 60-minute type; leave no transaction open.

    Outside a request every SQLite transaction holds the write lock (kapclinic.core.db),
    so the session is rolled back before returning.
    """
    from kapclinic.core.timezones import now_utc
    from kapclinic.scheduling import services
    from kapclinic.scheduling.slots import Interval

    with app.app_context():
        clinician = Clinician(
            name=f"Dr. {slug.title()}", email=f"{slug}-{uuid.uuid4().hex[:6]}@clinic.example.org", timezone=zone
        )
        clinician.availability_rules = [
            AvailabilityRule(weekday=day, start_time=time(8), end_time=time(18)) for day in EVERY_DAY
        ]
        values = {
            "slug": slug,
            "name": slug.title(),
            "duration_minutes": 60,
            "min_notice_minutes": 0,
            "horizon_days": 30,
            "slot_step_minutes": 30,
            "modality": Modality.PHONE,
            **type_overrides,
        }
        consultation_type = ConsultationType(**values, clinicians=[clinician])
        db.session.add(consultation_type)
        db.session.commit()
        now = now_utc()
        start = now + timedelta(days=2)
        slots = services.find_slots(consultation_type, Interval(start, start + timedelta(days=1)), now)
        offering = Offering(slug, clinician.id, [slot.start_dt for slot in slots])
        db.session.rollback()
    return offering


def booked_by(email):
    """The SQL condition "this booking's patient has this email address", through the blind index."""
    from kapclinic.core.crypto import blind_index
    from kapclinic.patients.models import Patient
    from kapclinic.scheduling.models import Booking

    return Booking.patient.has(Patient.email_index == blind_index("email", email.lower()))


def phone_of(email):
    """The phone number of the patient with this email: other patients have their own.

    One number may hold only MAX_ACTIVE_BOOKINGS_PER_PATIENT upcoming consultations online,
    so tests that book for several people must not give them all one phone.
    """
    if email == "ana.patient@example.com":
        return "+1 212 555 0100"
    return f"+1 212 555 {zlib.crc32(email.lower().encode()) % 10000:04d}"


def patient_form(**overrides):
    """Valid details a patient types into the booking form."""
    values = {
        "name": "Ana Patient",
        "email": "ana.patient@example.com",
        "phone": phone_of(overrides.get("email", "ana.patient@example.com")),
        "date_of_birth": "1990-04-12",
        "contact_consent": "y",
        "idempotency_key": uuid.uuid4().hex,
    }
    values.update(overrides)
    return values


def patient_json(consultation_type, start, **overrides):
    """A valid API booking body."""
    values = {
        "type": consultation_type.slug,
        "start": start,
        "name": "Ana Patient",
        "email": "ana.patient@example.com",
        "phone": phone_of(overrides.get("email", "ana.patient@example.com")),
        "date_of_birth": "1990-04-12",
        "tz": "America/New_York",
    }
    values.update(overrides)
    return values


# What the admin's consultation type form posts for a phone follow-up; tests change what they need.
TYPE_FORM = {
    "slug": "ketamine-follow-up",
    "name": "Follow-up, 30 min",
    "description": "A short check-in",
    "duration_minutes": "30",
    "buffer_before_minutes": "0",
    "buffer_after_minutes": "10",
    "min_notice_minutes": "0",
    "horizon_days": "30",
    "slot_step_minutes": "30",
    "modality": "phone",
    "location": "",
    "video_link": "",
    "is_active": "y",
    "patient_bookable": "y",  # on by default: the browser sends the ticked box
}


# --- staff ---------------------------------------------------------------------------------


def sign_in(client, email, password=STAFF_PASSWORD, next_path=None):
    query = f"?next={next_path}" if next_path else ""
    return client.post(f"/staff/login{query}", data={"email": email, "password": password})


def new_feed_path(client, clinician_id):
    """Make (or replace) a clinician's feed address from its page; return the path the page then shows."""
    response = client.post(f"/staff/clinicians/{clinician_id}/feed", data={"confirm": "y"})
    assert response.status_code == 303 and "/feeds/" not in response.headers["Location"], response.status_code
    page = client.get(response.headers["Location"]).text
    return re.search(r'value="https://clinic\.example\.org(/feeds/[^"]+\.ics)"', page).group(1)


def queue_test_emails(app, recipients):
    """Put one short staff email per recipient in the outbox, unsent (as a worker would find them); return their ids."""
    from kapclinic.notifications.services import queue_email

    with app.app_context(), app.test_request_context():
        message_ids = [
            queue_email(
                recipient,
                "intake_urgent",
                {"reference": f"ref-{number}", "record_url": "https://clinic.example.org/staff/intakes/1"},
            )
            for number, recipient in enumerate(recipients)
        ]
        db.session.commit()
        db.session.info.clear()  # not delivered at the end of this "request"
        return message_ids


def give_weekly_hours(app, clinician_id, start=time(8), end=time(18)):
    """Set a clinician's weekly hours (every day, start to end) as the workspace's hours page saves them.

    For tests about what follows hours (a new clinician's times), not about the hours page, which
    tests/e2e walks in a browser.
    """
    from kapclinic.scheduling.slots import TimeRange
    from kapclinic.workspace.services import replace_weekly_hours

    with app.app_context():
        replace_weekly_hours(
            db.session.get(Clinician, clinician_id), {day: [TimeRange(start, end)] for day in EVERY_DAY}
        )
        db.session.commit()


@dataclass(frozen=True)
class CourseTemplateSeed:
    version_id: int
    type_ids: dict  # kind -> consultation type id
    template_id: int


TREATMENT_NOTE = "Please arrange for someone to take you home afterwards."


def seed_course_template(app, clinician_id, preparation=2, cycles=3, dosing_minutes=180, **shape):
    """Commit three course-only session types offered by the clinician and a template using them; return its ids.

    Preparation and integration are 50 minutes by video and patients may move them; treatment
    (dosing) is `dosing_minutes` in person, moved by staff only, with a 48-hour change window.
    """
    from kapclinic.courses.models import CourseTemplate, CourseTemplateVersion

    values = {
        "integration_min_days": 1,
        "integration_max_days": 3,
        "min_days_between_dosing": 6,
        "min_days_after_preparation": 1,
        **shape,
    }
    with app.app_context():
        clinician = db.session.get(Clinician, clinician_id)
        suffix = uuid.uuid4().hex[:6]

        def session_type(kind, minutes, **overrides):
            return ConsultationType(
                slug=f"{kind}-{suffix}",
                name=f"{kind.title()} session",
                duration_minutes=minutes,
                min_notice_minutes=24 * 60,
                horizon_days=365,
                slot_step_minutes=30,
                modality=overrides.pop("modality", Modality.VIDEO),
                course_only=True,
                clinicians=[clinician],
                **overrides,
            )

        types = {
            "preparation": session_type("preparation", 50),
            "dosing": session_type(
                "treatment",
                dosing_minutes,
                modality=Modality.IN_PERSON,
                location="1 Clinic Way",
                patient_bookable=False,
                change_window_hours=48,
                description=TREATMENT_NOTE,
            ),
            "integration": session_type("integration", 50),
        }
        template = CourseTemplate(slug=f"kap-{suffix}", name="KAP sublingual, adult")
        version = CourseTemplateVersion(
            template=template,
            number=1,
            preparation_count=preparation,
            cycles=cycles,
            preparation_type=types["preparation"],
            dosing_type=types["dosing"],
            integration_type=types["integration"],
            **values,
        )
        db.session.add_all([*types.values(), template, version])
        db.session.commit()
        seed = CourseTemplateSeed(version.id, {kind: kind_type.id for kind, kind_type in types.items()}, template.id)
    return seed


def open_test_course(patient_email, version_id, actor_id, first_day_offset=10, first_time=time(10)):
    """Return a function (for an app context) that records every gate and opens a course for the patient
    booked with this address, its first session at `first_time` UTC `first_day_offset` days ahead; it returns
    the course's URL values."""

    def load():
        from datetime import UTC, datetime

        from flask import current_app

        from kapclinic.accounts.models import StaffUser
        from kapclinic.core.timezones import now_utc
        from kapclinic.courses import services as courses
        from kapclinic.courses.models import CourseTemplateVersion, GateKind, GateOutcome, TreatmentGate
        from kapclinic.scheduling.models import Booking

        now = now_utc()
        booking = db.session.scalar(db.select(Booking).where(booked_by(patient_email)))
        for kind in GateKind:
            clearance = kind is GateKind.MEDICAL_CLEARANCE
            db.session.add(
                TreatmentGate(
                    patient_id=booking.patient_id,
                    kind=kind,
                    outcome=GateOutcome.RECEIVED if clearance else GateOutcome.SIGNED,
                    consent_version=None if clearance else current_app.config["TREATMENT_CONSENT_VERSION"],
                    recorded_by_id=actor_id,
                )
            )
        version = db.session.get(CourseTemplateVersion, version_id)
        first = datetime.combine((now + timedelta(days=first_day_offset)).date(), first_time, UTC)
        plan = courses.propose(version, booking.clinician, booking.patient, first, now)
        starts = [proposal.start_dt for proposal in plan.proposals]
        course = courses.open_course(
            db.session.get(StaffUser, actor_id), version, booking.clinician, booking, starts, now
        )
        return {"course_id": course.public_id, "step": 1}

    return load
