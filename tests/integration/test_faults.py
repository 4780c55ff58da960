"""Failing parts: the mail server stopped, the database unreachable or busy, and the same form sent twice."""

import re
import sqlite3
import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, func, select, text

from kapclinic.accounts import services as accounts
from kapclinic.accounts.models import Role
from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.intake.models import Intake, IntakeStatus
from kapclinic.notifications.models import OutboxMessage, OutboxStatus
from kapclinic.scheduling.models import Booking
from tests.helpers import STAFF_PASSWORD, Mailbox, free_port, patient_form, patient_json, seed_offering, sign_in
from tests.intake_answers import ADULT_STEPS, book_for_intake, born_years_ago, complete_steps, post_step


def _row_counts(app):
    with app.app_context():
        counts = {
            table.name: db.session.scalar(select(func.count()).select_from(table))
            for table in db.metadata.sorted_tables
        }
        db.session.rollback()
    return counts


def test_a_booking_made_while_the_mail_server_is_stopped_stands_and_its_email_follows_once(make_app, sqlite_url):
    mailbox = Mailbox()
    port = free_port()
    server = Controller(mailbox, hostname="127.0.0.1", port=port)
    server.start()
    app = make_app(sqlite_url, MAIL_PORT=port)
    seed_offering(app, "first-consultation")
    server.stop()  # connections to the port are now refused

    client = app.test_client()
    week = client.get("/book/first-consultation").text
    details_url = re.search(r'class="slot" href="([^"]+)"', week).group(1).replace("&amp;", "&")
    page = client.post(details_url, data=patient_form(), follow_redirects=True)
    assert page.status_code == 200
    assert "Your consultation is booked" in page.text and "will follow" in page.text
    with app.app_context():
        assert db.session.scalar(select(func.count(Booking.id))) == 1
        message = db.session.scalar(select(OutboxMessage))
        assert message.status is OutboxStatus.PENDING and message.attempts == 1
        message.next_attempt_dt = now_utc() - timedelta(seconds=1)  # its backoff has passed
        db.session.commit()

    restarted = Controller(mailbox, hostname="127.0.0.1", port=port)
    restarted.start()
    try:
        runner = app.test_cli_runner()
        assert runner.invoke(args=["outbox", "send"]).output.strip() == "sent 1 message(s)"
        assert runner.invoke(args=["outbox", "send"]).output.strip() == "sent 0 message(s)"
    finally:
        restarted.stop()
    assert [message["To"] for message in mailbox.messages] == ["ana.patient@example.com"]
    assert "booked" in mailbox.messages[0]["Subject"].lower()


def test_an_unreachable_database_gives_clean_503s(make_app):
    app = make_app(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone", DATABASE_LOCK_TIMEOUT_SECONDS=1)
    client = app.test_client()
    page = client.get("/")
    assert page.status_code == 503 and page.headers["Retry-After"] == "30"
    assert (
        "nothing was saved" in page.text and app.config["CLINIC_PHONE"] in page.text
    )  # the clinic's number still shows
    api = client.get("/api/v1/consultation-types")
    assert api.status_code == 503 and api.json["error"] == "Service Unavailable"
    start = (now_utc() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    booking = client.post(
        "/api/v1/bookings", json=patient_json(SimpleNamespace(slug="first-consultation"), start.isoformat())
    )
    assert booking.status_code == 503 and "nothing was saved" in booking.json["message"]
    assert client.get("/readyz").status_code == 503


def test_with_the_database_away_signed_in_staff_and_wrong_links_still_get_clean_pages(make_app, sqlite_url):
    """Error pages draw no signed-in user and no saved clinic settings: both would need the database."""
    working = make_app(sqlite_url)
    with working.app_context():
        accounts.create_user("desk@clinic.example.org", "Desk", Role.FRONT_DESK, STAFF_PASSWORD, now_utc())
        db.session.commit()
    signed_in = working.test_client()
    assert sign_in(signed_in, "desk@clinic.example.org").status_code == 302
    away = make_app(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone", DATABASE_LOCK_TIMEOUT_SECONDS=1)
    client = away.test_client()
    client.set_cookie("session", signed_in.get_cookie("session").value)
    queue = client.get("/staff/intakes")
    assert queue.status_code == 503 and away.config["CLINIC_PHONE"] in queue.text
    for path in ("/intake/not-a-link", "/manage/not-a-link", "/no-such-page"):
        page = client.get(path)
        assert page.status_code == 404 and away.config["CLINIC_PHONE"] in page.text, path


def test_a_database_without_its_tables_is_a_server_error_not_try_again(make_app, tmp_path):
    page = make_app(f"sqlite:///{tmp_path / 'never-migrated.sqlite3'}").test_client().get("/")
    assert page.status_code == 500 and "Retry-After" not in page.headers


@pytest.fixture
def held_write_lock(sqlite_url):
    """Another process's transaction holding SQLite's write lock until released."""
    connection = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    holder = {"release": lambda: connection.execute("ROLLBACK")}

    def hold():
        connection.execute("BEGIN IMMEDIATE")

    holder["hold"] = hold
    yield holder
    connection.close()


def test_a_busy_database_keeps_the_patients_typed_answers_and_writes_nothing(
    make_app, sqlite_url, held_write_lock, mailbox
):
    app = make_app(sqlite_url, DATABASE_LOCK_TIMEOUT_SECONDS=0.3)
    offering = seed_offering(app, "first-consultation")
    client = app.test_client()
    intake_url = book_for_intake(client, offering, mailbox)
    complete_steps(client, intake_url, ADULT_STEPS[:1])
    before = _row_counts(app)

    held_write_lock["hold"]()
    refused = post_step(client, intake_url, "reasons", hopes="To sleep through the night again")
    assert refused.status_code == 503
    assert "Your answers are still below" in refused.text
    assert "To sleep through the night again" in refused.text  # the typed text is back in the form
    assert re.search(r'value="depression"\s+checked', refused.text)  # and the ticked reasons stay ticked
    held_write_lock["release"]()
    assert _row_counts(app) == before

    saved = post_step(client, intake_url, "reasons", hopes="To sleep through the night again")
    assert saved.status_code == 302
    assert "To sleep through the night again" in client.get(f"{intake_url}/step/reasons").text


@pytest.mark.postgres
def test_a_locked_row_on_postgresql_gives_503_not_a_hung_request(make_app, postgres_url, mailbox):
    app = make_app(postgres_url, DATABASE_LOCK_TIMEOUT_SECONDS=0.5)
    offering = seed_offering(app, "first-consultation")
    client = app.test_client()
    intake_url = book_for_intake(client, offering, mailbox)
    before = _row_counts(app)
    engine = create_engine(postgres_url)
    with engine.connect() as other:
        other.execute(text("SELECT id FROM intakes FOR UPDATE"))  # e.g. a long report holding the row
        refused = post_step(client, intake_url, "about")
        other.rollback()
    engine.dispose()
    assert refused.status_code == 503 and "Your answers are still below" in refused.text
    assert _row_counts(app) == before
    assert post_step(client, intake_url, "about").status_code == 302


@pytest.mark.both_databases
def test_submitting_the_intake_twice_at_once_submits_it_once(make_app, database_url, mailbox):
    """A double click on "Submit" for an adolescent: one submission, so the guardian gets one email, not two."""
    app = make_app(database_url)
    offering = seed_offering(app, "first-consultation")
    patient = app.test_client()
    fifteen = born_years_ago(15)
    intake_url = book_for_intake(patient, offering, mailbox, date_of_birth=fifteen)
    complete_steps(patient, intake_url, ADULT_STEPS[:-1] + ["guardian", "consent"], about={"date_of_birth": fifteen})

    answers, barrier = [], threading.Barrier(2)

    def click():
        barrier.wait()
        answers.append(app.test_client().post(f"{intake_url}/review"))

    clicks = [threading.Thread(target=click) for _ in range(2)]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join()
    replay = patient.post(f"{intake_url}/review")  # later: the back button, and submit again
    for answer in [*answers, replay]:
        assert answer.status_code == 302 and answer.headers["Location"].endswith("/done")
    assert [message["To"] for message in mailbox.messages].count("grace@example.com") == 1
    with app.app_context():
        assert db.session.scalars(select(Intake)).one().status is IntakeStatus.AWAITING_GUARDIAN
        db.session.rollback()
