"""Staff accounts: sign in and out, sessions that really end, idle timeout, password reset, roles, CLI."""

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from kapclinic.accounts import services
from kapclinic.accounts.models import PasswordReset, Role, StaffSession
from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from tests.helpers import STAFF_PASSWORD as PASSWORD
from tests.helpers import sign_in

pytestmark = pytest.mark.both_databases


def test_staff_member_signs_in_and_out(client, create_staff):
    user = create_staff()
    response = sign_in(client, user.email)
    assert response.status_code == 302 and response.headers["Location"] == "/staff/"
    assert "Hello, Sam Staff" in client.get("/staff/").text
    assert client.post("/staff/logout").status_code == 302
    assert client.get("/staff/").status_code == 302  # back to the login page


@pytest.mark.parametrize("email", ["nobody@clinic.example.org", "front_desk-1@clinic.example.org"])
def test_wrong_email_and_wrong_password_get_the_same_answer(client, create_staff, email):
    create_staff(email="front_desk-1@clinic.example.org")
    response = sign_in(client, email, password="not the password at all")
    assert response.status_code == 401
    assert "do not match an active account" in response.text


def test_a_copied_cookie_stops_working_after_logout(app, client, create_staff):
    user = create_staff()
    sign_in(client, user.email)
    stolen = client.get_cookie("session").value
    client.post("/staff/logout")
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    assert thief.get("/staff/").status_code == 302


def test_password_change_ends_every_session(app, create_staff):
    user = create_staff()
    laptop, phone = app.test_client(), app.test_client()
    sign_in(laptop, user.email)
    sign_in(phone, user.email)
    changed = laptop.post(
        "/staff/password",
        data={"current_password": PASSWORD, "password": "a brand new passphrase", "confirm": "a brand new passphrase"},
    )
    assert changed.status_code == 302
    assert phone.get("/staff/").status_code == 302
    assert laptop.get("/staff/").status_code == 302
    assert sign_in(phone, user.email, "a brand new passphrase").status_code == 302


def test_password_change_checks_the_current_one_and_the_rules(client, create_staff):
    user = create_staff()
    sign_in(client, user.email)
    wrong = client.post("/staff/password", data={"current_password": "nope", "password": "x" * 20, "confirm": "x" * 20})
    assert wrong.status_code == 422 and "not your current password" in wrong.text
    short = client.post("/staff/password", data={"current_password": PASSWORD, "password": "short", "confirm": "short"})
    assert short.status_code == 422 and "at least 12 characters" in short.text
    mismatch = client.post(
        "/staff/password", data={"current_password": PASSWORD, "password": "long enough one", "confirm": "another one"}
    )
    assert mismatch.status_code == 422 and "do not match" in mismatch.text


def test_deactivated_users_cannot_sign_in_and_their_sessions_end(app, client, create_staff):
    user = create_staff()
    sign_in(client, user.email)
    result = app.test_cli_runner().invoke(args=["users", "deactivate", "--email", user.email])
    assert result.exit_code == 0, result.output
    assert client.get("/staff/").status_code == 302
    assert sign_in(app.test_client(), user.email).status_code == 401


def test_the_last_active_admin_cannot_be_deactivated_from_the_command_line(app, create_staff):
    first, second = create_staff(Role.ADMIN), create_staff(Role.ADMIN)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["users", "deactivate", "--email", first.email]).exit_code == 0
    refused = runner.invoke(args=["users", "deactivate", "--email", second.email])
    assert refused.exit_code != 0 and "only active admin" in refused.output
    assert sign_in(app.test_client(), second.email).status_code == 302, "the clinic keeps someone who can manage staff"


def test_idle_sessions_end_after_the_configured_minutes(client, create_staff, in_app):
    user = create_staff()
    sign_in(client, user.email)
    in_app(
        lambda: db.session.execute(
            StaffSession.__table__.update().values(last_seen_dt=now_utc() - timedelta(minutes=16))
        )
    )
    assert client.get("/staff/").status_code == 302
    assert in_app(lambda: db.session.scalar(select(StaffSession.ended_dt))) is not None


def test_session_cookie_is_http_only_and_lax(client, create_staff):
    user = create_staff()
    response = sign_in(client, user.email)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_login_rotates_the_session(client, create_staff):
    user = create_staff()
    client.get("/staff/login")
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    sign_in(client, user.email)
    with client.session_transaction() as session:
        assert "planted" not in session


def test_login_refuses_to_redirect_off_site(client, create_staff):
    user = create_staff()
    response = sign_in(client, user.email, next_path="https://evil.example.com/")
    assert response.headers["Location"] == "/staff/"
    assert sign_in(client, user.email, next_path="/staff/password").headers["Location"] == "/staff/password"


def test_password_reset_is_single_use_and_answers_the_same_for_unknown_emails(client, create_staff, mailbox):
    user = create_staff()
    unknown = client.post("/staff/reset", data={"email": "nobody@clinic.example.org"})
    known = client.post("/staff/reset", data={"email": user.email})
    assert unknown.status_code == known.status_code == 302
    assert mailbox.messages == []  # nothing sent inside the request: its timing gives nothing away
    assert client.application.test_cli_runner().invoke(args=["worker", "--once"]).exit_code == 0
    assert [message["To"] for message in mailbox.messages] == [user.email]
    link = re.search(
        r"https://clinic\.example\.org(/staff/reset/\S+)", mailbox.messages[0].get_body(("plain",)).get_content()
    ).group(1)
    assert client.get(link).status_code == 200
    done = client.post(link, data={"password": "reset passphrase ok", "confirm": "reset passphrase ok"})
    assert done.status_code == 302
    assert (
        client.post(link, data={"password": "another passphrase", "confirm": "another passphrase"}).status_code == 404
    )
    assert sign_in(client, user.email, "reset passphrase ok").status_code == 302


def test_reset_links_expire(client, create_staff, mailbox, in_app):
    user = create_staff()
    client.post("/staff/reset", data={"email": user.email})
    client.application.test_cli_runner().invoke(args=["worker", "--once"])
    link = re.search(r"(/staff/reset/\S+)", mailbox.messages[0].get_body(("plain",)).get_content()).group(1)
    in_app(
        lambda: db.session.execute(PasswordReset.__table__.update().values(expires_dt=now_utc() - timedelta(seconds=1)))
    )
    assert client.get(link).status_code == 404


def test_sign_in_and_reset_are_rate_limited(make_app, sqlite_url):
    app = make_app(sqlite_url, RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    statuses = [
        client.post("/staff/login", data={"email": "a@example.org", "password": "x"}).status_code for _ in range(4)
    ]
    assert statuses[-1] == 429
    assert client.post("/staff/reset", data={"email": "a@example.org"}).status_code in (302, 429)


def test_cli_creates_users_with_a_prompted_password_never_an_argument(app, in_app):
    from kapclinic.scheduling.models import Clinician

    def add_clinician():
        clinician = Clinician(name="Dr New", email="dr.new.profile@clinic.example.org", timezone="UTC")
        db.session.add(clinician)
        db.session.flush()
        return SimpleNamespace(id=clinician.id, email=clinician.email)

    clinician = in_app(add_clinician)
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "dr.new@clinic.example.org",
            "--name",
            "Dr New",
            "--role",
            "clinician",
            "--clinician-email",
            clinician.email,
        ],
        input="a long cli password\na long cli password\n",
    )
    assert result.exit_code == 0, result.output
    user = in_app(
        lambda: SimpleNamespace(
            **{
                key: getattr(services.user_by_email("dr.new@clinic.example.org"), key)
                for key in ("email", "role", "clinician_id")
            }
        )
    )
    assert user.role is Role.CLINICIAN and user.clinician_id == clinician.id
    assert sign_in(app.test_client(), user.email, "a long cli password").status_code == 302
    with_argument = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "x@clinic.example.org",
            "--name",
            "X",
            "--role",
            "admin",
            "--password",
            "secret",
        ]
    )
    assert with_argument.exit_code != 0
    weak = runner.invoke(
        args=["users", "create", "--email", "y@clinic.example.org", "--name", "Y", "--role", "admin"],
        input="short\nshort\n",
    )
    assert weak.exit_code != 0 and "at least 12" in weak.output
    result = runner.invoke(
        args=["users", "set-password", "--email", user.email], input="another long one!\nanother long one!\n"
    )
    assert result.exit_code == 0 and "sessions have ended" in result.output


def test_passwords_are_stored_as_argon2id(app, create_staff):
    user = create_staff()
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_demo_data_creates_staff_logins(make_app, sqlite_url):
    app = make_app(sqlite_url)
    result = app.test_cli_runner().invoke(args=["demo-data"])
    assert "admin@example.org" in result.output and "clinician3@example.org" in result.output
    client = app.test_client()
    for email in ("admin@example.org", "frontdesk@example.org", "clinician1@example.org"):
        assert sign_in(client, email, "kapclinic-demo").status_code == 302
        client.post("/staff/logout")
