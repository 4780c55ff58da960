"""Forwarded headers count only from the listed proxy: a client cannot name its own address."""

import re

import pytest
from sqlalchemy import select

from kapclinic.accounts import services as accounts
from kapclinic.accounts.models import Role
from kapclinic.audit.models import AuditEvent
from kapclinic.core.proxies import is_listed, parse_allowed_proxies, valid_ip_or_empty
from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from tests.helpers import STAFF_PASSWORD, sign_in

PROXY = "10.0.0.5"
STRANGER = "203.0.113.7"


@pytest.fixture
def proxied_app(make_app, sqlite_url):
    """One reverse proxy in front (PROXY_FIX_X_FOR=1) at 10.0.0.5, and a sign-in limit of 3 a minute."""
    app = make_app(
        sqlite_url,
        RATELIMIT_ENABLED=True,
        LOGIN_RATE_LIMIT="3 per minute",
        PROXY_FIX_X_FOR=1,
        FORWARDED_ALLOW_IPS=f"192.0.2.0/24, {PROXY}",
    )
    with app.app_context():
        accounts.create_user("desk@clinic.example.org", "Desk", Role.FRONT_DESK, STAFF_PASSWORD, now_utc(), None)
        db.session.commit()
    return app


def _failed_sign_ins(app, peer, forwarded_for):
    client = app.test_client()
    return [
        client.post(
            "/staff/login",
            data={"email": "nobody@example.org", "password": "wrong"},
            environ_base={"REMOTE_ADDR": peer},
            headers={"X-Forwarded-For": address},
        ).status_code
        for address in forwarded_for
    ]


def test_an_attacker_forging_x_forwarded_for_still_meets_the_sign_in_limit(proxied_app):
    statuses = _failed_sign_ins(proxied_app, STRANGER, [f"198.51.100.{number}" for number in range(1, 6)])
    assert statuses[:3] == [401, 401, 401]
    assert statuses[3:] == [429, 429]


def test_clients_behind_the_listed_proxy_each_have_their_own_limit(proxied_app):
    # Five people behind the clinic's proxy: none is limited by the others' attempts ...
    assert 429 not in _failed_sign_ins(proxied_app, PROXY, [f"198.51.100.{number}" for number in range(11, 16)])
    # ... and one person trying four times is, although the proxy's own address never changes.
    assert _failed_sign_ins(proxied_app, PROXY, ["198.51.100.20"] * 4)[-1] == 429
    # A proxy inside a listed network counts too.
    assert _failed_sign_ins(proxied_app, "192.0.2.44", ["198.51.100.30"] * 4)[-1] == 429


def _queue_viewed_from(app, peer, forwarded_for):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = peer
    client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded_for
    assert sign_in(client, "desk@clinic.example.org").status_code == 302
    assert client.get("/staff/intakes").status_code == 200
    with app.app_context():
        address = db.session.scalars(select(AuditEvent.remote_addr).order_by(AuditEvent.id.desc())).first()
        db.session.rollback()
    return address


def test_the_audit_trail_records_the_connecting_address_not_a_forged_one(proxied_app):
    assert _queue_viewed_from(proxied_app, STRANGER, "198.51.100.66") == STRANGER


def test_the_audit_trail_records_the_client_the_listed_proxy_names(proxied_app):
    assert _queue_viewed_from(proxied_app, PROXY, "198.51.100.77") == "198.51.100.77"


def test_a_forwarded_value_that_is_not_an_address_is_stored_as_none(proxied_app):
    assert _queue_viewed_from(proxied_app, PROXY, "<script>, unknown-host-name-" + "x" * 60) == ""


@pytest.mark.parametrize(
    ("raw", "peer", "listed"),
    [
        ("10.0.0.5", "10.0.0.5", True),
        ("10.0.0.5", "10.0.0.6", False),
        ("10.0.0.0/8, ::1", "10.200.1.1", True),
        ("10.0.0.0/8, ::1", "::1", True),
        ("2001:db8::/64", "2001:db8::abcd", True),
        ("2001:db8::/64", "2001:db8:0:1::1", False),
        ("*", "198.51.100.1", True),
    ],
)
def test_forwarded_allow_ips_reads_addresses_networks_and_any(raw, peer, listed):
    assert is_listed(parse_allowed_proxies(raw), peer) is listed


def test_a_malformed_proxy_list_stops_the_app_at_start_up(make_app, sqlite_url):
    with pytest.raises(ValueError, match="FORWARDED_ALLOW_IPS holds 'proxy.internal'"):
        make_app(sqlite_url, PROXY_FIX_X_FOR=1, FORWARDED_ALLOW_IPS="10.0.0.5, proxy.internal")


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("203.0.113.9", "203.0.113.9"),
        (" 2001:DB8::1 ", "2001:db8::1"),
        ("unknown", ""),
        ("1.2.3.4:5678", ""),
        ("", ""),
        (None, ""),
        ("x" * 100, ""),
    ],
)
def test_only_a_valid_address_is_stored(value, stored):
    assert valid_ip_or_empty(value) == stored


def test_a_client_behind_the_proxy_cannot_choose_the_host_the_csrf_check_compares_with(make_app, sqlite_url):
    """nginx passes headers it does not set: an X-Forwarded-Host from the browser must not count."""
    app = make_app(sqlite_url, WTF_CSRF_ENABLED=True, PROXY_FIX_X_FOR=1, FORWARDED_ALLOW_IPS=PROXY)
    client = app.test_client()
    client.environ_base.update(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_PROTO="https")
    page = client.get("/staff/login", base_url="http://book.clinic.example").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    form = {"csrf_token": token, "email": "nobody@example.org", "password": "wrong"}
    forged = client.post(
        "/staff/login",
        data=form,
        base_url="http://book.clinic.example",
        headers={"Referer": "https://evil.example/staff/login", "X-Forwarded-Host": "evil.example"},
    )
    assert forged.status_code == 400 and "referrer does not match" in forged.text
    # The browser's own Referer on the real host passes the check (and the sign-in is then refused as wrong).
    honest = client.post(
        "/staff/login",
        data=form,
        base_url="http://book.clinic.example",
        headers={"Referer": "https://book.clinic.example/staff/login"},
    )
    assert honest.status_code == 401
