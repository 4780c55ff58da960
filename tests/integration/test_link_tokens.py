"""Private links: long random secrets, only their hashes stored, expiring, and guessing them is rate limited."""

import base64
import re
import time

import pytest
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from config import TestingConfig
from kapclinic.accounts import services as accounts
from kapclinic.accounts.models import Role
from kapclinic.core import tokens
from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.scheduling.models import Clinician
from kapclinic.workspace.services import rotate_feed_token
from tests.helpers import STAFF_PASSWORD, seed_offering
from tests.intake_answers import ADULT_STEPS, book_for_intake, born_years_ago, complete_steps

FORGED = [
    "/manage/forged",
    "/manage/forged/invite.ics",
    "/intake/forged",
    "/intake/guardian/forged",
    "/staff/reset/forged",
    "/manage/forged/cancel",
]


def _links(mailbox):
    """Every private link in the emails sent so far, as paths."""
    found = []
    for message in mailbox.messages:
        found += re.findall(
            r"https://clinic\.example\.org(/(?:manage|intake|staff/reset)/[^\s\"<]+)",
            message.get_body(("plain",)).get_content(),
        )
    return found


def _adolescent_with_guardian_link(app, mailbox):
    offering = seed_offering(app, "first-consultation")
    client = app.test_client()
    fifteen = born_years_ago(15)
    intake_url = book_for_intake(client, offering, mailbox, date_of_birth=fifteen)
    complete_steps(client, intake_url, ADULT_STEPS[:-1] + ["guardian", "consent"], about={"date_of_birth": fifteen})
    assert client.post(f"{intake_url}/review").status_code == 302
    return client


def test_refused_links_are_rate_limited_per_address_and_working_links_never_count(make_app, sqlite_url, mailbox):
    app = make_app(sqlite_url, RATELIMIT_ENABLED=True, LINK_GUESS_RATE_LIMIT="6 per hour")
    patient = _adolescent_with_guardian_link(app, mailbox)
    links = _links(mailbox)
    assert {link.split("/")[1] for link in links} >= {"manage", "intake"} and any(
        "/guardian/" in link for link in links
    )
    for _ in range(3):
        for link in links:
            assert patient.get(link).status_code < 400, link  # 3 x every real link: none is counted

    guesser = app.test_client()
    answers = [guesser.get(path).status_code for path in FORGED]
    assert answers == [404] * 6
    blocked = guesser.get("/intake/another-guess")
    assert blocked.status_code == 429
    assert "Please wait a moment" in blocked.text and "Retry-After" in blocked.headers
    assert "use the link in the most recent email" in blocked.text
    assert guesser.get("/feeds/forged.ics").status_code == 404  # feeds are fetched from shared addresses: not limited
    elsewhere = app.test_client().get("/manage/forged", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert elsewhere.status_code == 404  # the limit is per address


@pytest.mark.usefixtures("app_context")
def test_links_carry_at_least_128_random_bits_and_the_database_holds_none_of_them(app, mailbox):
    _adolescent_with_guardian_link(app, mailbox)
    accounts.create_user(
        "dr@clinic.example.org", "Dr Lee", Role.CLINICIAN, STAFF_PASSWORD, now_utc(), db.session.get(Clinician, 1)
    )
    db.session.commit()
    app.test_client().post("/staff/reset", data={"email": "dr@clinic.example.org"})
    app.test_cli_runner().invoke(args=["worker", "--once"])  # reset emails leave with the worker, not the request
    feed_token = rotate_feed_token(db.session.get(Clinician, 1))
    db.session.commit()
    link_tokens = [
        re.match(r"/(?:manage|intake/guardian|intake|staff/reset)/([^/]+)", link).group(1) for link in _links(mailbox)
    ]
    assert len(set(link_tokens)) >= 4  # manage, questionnaire, guardian, password reset
    secrets = {token: _secret(token) for token in [*link_tokens, feed_token]}
    for token, secret in secrets.items():
        assert len(base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))) * 8 >= 128, token
    dump = "\n".join(
        repr(tuple(row)) for table in db.metadata.sorted_tables for row in db.session.execute(select(table))
    )
    db.session.rollback()
    for token, secret in secrets.items():
        where = dump[max(0, dump.find(token) - 300) : dump.find(token) + 50] if token in dump else ""
        assert token not in dump and secret not in dump, f"a working link can be read from the database: {where}"


def _secret(token):
    """The random part of a link: signed links (tokens.issue) carry it inside; feed links are it."""
    for purpose in tokens.LINK_PURPOSES:
        try:
            return URLSafeTimedSerializer(TestingConfig.SECRET_KEY, salt=f"kapclinic.{purpose}").loads(token)
        except BadSignature:
            continue
    return token


def test_links_expire(make_app, sqlite_url, mailbox):
    app = make_app(sqlite_url, MANAGE_LINK_MAX_AGE_DAYS=0)
    offering = seed_offering(app, "first-consultation")
    client = app.test_client()
    intake_url = book_for_intake(client, offering, mailbox)
    manage_url = next(link for link in _links(mailbox) if link.startswith("/manage/"))
    time.sleep(1.1)  # links are signed with a timestamp in whole seconds
    assert client.get(manage_url).status_code == 404
    assert client.get(intake_url).status_code == 404
