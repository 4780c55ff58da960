"""Rate limits as a visitor meets them: who counts as one client, what the headers say, and links that always open."""

import re
from datetime import timedelta
from types import SimpleNamespace

from kapclinic.accounts import services as accounts
from kapclinic.accounts.models import Role
from kapclinic.core import tokens
from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from tests.helpers import STAFF_PASSWORD, free_port, patient_json, seed_offering
from tests.intake_answers import book_for_intake

WRONG_PASSWORD = {"email": "nobody@clinic.example.org", "password": "not the password"}


def _sign_in_from(client, address):
    return client.post("/staff/login", data=WRONG_PASSWORD, environ_base={"REMOTE_ADDR": address}).status_code


def test_a_household_on_ipv6_shares_one_sign_in_budget_across_its_whole_64(make_app, sqlite_url):
    app = make_app(sqlite_url, RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    # A phone or home router hands out new addresses inside its /64 at will.
    assert [_sign_in_from(client, f"2001:db8:1:2::{n}") for n in (1, 2, 3)] == [401, 401, 401]
    assert _sign_in_from(client, "2001:db8:1:2:ffff:ee:dd:cc") == 429
    assert _sign_in_from(client, "2001:db8:1:3::1") == 401  # the next /64 is someone else


def test_an_ipv4_client_counts_once_however_its_address_is_written_and_a_garbled_address_is_still_limited(
    make_app, sqlite_url
):
    app = make_app(sqlite_url, RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    assert [_sign_in_from(client, address) for address in ("192.0.2.7", "::ffff:192.0.2.7", "192.0.2.7")] == [401] * 3
    assert _sign_in_from(client, "::ffff:c000:207") == 429  # 192.0.2.7 again, in IPv6 dress
    assert _sign_in_from(client, "192.0.2.8") == 401
    assert [_sign_in_from(client, "not an address") for _ in range(4)] == [401, 401, 401, 429]


def _booking(client, offering, number, **overrides):
    body = patient_json(
        offering,
        offering.starts[number].isoformat(),
        clinician_id=offering.clinician_id,
        email=f"patient{number}@example.com",
        phone=f"+1212555010{number}",
        **overrides,
    )
    return client.post("/api/v1/bookings", json=body)


def test_only_a_429_speaks_of_the_limit_and_its_retry_after_is_the_time_left_in_the_window(
    make_app, sqlite_url, mailbox
):
    app = make_app(sqlite_url, RATELIMIT_ENABLED=True, BOOKING_RATE_LIMIT="2 per hour")
    offering = seed_offering(app, "retry-after")
    client = app.test_client()
    booked = _booking(client, offering, 0)
    assert booked.status_code == 201
    assert "Retry-After" not in booked.headers  # was 3600 on every booking made
    assert not [name for name in booked.headers.keys() if name.lower().startswith("x-ratelimit")]
    assert _booking(client, offering, 2).status_code == 201
    refused = _booking(client, offering, 4)
    assert refused.status_code == 429
    assert 3500 < int(refused.headers["Retry-After"]) <= 3600  # the hour's window began with the first booking


def test_a_503_with_the_database_away_says_when_to_retry_the_outage_not_the_limit(make_app):
    app = make_app(
        f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/gone",
        DATABASE_LOCK_TIMEOUT_SECONDS=1,
        RATELIMIT_ENABLED=True,
        BOOKING_RATE_LIMIT="5 per hour",
    )
    client = app.test_client()
    start = (now_utc() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    refused = client.post(
        "/api/v1/bookings", json=patient_json(SimpleNamespace(slug="first-consultation"), start.isoformat())
    )
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "30"  # Flask-Limiter had put the hour's window here (2,622 s seen)


def _links(mailbox):
    return [
        link
        for message in mailbox.messages
        for link in re.findall(
            r"https://clinic\.example\.org(/(?:manage|intake)/[^\s\"<]+)", message.get_body(("plain",)).get_content()
        )
    ]


def test_a_network_full_of_guessers_still_opens_the_links_we_emailed_its_patients(make_app, sqlite_url, mailbox):
    """A clinic's Wi-Fi or a carrier's NAT: one address for many people, some of them guessing."""
    app = make_app(sqlite_url, RATELIMIT_ENABLED=True, LINK_GUESS_RATE_LIMIT="3 per hour")
    offering = seed_offering(app, "shared-network")
    patient = app.test_client()
    intake_url = book_for_intake(patient, offering, mailbox)
    manage_url = next(link for link in _links(mailbox) if link.startswith("/manage/"))

    guesser = app.test_client()
    assert [guesser.get(f"/manage/guess-{n}").status_code for n in range(3)] == [404] * 3
    assert guesser.get("/manage/guess-3").status_code == 429
    with app.app_context():
        forged = tokens.issue(tokens.MANAGE_BOOKING)[0][:-4] + "AAAA"  # the shape of a real link, a broken signature
    assert guesser.get(f"/manage/{forged}").status_code == 429
    assert guesser.get("/intake/guess-4").status_code == 429

    # The same address, over its budget: every link we sent still opens.
    assert patient.get(manage_url).status_code == 200
    assert patient.get(intake_url).status_code == 200
    assert patient.get(f"{manage_url}/invite.ics").status_code == 200
    assert guesser.get("/manage/guess-5").status_code == 429  # and guessing stays slowed


def test_signing_in_many_times_from_one_address_uses_none_of_the_budget_failures_do(make_app, sqlite_url):
    """A front desk behind one address signs in again after every idle timeout; only wrong passwords count."""
    app = make_app(sqlite_url, RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute")
    with app.app_context():
        accounts.create_user("desk@clinic.example.org", "Dee Desk", Role.FRONT_DESK, STAFF_PASSWORD, now_utc())
        db.session.commit()
    client = app.test_client()
    for _ in range(6):
        signed_in = client.post("/staff/login", data={"email": "desk@clinic.example.org", "password": STAFF_PASSWORD})
        assert signed_in.status_code == 302
        client.post("/staff/logout")
    assert [_sign_in_from(client, "127.0.0.1") for _ in range(4)] == [401, 401, 401, 429]
