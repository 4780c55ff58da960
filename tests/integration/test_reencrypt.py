"""Rotating the data key never stops the mail: every encrypted column moves, and an email no key opens fails alone.

Real Fernet keys, real SQLite and PostgreSQL, the real worker round and SMTP on loopback.
"""

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Text, select, type_coerce

from kapclinic.accounts.models import Role
from kapclinic.core.crypto import encrypted_columns
from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.notifications.models import OutboxMessage, OutboxStatus
from kapclinic.notifications.services import deliver_committed
from kapclinic.ops.worker import run_round
from kapclinic.scheduling import services
from kapclinic.scheduling.models import Booking, Clinician, ConsultationType
from kapclinic.scheduling.slots import Interval
from tests.helpers import queue_test_emails, seed_offering, sign_in

pytestmark = pytest.mark.both_databases

UNREADABLE = "cannot be read with the current data keys"


def _key():
    return Fernet.generate_key().decode()


def _book_and_cancel(app, slug):
    """A booking (its intake, its emails) cancelled with a reason: encrypted values in several tables."""
    offering = seed_offering(app, slug)
    now = now_utc()
    with app.app_context(), app.test_request_context(method="POST"):
        consultation_type = db.session.scalar(select(ConsultationType).filter_by(slug=slug))
        clinician = db.session.get(Clinician, offering.clinician_id)
        start = offering.starts[0]
        slot = services.find_slots(consultation_type, Interval(start, start + timedelta(hours=2)), now)[0]
        patient = services.PatientDetails(
            name="Zoë Keys",
            email="zoe.keys@example.com",
            phone="+12125550100",
            date_of_birth=now.date().replace(year=1990),
            timezone="UTC",
            contact_consent=True,
        )
        booking = services.book(consultation_type, clinician, slot.start_dt, patient, now).booking
        services.cancel(db.session.get(Booking, booking.id), now, by="clinic", reason="Clinician unwell")
        db.session.commit()
        deliver_committed()


def _stored_tokens(app):
    """Every encrypted value as stored, by table name."""
    tokens = {}
    with app.app_context():
        for table, columns in encrypted_columns(db.metadata):
            rows = db.session.execute(select(*(type_coerce(column, Text) for column in columns))).all()
            tokens[table.name] = [token for row in rows for token in row if token is not None]
    return tokens


def _opens_with(key, token):
    try:
        Fernet(key).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def _reencrypt(app):
    with app.app_context():
        return app.test_cli_runner().invoke(args=["intake", "reencrypt"])


def _received_by(mailbox, address):
    return [message for message in mailbox.messages if message["To"] == address]


def test_after_rotating_and_dropping_the_old_key_every_value_opens_and_waiting_emails_still_go_out(
    make_app, database_url, mailbox
):
    old_key, new_key = _key(), _key()
    old = make_app(database_url, DATA_KEYS=[old_key])
    _book_and_cancel(old, "rotate")
    queue_test_emails(old, ["frontdesk@clinic.example.org"])  # still waiting for the worker

    result = _reencrypt(make_app(database_url, DATA_KEYS=[new_key, old_key]))
    assert result.exit_code == 0, result.output

    tokens = _stored_tokens(old)
    assert tokens["outbox_messages"] and tokens["intakes"]
    for table, values in tokens.items():
        assert all(_opens_with(new_key, token) for token in values), f"{table} still needs the old key"
    assert "outbox_messages: re-encrypted" in result.output and "intakes: re-encrypted" in result.output

    new_only = make_app(database_url, DATA_KEYS=[new_key])
    with new_only.app_context():
        run_round(100)
        waiting = db.session.scalar(select(OutboxMessage).filter_by(recipient="frontdesk@clinic.example.org"))
        assert waiting.status == OutboxStatus.SENT
        assert db.session.scalar(select(Booking)).cancellation_reason == "Clinician unwell"
    assert len(_received_by(mailbox, "frontdesk@clinic.example.org")) == 1


def test_an_email_no_current_key_opens_fails_alone_with_a_reason_the_admin_sees(
    make_app, database_url, mailbox, create_staff
):
    old_key, new_key = _key(), _key()
    queue_test_emails(make_app(database_url, DATA_KEYS=[old_key]), ["lost@clinic.example.org"])
    new_only = make_app(database_url, DATA_KEYS=[new_key])
    queue_test_emails(new_only, ["first@clinic.example.org", "second@clinic.example.org"])

    with new_only.app_context():
        run_round(100)  # the old key is gone: one message cannot be read
        run_round(100)  # and it does not come back to block a later round
        statuses = dict(db.session.execute(select(OutboxMessage.recipient, OutboxMessage.status)).all())
        lost = db.session.scalar(select(OutboxMessage).filter_by(recipient="lost@clinic.example.org"))
        assert lost.status == OutboxStatus.FAILED and UNREADABLE in lost.last_error
    assert statuses["first@clinic.example.org"] == statuses["second@clinic.example.org"] == OutboxStatus.SENT
    assert len(_received_by(mailbox, "first@clinic.example.org")) == 1
    assert len(_received_by(mailbox, "second@clinic.example.org")) == 1
    assert not _received_by(mailbox, "lost@clinic.example.org")

    admin = create_staff(Role.ADMIN, email="admin.keys@clinic.example.org")
    client = new_only.test_client()
    sign_in(client, admin.email)
    page = client.get("/staff/admin/outbox")
    assert page.status_code == 200
    assert "lost@clinic.example.org" in page.text and UNREADABLE in page.text


def test_reencrypt_goes_past_a_row_no_key_opens_and_exits_non_zero(make_app, database_url, mailbox):
    lost_key, current_key, newest_key = _key(), _key(), _key()
    queue_test_emails(make_app(database_url, DATA_KEYS=[lost_key]), ["lost@clinic.example.org"])
    queue_test_emails(make_app(database_url, DATA_KEYS=[current_key]), ["kept@clinic.example.org"])

    rotated = make_app(database_url, DATA_KEYS=[newest_key, current_key])
    result = _reencrypt(rotated)
    assert result.exit_code == 1
    assert "outbox_messages: 1 row(s) cannot be read with the current data keys" in result.output
    with rotated.app_context():
        rows = dict(db.session.execute(select(OutboxMessage.recipient, type_coerce(OutboxMessage.context, Text))).all())
    assert _opens_with(newest_key, rows["kept@clinic.example.org"])  # the others were moved all the same
    assert _opens_with(lost_key, rows["lost@clinic.example.org"])  # the unreadable one is left as it was
