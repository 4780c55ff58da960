"""Shared fixtures: an app on a migrated SQLite file (or PostgreSQL), a real SMTP server, factories."""

import contextlib
import os
import shutil
import socket
import threading
import uuid
import zlib
from dataclasses import dataclass
from datetime import time, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from hypothesis import settings

os.environ["KAPCLINIC_CONFIG"] = "testing"

from aiosmtpd.controller import Controller
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from kapclinic import create_app
from kapclinic.extensions import db
from kapclinic.scheduling.models import AvailabilityRule, Clinician, ConsultationType, Modality

POSTGRES_URL = os.environ.get("KAPCLINIC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
RUNNING_IN_CI = os.environ.get("CI", "").lower() == "true"

# CI draws a fixed sample of examples, so whether `main` lands never depends on the draw;
# local runs keep exploring new ones (and keep the failures they find in .hypothesis/).
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if RUNNING_IN_CI:
    settings.load_profile("ci")


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


@pytest.fixture(scope="session")
def smtp_server():
    mailbox = Mailbox()
    with running_smtp(mailbox) as controller:
        yield controller, mailbox


@pytest.fixture
def mailbox(smtp_server):
    _, box = smtp_server
    box.clear()
    yield box
    box.clear()


# --- databases ------------------------------------------------------------------------


def _settings(database_url, smtp_server, **overrides):
    controller, _ = smtp_server
    return {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": controller.port,
        "MAIL_TIMEOUT_SECONDS": 5.0,
        "PUBLIC_BASE_URL": "https://clinic.example.org",
        "CLINIC_TIMEZONE": "America/New_York",
        **overrides,
    }


def _migrate(database_url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory):
    """One SQLite file migrated to head per test process; each test copies it."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(migrated_sqlite_template, tmp_path):
    path = tmp_path / "kapclinic.sqlite3"
    shutil.copy(migrated_sqlite_template, path)
    return f"sqlite:///{path}"


def _postgres_admin_engine():
    return create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def postgres_server():
    """Skip (or fail, in CI) when the PostgreSQL named by KAPCLINIC_TEST_POSTGRES_URL is not there."""
    engine = _postgres_admin_engine()
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - any failure to connect means "no server"
        engine.dispose()
        message = f"PostgreSQL not reachable at {POSTGRES_URL}: {type(error).__name__}"
        if RUNNING_IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url(postgres_server):
    """A new, migrated PostgreSQL database for one test; dropped afterwards."""
    name = f"kapclinic_test_{uuid.uuid4().hex[:12]}"
    with postgres_server.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    _migrate(url)
    yield url
    with postgres_server.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request):
    """Run a test on SQLite and on PostgreSQL."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")


# --- app --------------------------------------------------------------------------------


def _app(database_url, smtp_server, **overrides):
    app = create_app(_settings(database_url, smtp_server, **overrides))
    app.config["KAPCLINIC_TEST_DATABASE"] = database_url
    return app


@pytest.fixture
def make_app(smtp_server):
    """Return a factory for apps on a given database with config overrides."""
    apps = []

    def factory(database_url, **overrides):
        app = _app(database_url, smtp_server, **overrides)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def app(make_app, sqlite_url):
    app = make_app(sqlite_url)
    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


# --- factories ---------------------------------------------------------------------------

EVERY_DAY = range(7)


@pytest.fixture
def create_clinician(app):
    """Return a factory: a clinician working 09:00-17:00 every day in their zone unless told otherwise."""
    counter = iter(range(1, 10_000))

    def factory(hours=((time(9), time(17)),), weekdays=EVERY_DAY, **overrides):
        number = next(counter)
        values = {
            "name": f"Clinician {number}",
            "credentials": "MD",
            "email": f"clinician{number}-{uuid.uuid4().hex[:6]}@clinic.example.org",
            "timezone": "America/New_York",
        }
        values.update(overrides)
        clinician = Clinician(**values)
        for weekday in weekdays:
            for start, end in hours:
                clinician.availability_rules.append(AvailabilityRule(weekday=weekday, start_time=start, end_time=end))
        db.session.add(clinician)
        db.session.commit()
        return clinician

    return factory


@pytest.fixture
def create_consultation_type(app):
    """Return a factory: a 60-minute video consultation, bookable from now, for the given clinicians."""
    counter = iter(range(1, 10_000))

    def factory(clinicians=(), **overrides):
        number = next(counter)
        values = {
            "slug": f"consultation-{number}",
            "name": f"Consultation {number}",
            "duration_minutes": 60,
            "min_notice_minutes": 0,
            "horizon_days": 60,
            "slot_step_minutes": 30,
            "modality": Modality.VIDEO,
            "video_link": "https://video.clinic.example.org/room",
        }
        values.update(overrides)
        consultation_type = ConsultationType(**values)
        consultation_type.clinicians = list(clinicians)
        db.session.add(consultation_type)
        db.session.commit()
        return consultation_type

    return factory


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


def one_day_ahead_window():
    from kapclinic.core.timezones import now_utc
    from kapclinic.scheduling.slots import Interval

    start = now_utc() + timedelta(days=1)
    return Interval(start, start + timedelta(days=1))


# --- staff ---------------------------------------------------------------------------------

STAFF_PASSWORD = "correct horse battery"


@pytest.fixture
def staff_app(make_app, database_url):
    """An app (on SQLite and on PostgreSQL) whose tests hold no app context between requests.

    Flask-Login keeps the signed-in user in `g`; a context shared with the test would
    carry it from one request to the next and hide a session that has ended.
    """
    return make_app(database_url)


@pytest.fixture
def in_app(staff_app):
    """Run a function inside a fresh app context, commit, and return its result."""

    def run(function):
        with staff_app.app_context():
            result = function()
            db.session.commit()
            return result

    return run


@pytest.fixture
def create_staff(in_app):
    """Return a factory for staff users with STAFF_PASSWORD; it returns plain details.

    A clinician user gets a clinician profile working 09:00-17:00 every day in `timezone`.
    """
    from types import SimpleNamespace

    from kapclinic.accounts import services as accounts
    from kapclinic.accounts.models import Role, StaffUser
    from kapclinic.core.timezones import now_utc

    def factory(role=Role.FRONT_DESK, email=None, name="Sam Staff", timezone="America/New_York"):
        def create():
            number = db.session.query(StaffUser).count() + 1
            clinician = None
            if role is Role.CLINICIAN:
                clinician = Clinician(
                    name=name, email=f"profile{number}-{uuid.uuid4().hex[:6]}@clinic.example.org", timezone=timezone
                )
                clinician.availability_rules = [
                    AvailabilityRule(weekday=day, start_time=time(9), end_time=time(17)) for day in EVERY_DAY
                ]
                db.session.add(clinician)
            user = accounts.create_user(
                email or f"{role.value}-{number}@clinic.example.org", name, role, STAFF_PASSWORD, now_utc(), clinician
            )
            return SimpleNamespace(
                id=user.id, email=user.email, password_hash=user.password_hash, clinician_id=user.clinician_id
            )

        return in_app(create)

    return factory


def sign_in(client, email, password=STAFF_PASSWORD, next_path=None):
    query = f"?next={next_path}" if next_path else ""
    return client.post(f"/staff/login{query}", data={"email": email, "password": password})


@pytest.fixture
def create_staff_for_clinician(in_app):
    """Return a factory: a clinician's staff account for an existing profile (one from seed_offering, say).

    create_staff makes a new profile; tests that book through seed_offering need the
    account of the clinician who holds those bookings.
    """
    from types import SimpleNamespace

    from kapclinic.accounts import services as accounts
    from kapclinic.accounts.models import Role
    from kapclinic.core.timezones import now_utc

    def factory(clinician_id, email=None):
        def create():
            clinician = db.session.get(Clinician, clinician_id)
            address = email or f"clinician-{clinician_id}-{uuid.uuid4().hex[:6]}@clinic.example.org"
            user = accounts.create_user(address, clinician.name, Role.CLINICIAN, STAFF_PASSWORD, now_utc(), clinician)
            return SimpleNamespace(id=user.id, email=user.email, clinician_id=clinician_id)

        return in_app(create)

    return factory


def queue_test_emails(app, recipients):
    """Put one short staff email per recipient in the outbox, unsent (as a worker would find them); return their ids."""
    from kapclinic.notifications.services import queue_email

    with app.app_context(), app.test_request_context():
        messages = [
            queue_email(
                recipient,
                "intake_urgent",
                {"reference": f"ref-{number}", "record_url": "https://clinic.example.org/staff/intakes/1"},
            )
            for number, recipient in enumerate(recipients)
        ]
        db.session.commit()
        db.session.info.clear()  # not delivered at the end of this "request"
        return [message.id for message in messages]


# --- browser ----------------------------------------------------------------------------------
# Here rather than in tests/e2e/conftest.py because tests/deployed drives it too: Playwright's sync
# API runs once per process, and a session fixture defined in two conftests would start it twice.

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).resolve().parent / "e2e" / "node_modules" / "axe-core" / "axe.min.js"


def skip_or_fail_without(what, how):
    """Skip a test that needs a missing tool locally; in CI (.ci/run installs it) fail instead."""
    if RUNNING_IN_CI:
        pytest.fail(f"{what} is missing in CI: {how}")
    pytest.skip(f"{what} is not installed here ({how}); CI installs it")


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium through Playwright (its own browser download cannot work here)."""
    if not CHROMIUM.exists():
        skip_or_fail_without("Debian's chromium", "apt-get install chromium")
    if not AXE.exists():
        skip_or_fail_without("axe-core", "make install-test runs npm ci in tests/e2e")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()
