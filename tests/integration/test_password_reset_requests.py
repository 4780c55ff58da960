"""Password-reset requests: the page does the same database work for any address; `flask worker` answers staff.

Checked by structure, not by the clock: the statements a request sends and its commits are
compared, so the test holds on any machine (issue 12 §4).
"""

import re
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, update

from kapclinic.accounts import services
from kapclinic.accounts.models import PasswordReset, PasswordResetRequest, Role, StaffUser
from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.ops.worker import run_round
from tests.helpers import STAFF_PASSWORD

pytestmark = pytest.mark.both_databases


def _database_work(app, address):
    """Ask for a reset link; return the statements the request sent (as written, without values) and its commits."""
    with app.app_context():
        engine = db.engine
    work = []

    def statement(connection, cursor, sql, parameters, context, executemany):
        work.append(" ".join(sql.split()))

    def commit(connection):
        work.append("COMMIT")

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        response = app.test_client().post("/staff/reset", data={"email": address})
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)
    assert response.status_code == 302
    return work


def _count(in_app, model):
    return in_app(lambda: db.session.scalar(select(func.count()).select_from(model)))


def _worker_round(app):
    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output


def test_a_reset_request_does_the_same_database_work_for_a_staff_address_and_an_unknown_one(app, create_staff):
    user = create_staff()
    _database_work(app, "first-request@clinic.example.org")  # whatever a first request loads once
    known = _database_work(app, user.email)
    unknown = _database_work(app, "nobody@clinic.example.org")
    assert any("password_reset_requests" in sql for sql in known)
    assert known.count("COMMIT") == 1
    assert known == unknown


def test_the_worker_emails_the_staff_member_a_link_and_nothing_for_other_addresses(app, create_staff, in_app, mailbox):
    user = create_staff()
    left = create_staff(email="left@clinic.example.org")
    in_app(lambda: services.deactivate(db.session.get(StaffUser, left.id), now_utc()))
    client = app.test_client()
    for address in ("nobody@clinic.example.org", user.email.upper(), left.email):
        assert client.post("/staff/reset", data={"email": address}).status_code == 302
    stored = in_app(lambda: [tuple(row) for row in db.session.execute(select(PasswordResetRequest.__table__))])
    assert len(stored) == 3  # one row each, staff or not, and no address readable in them
    assert not any(part in repr(stored).lower() for part in ("nobody", "left", user.email.split("@")[0], "example"))
    assert mailbox.messages == []

    _worker_round(app)

    assert [message["To"] for message in mailbox.messages] == [user.email]
    assert _count(in_app, PasswordResetRequest) == 0
    link = re.search(
        r"https://clinic\.example\.org(/staff/reset/\S+)", mailbox.messages[0].get_body(("plain",)).get_content()
    )
    assert client.get(link.group(1)).status_code == 200
    _worker_round(app)
    assert len(mailbox.messages) == 1


def test_a_request_older_than_the_reset_window_gets_no_link(app, create_staff, in_app, mailbox):
    user = create_staff()
    assert app.test_client().post("/staff/reset", data={"email": user.email}).status_code == 302
    asked = now_utc() - timedelta(minutes=app.config["PASSWORD_RESET_MINUTES"])
    in_app(lambda: db.session.execute(update(PasswordResetRequest).values(requested_dt=asked)))
    _worker_round(app)
    assert mailbox.messages == []
    assert _count(in_app, PasswordResetRequest) == _count(in_app, PasswordReset) == 0


def test_an_address_that_is_not_one_is_refused_with_a_message_and_nothing_is_recorded(app, in_app):
    response = app.test_client().post("/staff/reset", data={"email": "not an address"})
    assert response.status_code == 422
    assert "valid email address" in response.text and 'aria-invalid="true"' in response.text
    assert _count(in_app, PasswordResetRequest) == 0


@pytest.mark.postgres
def test_two_workers_at_once_answer_each_request_once_and_neither_waits(make_app, postgres_url, mailbox):
    # Without SKIP LOCKED the second worker would wait on the first's rows: give up soon.
    app = make_app(postgres_url, DATABASE_LOCK_TIMEOUT_SECONDS=2)
    with app.app_context():
        services.create_user("dr@clinic.example.org", "Dr Lee", Role.FRONT_DESK, STAFF_PASSWORD, now_utc())
        db.session.commit()
    client = app.test_client()
    for _ in range(2):
        assert client.post("/staff/reset", data={"email": "dr@clinic.example.org"}).status_code == 302

    with app.app_context():  # the first worker has taken one request and not committed yet
        assert services.issue_requested_password_resets(now_utc(), limit=1) == (1, 1)
        with app.app_context():  # meanwhile a second worker runs a whole round
            run_round(10)
        assert len(mailbox.messages) == 1, "the second worker answered the other request at once"
        db.session.commit()
    with app.app_context():
        run_round(10)
        assert db.session.scalar(select(func.count()).select_from(PasswordResetRequest)) == 0
        assert db.session.scalar(select(func.count()).select_from(PasswordReset)) == 2
        db.session.rollback()
    links = {message.get_body(("plain",)).get_content() for message in mailbox.messages}
    assert len(mailbox.messages) == len(links) == 2


def test_in_development_without_a_mail_server_the_reset_email_is_written_at_once(tmp_path, make_app, sqlite_url):
    """`make run` starts no worker: the link must still reach instance/mail/ for a developer trying it."""
    app = make_app(sqlite_url, MAIL_SERVER=None)
    app.instance_path = str(tmp_path)
    with app.app_context():
        services.create_user("desk@clinic.example.org", "Dee Desk", Role.FRONT_DESK, STAFF_PASSWORD, now_utc())
        db.session.commit()
    assert app.test_client().post("/staff/reset", data={"email": "desk@clinic.example.org"}).status_code == 302
    [written] = (tmp_path / "mail").glob("*.eml")
    assert re.search(rb"/staff/reset/\S+", written.read_bytes())
