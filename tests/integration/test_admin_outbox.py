"""Admins see the emails the mail server refused, without their contents, and send them again."""

import re

import pytest
from sqlalchemy import select

from kapclinic.accounts.models import Role
from kapclinic.extensions import db
from kapclinic.notifications.models import OutboxMessage, OutboxStatus
from kapclinic.notifications.services import deliver_due
from tests.helpers import sign_in

OUTBOX = "/staff/admin/outbox"


pytestmark = pytest.mark.both_databases


@pytest.fixture
def app(make_app, database_url):
    return make_app(database_url, OUTBOX_MAX_ATTEMPTS=1)  # the first refusal is final


@pytest.fixture
def admin_client(client, create_staff):
    admin = create_staff(Role.ADMIN, email="admin@clinic.example.org", name="Ada Admin")
    sign_in(client, admin.email)
    return client


def _invite(admin_client, email):
    """Add a staff user through the admin page: their welcome email carries a private password link."""
    response = admin_client.post(
        "/staff/admin/users/new", data={"name": "Fay Desk", "email": email, "role": "front_desk"}
    )
    assert response.status_code == 302


def _welcome(in_app, email):
    return in_app(
        lambda: db.session.execute(
            select(OutboxMessage.id, OutboxMessage.status, OutboxMessage.attempts).where(
                OutboxMessage.recipient == email
            )
        ).one()
    )


def _deliver(app):
    with app.app_context():
        return deliver_due()


def _received(mailbox, email):
    return [message for message in mailbox.messages if message["To"] == email]


def test_a_refused_email_is_listed_without_its_contents_and_sent_once_after_a_retry(app, admin_client, in_app, mailbox):
    mailbox.refuse = True
    _invite(admin_client, "fay@clinic.example.org")
    welcome = _welcome(in_app, "fay@clinic.example.org")
    assert welcome.status is OutboxStatus.FAILED

    page = admin_client.get(OUTBOX)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert "<strong>1</strong> failed" in page.text
    assert "fay@clinic.example.org" in page.text and "staff account" in page.text
    assert "SMTPDataError" in page.text and "451" in page.text
    assert re.search(r"\d{1,2}:\d{2} [AP]M E[SD]T", page.text), "queued time in the clinic's zone, zone named"
    assert "/staff/reset/" not in page.text and "Choose your password" not in page.text

    retried = admin_client.post(f"{OUTBOX}/{welcome.id}/retry", follow_redirects=True)
    assert retried.request.path == OUTBOX
    assert f"Message {welcome.id} is queued again" in retried.text
    assert "No failed messages" in retried.text
    requeued = _welcome(in_app, "fay@clinic.example.org")
    assert (requeued.status, requeued.attempts) == (OutboxStatus.PENDING, 0)

    mailbox.refuse = False
    assert _deliver(app) == 1
    assert _deliver(app) == 0
    assert len(_received(mailbox, "fay@clinic.example.org")) == 1
    assert _welcome(in_app, "fay@clinic.example.org").status is OutboxStatus.SENT
    assert "<strong>1</strong> sent in the last 24 hours" in admin_client.get(OUTBOX).text

    again = admin_client.post(f"{OUTBOX}/{welcome.id}/retry")
    assert again.status_code == 409 and "only failed messages can be retried" in again.text


def test_retry_all_queues_every_failed_message(app, admin_client, in_app, mailbox):
    mailbox.refuse = True
    _invite(admin_client, "fay@clinic.example.org")
    _invite(admin_client, "gus@clinic.example.org")
    assert "<strong>2</strong> failed" in admin_client.get(OUTBOX).text

    retried = admin_client.post(f"{OUTBOX}/retry-failed", follow_redirects=True)
    assert "Queued again: 2 failed messages" in retried.text
    assert "<strong>2</strong> pending" in retried.text and "<strong>0</strong> failed" in retried.text

    mailbox.refuse = False
    assert _deliver(app) == 2
    assert len(_received(mailbox, "fay@clinic.example.org")) == len(_received(mailbox, "gus@clinic.example.org")) == 1


def test_a_message_still_being_retried_shows_its_next_attempt_and_cannot_be_forced(app, admin_client, in_app, mailbox):
    app.config["OUTBOX_MAX_ATTEMPTS"] = 3
    mailbox.refuse = True
    _invite(admin_client, "fay@clinic.example.org")
    welcome = _welcome(in_app, "fay@clinic.example.org")
    assert (welcome.status, welcome.attempts) == (OutboxStatus.PENDING, 1)

    page = admin_client.get(OUTBOX).text
    being_retried = page.partition("Being retried")[2]
    assert "fay@clinic.example.org" in being_retried and "SMTPDataError" in being_retried
    assert re.search(r"\d{1,2}:\d{2} [AP]M E[SD]T", being_retried)
    assert "No failed messages" in page

    refused = admin_client.post(f"{OUTBOX}/{welcome.id}/retry")
    assert refused.status_code == 409 and "pending" in refused.text


def test_an_unknown_message_is_404(admin_client):
    assert admin_client.post(f"{OUTBOX}/999999/retry").status_code == 404


def test_admins_find_the_outbox_from_their_home_page(admin_client):
    assert f'href="{OUTBOX}"' in admin_client.get("/staff/").text


@pytest.mark.parametrize("role", [Role.FRONT_DESK, Role.CLINICIAN])
def test_only_admins_see_or_retry_the_outbox(client, create_staff, role):
    sign_in(client, create_staff(role).email)
    assert client.get(OUTBOX).status_code == 403
    assert client.post(f"{OUTBOX}/1/retry").status_code == 403
    assert client.post(f"{OUTBOX}/retry-failed").status_code == 403
    assert OUTBOX not in client.get("/staff/").text


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for method, path in (("GET", OUTBOX), ("POST", f"{OUTBOX}/1/retry"), ("POST", f"{OUTBOX}/retry-failed")):
        response = client.open(path, method=method)
        assert response.status_code == 302 and "/staff/login" in response.headers["Location"], path
