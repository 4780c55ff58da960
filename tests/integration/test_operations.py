"""Running for real: health checks, JSON logs without patient data, reminders sent once, the worker."""

import json
import logging
import re
import sys
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.intake.models import Intake, IntakeStatus
from kapclinic.notifications.models import OutboxMessage, OutboxStatus
from kapclinic.ops.logging import JsonFormatter
from kapclinic.reminders import services as reminders
from kapclinic.reminders.models import ReminderSent
from kapclinic.scheduling.models import Booking, ConsultationType
from kapclinic.scheduling.services import find_slots, resend_changed_details
from kapclinic.scheduling.slots import Interval
from tests.helpers import booked_by, patient_json, queue_test_emails, seed_offering
from tests.intake_answers import ADULT_STEPS, book_for_intake, born_years_ago, complete_steps, post_step

pytestmark = pytest.mark.both_databases


@pytest.fixture
def offering(app):
    return seed_offering(app, "ops")


@pytest.fixture
def without_intake_nudges(app):
    """For tests of the consultation reminders alone."""
    app.config["INTAKE_REMINDER_HOURS"] = 0


# --- health ------------------------------------------------------------------------


def test_health_and_readiness_tell_a_load_balancer_what_it_needs(app, client):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json == {"status": "ok"}
    with app.app_context():
        db.session.execute(text("UPDATE alembic_version SET version_num = '0007frontdesk'"))
        db.session.commit()
    behind = client.get("/readyz")
    assert behind.status_code == 503 and "behind" in behind.json["reason"]
    assert client.get("/healthz").status_code == 200
    with app.app_context():
        # The next release has migrated: this one keeps serving until it is replaced.
        db.session.execute(text("UPDATE alembic_version SET version_num = 'a_newer_release'"))
        db.session.commit()
    assert client.get("/readyz").status_code == 200


def test_readiness_fails_cleanly_without_a_database_and_tells_only_the_log_why(make_app, tmp_path, caplog):
    broken = make_app("postgresql+psycopg://nobody@127.0.0.1:1/none")
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503 and response.json == {"status": "unavailable"}
    assert "OperationalError" not in response.text and "psycopg" not in response.text.lower()
    logged = [record for record in caplog.records if record.getMessage() == "not ready: database unavailable"]
    assert logged and logged[0].fields["error"] == "OperationalError"


# --- logs --------------------------------------------------------------------------


def test_logs_of_a_booking_and_intake_hold_no_patient_data(app, offering, mailbox, caplog):
    caplog.set_level(logging.INFO, logger="kapclinic")
    patient = app.test_client()
    intake_url = book_for_intake(
        patient, offering, mailbox, name="Quentin Zephyrine", email="quentin.zephyrine@example.com"
    )
    complete_steps(patient, intake_url, ADULT_STEPS, phq9={"phq9_9": "2"})
    patient.post(f"{intake_url}/review")
    patient.get(intake_url)
    manage_url = re.search(
        r"https://clinic\.example\.org(/manage/\S+)", mailbox.messages[0].get_body(("plain",)).get_content()
    ).group(1)
    patient.get(manage_url)
    post_step(patient, "/intake/not-a-real-token", "about")

    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records if record.name == "kapclinic"]
    assert len(lines) > 15
    entries = [json.loads(line) for line in lines]
    assert all(entry.get("request_id") for entry in entries if entry["message"] == "request")
    assert {entry["route"] for entry in entries if entry["message"] == "request"} >= {
        "/intake/<token>/step/<key>",
        "/manage/<token>",
    }
    joined = "\n".join(lines)
    token = manage_url.rsplit("/", 1)[1]
    for secret in (
        "Quentin",
        "Zephyrine",
        "quentin.zephyrine",
        "212 555",
        "Springfield",
        "Sertraline",
        "Ben (brother)",
        token,
        intake_url.rsplit("/", 1)[1],
        "not-a-real-token",
    ):
        assert secret not in joined, secret


def test_a_request_id_from_the_proxy_is_kept_only_when_it_is_plain(client):
    assert client.get("/healthz", headers={"X-Request-ID": "edge-1234abcd"}).headers["X-Request-ID"] == "edge-1234abcd"
    replaced = client.get("/healthz", headers={"X-Request-ID": "ana@example.com"}).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", replaced)


# --- reminders ---------------------------------------------------------------------


def _booked(app, offering, mailbox, email="rem@example.com", slot=0, booked_hours_before=None, **patient):
    """Book through the API; optionally pretend it was booked that many hours before the consultation."""
    intake_url = book_for_intake(app.test_client(), offering, mailbox, email=email, slot=slot, **patient)
    with app.app_context():
        booking = db.session.scalar(select(Booking).where(booked_by(email)))
        if booked_hours_before is not None:
            booking.updated_dt = booking.start_dt - timedelta(hours=booked_hours_before)
        start, booking_id = booking.start_dt, booking.id
        db.session.commit()
    return booking_id, start, intake_url


def _run_reminders(app, now):
    with app.app_context():
        queued = reminders.queue_due(now, limit=100)
        db.session.commit()
    return queued


def _delivered(app):
    from kapclinic.notifications.services import deliver_due

    with app.app_context():
        return deliver_due(limit=100)


def _subjects(mailbox, to):
    return [message["Subject"] for message in mailbox.messages if message["To"] == to]


def test_reminders_go_out_once_at_24_and_2_hours(app, offering, mailbox, without_intake_nudges):
    _, start, _ = _booked(app, offering, mailbox, booked_hours_before=100)
    mailbox.clear()
    assert _run_reminders(app, start - timedelta(hours=25)) == 0
    assert _run_reminders(app, start - timedelta(hours=23)) == 1
    assert _run_reminders(app, start - timedelta(hours=22)) == 0, "twice is once too many"
    assert _run_reminders(app, start - timedelta(hours=1, minutes=59)) == 1
    assert _run_reminders(app, start + timedelta(minutes=1)) == 0
    _delivered(app)
    subjects = _subjects(mailbox, "rem@example.com")
    assert len(subjects) == 2 and all(subject.startswith("Reminder: your consultation") for subject in subjects)
    body = mailbox.messages[0].get_body(("plain",)).get_content()
    assert "use the link in your confirmation email" in body and "/manage/" not in body


def test_no_reminder_for_a_consultation_booked_inside_its_window_or_cancelled(
    app, offering, mailbox, without_intake_nudges
):
    _, start, _ = _booked(app, offering, mailbox, email="late@example.com", booked_hours_before=10)
    cancelled_id, _, _ = _booked(app, offering, mailbox, email="gone@example.com", slot=3, booked_hours_before=100)
    with app.app_context():
        db.session.get(Booking, cancelled_id).status = "cancelled"
        db.session.commit()
    assert _run_reminders(app, start - timedelta(hours=23)) == 0
    assert _run_reminders(app, start - timedelta(hours=1)) == 1, "the 2-hour reminder still goes to the late booker"


def test_an_updated_invite_inside_a_reminders_window_does_not_cancel_the_reminder(
    app, offering, mailbox, without_intake_nudges
):
    """Only booking or moving a consultation makes its first email fresh; a change of where patients meet does not."""
    with app.app_context():
        consultation_type = db.session.scalar(select(ConsultationType).where(ConsultationType.slug == "ops"))
        now = now_utc()
        soon = find_slots(consultation_type, Interval(now + timedelta(hours=3), now + timedelta(hours=23)), now)
        db.session.rollback()
    response = app.test_client().post(
        "/api/v1/bookings",
        json=patient_json(
            offering, soon[0].start_dt.isoformat(), email="told@example.com", clinician_id=offering.clinician_id
        ),
    )
    assert response.status_code == 201
    with app.app_context():
        booking = db.session.scalar(select(Booking).where(booked_by("told@example.com")))
        booking.updated_dt = booking.start_dt - timedelta(hours=100)  # booked long ago
        db.session.commit()
        # Now, inside the 24-hour window, the type's place changes and the patient gets an updated invite.
        assert resend_changed_details(booking.consultation_type, now_utc()) == 1
        db.session.commit()
    assert _run_reminders(app, now_utc()) == 1, "the reminder still goes"


def test_an_unfinished_intake_gets_one_nudge_with_a_working_link(app, offering, mailbox):
    booking_id, start, old_link = _booked(app, offering, mailbox, email="nudge@example.com", booked_hours_before=100)
    patient = app.test_client()
    post_step(patient, old_link, "about")
    mailbox.clear()
    assert _run_reminders(app, start - timedelta(hours=71)) == 1
    assert _run_reminders(app, start - timedelta(hours=70)) == 0
    _delivered(app)
    (nudge,) = mailbox.messages
    assert nudge["Subject"].endswith("is not finished yet")
    new_link = re.search(r"https://clinic\.example\.org(/intake/\S+)", nudge.get_body(("plain",)).get_content()).group(
        1
    )
    resumed = patient.get(new_link)
    assert resumed.status_code == 200 and "/step/reasons" in resumed.text, "answers so far are kept"
    # Someone part-way through the form when the email arrives carries on with the link they have.
    assert post_step(patient, old_link, "reasons").status_code == 302


def _adolescent_awaiting_guardian(app, offering, mailbox, submitted_hours_before):
    """A 15-year-old booked 100 hours ahead, submitted `submitted_hours_before` the start; return (start, link)."""
    fifteen = born_years_ago(15)
    _, start, link = _booked(
        app, offering, mailbox, email="teen@example.com", booked_hours_before=100, date_of_birth=fifteen
    )
    patient = app.test_client()
    complete_steps(patient, link, ADULT_STEPS[:-1] + ["guardian", "consent"], about={"date_of_birth": fifteen})
    assert patient.post(f"{link}/review").status_code == 302
    with app.app_context():
        intake = db.session.scalar(select(Intake))
        assert intake.status is IntakeStatus.AWAITING_GUARDIAN
        intake.signed_dt = start - timedelta(hours=submitted_hours_before)
        db.session.commit()
    first = re.search(
        r"https://clinic\.example\.org(/intake/guardian/\S+)", mailbox.messages[-1].get_body(("plain",)).get_content()
    )
    return start, first.group(1)


def test_a_guardian_who_has_not_signed_gets_one_reminder_with_a_new_link(app, offering, mailbox):
    start, first_link = _adolescent_awaiting_guardian(app, offering, mailbox, submitted_hours_before=90)
    mailbox.clear()
    assert _run_reminders(app, start - timedelta(hours=71)) == 1
    assert _run_reminders(app, start - timedelta(hours=70)) == 0
    _delivered(app)
    (reminder,) = mailbox.messages
    assert reminder["To"] == "grace@example.com" and reminder["Subject"].startswith("Reminder: please read and sign")
    body = reminder.get_body(("plain",)).get_content()
    assert "Sam" not in body and "teen@example.com" not in body  # no patient details to a guardian's inbox
    new_link = re.search(r"https://clinic\.example\.org(/intake/guardian/\S+)", body).group(1)
    guardian = app.test_client()
    assert guardian.get(first_link).status_code == 404, "the new link replaces the first"
    assert guardian.post(
        new_link, data={"agree": "yes", "relationship": "Mother", "signature": "Grace Guardian"}
    ).status_code in (200, 302)
    with app.app_context():
        assert db.session.scalar(select(Intake)).status is IntakeStatus.SUBMITTED


def test_a_guardian_asked_inside_the_window_gets_no_reminder_on_top(app, offering, mailbox):
    start, first_link = _adolescent_awaiting_guardian(app, offering, mailbox, submitted_hours_before=48)
    assert _run_reminders(app, start - timedelta(hours=47)) == 0
    assert app.test_client().get(first_link).status_code == 200, "the link just sent keeps working"


def test_a_finished_intake_gets_no_nudge(app, offering, mailbox):
    _, start, link = _booked(app, offering, mailbox, email="done@example.com", booked_hours_before=100)
    patient = app.test_client()
    complete_steps(patient, link, ADULT_STEPS)
    patient.post(f"{link}/review")
    assert _run_reminders(app, start - timedelta(hours=71)) == 0


def test_a_moved_consultation_is_reminded_again_for_its_new_time(app, offering, mailbox, without_intake_nudges):
    booking_id, start, _ = _booked(app, offering, mailbox, booked_hours_before=100)
    assert _run_reminders(app, start - timedelta(hours=23)) == 1
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        booking.start_dt, booking.end_dt = booking.start_dt + timedelta(hours=1), booking.end_dt + timedelta(hours=1)
        booking.blocked_start_dt, booking.blocked_end_dt = booking.start_dt, booking.end_dt
        booking.updated_dt = start - timedelta(hours=100)
        db.session.commit()
    assert _run_reminders(app, start - timedelta(hours=22)) == 1
    with app.app_context():
        assert db.session.scalar(select(db.func.count(ReminderSent.id))) == 2
        db.session.rollback()


def test_reminder_runs_at_the_same_moment_send_each_reminder_once(app, offering, mailbox, without_intake_nudges):
    for number in range(6):
        _booked(app, offering, mailbox, email=f"many{number}@example.com", slot=2 * number, booked_hours_before=100)
    with app.app_context():
        latest = db.session.scalar(select(db.func.max(Booking.start_dt)))
        db.session.rollback()
    now = latest - timedelta(hours=23)
    barrier = threading.Barrier(4)
    counts, errors = [], []

    def run():
        try:
            with app.app_context():
                barrier.wait()
                counts.append(reminders.queue_due(now, limit=100))
                db.session.commit()
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(repr(error))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(counts) == 6
    mailbox.clear()
    _delivered(app)
    assert sorted(message["To"] for message in mailbox.messages) == sorted(
        f"many{number}@example.com" for number in range(6)
    )


# --- the worker --------------------------------------------------------------------


def test_worker_once_queues_due_reminders_and_delivers_them(app, offering, mailbox, without_intake_nudges):
    from kapclinic.ops.worker import run_round

    _, start, _ = _booked(app, offering, mailbox, booked_hours_before=100)
    mailbox.clear()
    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert mailbox.messages == [], "nothing is due two days ahead"
    with app.app_context():
        # The round itself, at the moment the 24-hour reminder is due.
        queued = reminders.queue_due(start - timedelta(hours=20), limit=10)
        db.session.commit()
        assert queued == 1
        assert run_round(10) == (0, 1)
    assert [message["To"] for message in mailbox.messages] == ["rem@example.com"]


# --- the outbox ----------------------------------------------------------------------


def test_a_permanent_refusal_fails_at_once_and_a_temporary_one_is_retried(app, mailbox):
    (refused,) = queue_test_emails(app, ["nobody@no-such-mailbox.example"])
    assert _delivered(app) == 0
    with app.app_context():
        row = db.session.get(OutboxMessage, refused)
        assert row.status is OutboxStatus.FAILED and row.attempts == 1 and "550" in row.last_error
        db.session.rollback()
    mailbox.refuse = True
    (busy,) = queue_test_emails(app, ["someone@example.com"])
    _delivered(app)
    with app.app_context():
        assert db.session.get(OutboxMessage, busy).status is OutboxStatus.PENDING
        db.session.rollback()


def test_a_message_whose_senders_keep_dying_is_marked_failed_not_claimed_for_ever(app, mailbox):
    (message_id,) = queue_test_emails(app, ["someone@example.com"])
    with app.app_context():
        row = db.session.get(OutboxMessage, message_id)
        row.attempts = app.config["OUTBOX_MAX_ATTEMPTS"]
        db.session.commit()
    assert _delivered(app) == 0
    assert mailbox.messages == []
    with app.app_context():
        row = db.session.get(OutboxMessage, message_id)
        assert row.status is OutboxStatus.FAILED and "sender stopped" in row.last_error
        db.session.rollback()


def test_with_a_worker_running_requests_leave_their_emails_to_it(make_app, sqlite_url, mailbox):
    from tests.helpers import patient_json

    app = make_app(sqlite_url, OUTBOX_SEND_AFTER_REQUEST=False)
    offering = seed_offering(app, "later")
    booked = app.test_client().post(
        "/api/v1/bookings",
        json=patient_json(offering, offering.starts[0].isoformat(), clinician_id=offering.clinician_id),
    )
    assert booked.status_code == 201
    assert mailbox.messages == []
    assert app.test_cli_runner().invoke(args=["worker", "--once"]).exit_code == 0
    assert [message["To"] for message in mailbox.messages] == ["ana.patient@example.com"]


def test_the_development_server_does_not_log_paths(app, caplog):
    """Its request lines name the path, and paths carry patients' tokens."""
    import werkzeug.serving

    caplog.set_level(logging.INFO, logger="werkzeug")
    werkzeug.serving._log("info", '127.0.0.1 - - "%s" %s %s', "GET /manage/secret-token HTTP/1.1", 200, "-")
    werkzeug.serving._log("info", " * Running on %s", "http://127.0.0.1:5000")
    messages = [record.getMessage() for record in caplog.records if record.name == "werkzeug"]
    assert messages == [" * Running on http://127.0.0.1:5000"]


def test_flasks_last_resort_error_line_names_neither_the_path_nor_the_message(app, caplog):
    caplog.set_level(logging.INFO, logger="kapclinic")
    with app.test_request_context("/manage/secret-token-123"):
        from flask import request

        request.url_rule = next(rule for rule in app.url_map.iter_rules() if rule.rule == "/manage/<token>")
        try:
            raise ValueError("ana@example.com was not accepted")
        except ValueError:
            app.log_exception(sys.exc_info())
    (line,) = [JsonFormatter().format(record) for record in caplog.records if record.name == "kapclinic"]
    assert '"route": "/manage/<token>"' in line and '"error": "ValueError"' in line
    assert "secret-token-123" not in line and "ana@example.com" not in line


def test_a_failing_reminder_step_does_not_stop_delivery(app, mailbox, caplog):
    from kapclinic.ops.worker import run_round

    queue_test_emails(app, ["still@example.com"])
    app.config["REMINDER_HOURS"] = None  # a broken setting makes the reminder step fail
    with app.app_context():
        assert run_round(10) == (0, 1)
    assert [message["To"] for message in mailbox.messages] == ["still@example.com"]
    assert any(getattr(record, "fields", {}).get("step") == "reminders" for record in caplog.records)


def test_a_reminder_held_up_past_the_consultation_is_not_sent(
    app, offering, mailbox, without_intake_nudges, monkeypatch
):
    from kapclinic.notifications.services import deliver_due

    _, start, _ = _booked(app, offering, mailbox, booked_hours_before=100)
    mailbox.clear()
    mailbox.refuse = True  # the mail server is down when the reminder is queued
    assert _run_reminders(app, start - timedelta(hours=23)) == 1
    _delivered(app)
    mailbox.refuse = False
    with app.app_context():
        row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING))
        row.next_attempt_dt = start + timedelta(minutes=5)
        db.session.commit()
        row_id = row.id
    # The server is back only after the consultation has begun (the clock moved on): the reminder would only confuse.
    monkeypatch.setattr("kapclinic.notifications.services.now_utc", lambda: start + timedelta(minutes=10))
    with app.app_context():
        assert deliver_due(limit=10) == 0
        expired = db.session.get(OutboxMessage, row_id)
        assert expired.status is OutboxStatus.FAILED
        assert (expired.body_text, expired.ics) == ("", None)  # it can never go: its links are not kept
        db.session.rollback()
    assert mailbox.messages == []
