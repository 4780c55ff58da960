"""Every response carries the browser protections; production cookies and HSTS hold in a real production config."""

import re
from pathlib import Path

import pytest

from config import load_settings
from kapclinic.accounts import services as accounts
from kapclinic.accounts.models import Role
from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from tests.helpers import STAFF_PASSWORD, seed_offering, sign_in
from tests.intake_answers import book_for_intake

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def _assert_protected(response, where):
    headers = response.headers
    policy = headers.get("Content-Security-Policy", "")
    directives = dict((part.strip().split(" ", 1) + [""])[:2] for part in policy.split(";") if part.strip())
    assert "'unsafe-inline'" not in directives.get("script-src", directives.get("default-src", "")), where
    assert directives.get("script-src") == "'self'", where
    assert directives.get("frame-ancestors") == "'none'", where
    assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Referrer-Policy") == "same-origin", where


def test_public_pages_api_errors_and_files_carry_the_headers(app, client, mailbox):
    offering = seed_offering(app, "first-consultation")
    intake_path = book_for_intake(client, offering, mailbox)
    body = mailbox.messages[-1].get_body(("plain",)).get_content()
    manage_path = re.search(r"https://clinic\.example\.org(/manage/\S+)", body).group(1)
    responses = {
        "landing": client.get("/"),
        "slots page": client.get("/book/first-consultation"),
        "details form": client.get(f"/book/first-consultation/details?start={offering.starts[2].isoformat()}"),
        "manage page (token in URL)": client.get(manage_path),
        "intake page (token in URL)": client.get(intake_path, follow_redirects=True),
        "API": client.get("/api/v1/consultation-types"),
        "API error": client.get("/api/v1/slots?type=nope"),
        "404 page": client.get("/no-such-page"),
        "stylesheet": client.get("/static/site.css"),
        "staff sign-in": client.get("/staff/login"),
    }
    for where, response in responses.items():
        response.close()  # the stylesheet's file
        assert response.status_code < 500, where
        _assert_protected(response, where)
    assert "Strict-Transport-Security" not in responses["landing"].headers  # plain HTTP in development and tests


def test_production_sends_hsts_and_secure_http_only_same_site_cookies(make_app, sqlite_url):
    production = load_settings(
        {
            "KAPCLINIC_CONFIG": "production",
            "SECRET_KEY": "0cfe409799fe3ed552315c72fd331d512a91c010d444a446a7367c642a701367",
            "DATABASE_URL": "postgresql+psycopg://db/kap",
            "PUBLIC_BASE_URL": "https://clinic.example.org",
            "AUDIT_KEY": "a3e1f04c9b7d25e8c6f0b1d9e7a4c2f85b0d3e6a9c1f4b7e2d5a8c0f3b6e9d12",
            "INDEX_KEY": "5c1e8a92d47b03f6e9a2c5d81b7f40e3a6d9c2b58e1f74a03d6b9e2c5f8a1d47",
            "KAPCLINIC_DATA_KEY": "bm90LWEta2V5LWJ1dC1sb25nLWVub3VnaC0zMmJ5dGU=",
        }
    )
    assert production["HSTS_SECONDS"] >= 365 * 24 * 3600
    app = make_app(
        sqlite_url, SESSION_COOKIE_SECURE=production["SESSION_COOKIE_SECURE"], HSTS_SECONDS=production["HSTS_SECONDS"]
    )
    with app.app_context():
        accounts.create_user("desk@clinic.example.org", "Desk", Role.FRONT_DESK, STAFF_PASSWORD, now_utc(), None)
        db.session.commit()
    client = app.test_client()
    response = sign_in(client, "desk@clinic.example.org")
    assert response.status_code == 302
    assert response.headers["Strict-Transport-Security"] == f"max-age={production['HSTS_SECONDS']}"
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie, cookie


@pytest.mark.parametrize(
    "template",
    sorted(
        p.relative_to(TEMPLATES).as_posix()
        for p in TEMPLATES.rglob("*.html")
        if not p.relative_to(TEMPLATES).as_posix().startswith("email/")
    ),
)
def test_pages_hold_no_inline_script_or_style_the_policy_would_block(template):
    """The policy allows neither; an inline handler or style would silently stop working in browsers."""
    source = (TEMPLATES / template).read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", source), "inline <script>"
    assert not re.search(r"\son[a-z]+\s*=", source), "inline event handler"
    assert not re.search(r"\sstyle\s*=", source) and "<style" not in source, "inline style"


def test_a_method_the_route_does_not_take_is_answered_with_allow_on_our_page_and_in_json(client):
    page = client.put("/staff/login")
    assert page.status_code == 405
    assert set(page.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}
    assert "<html" in page.text.lower()  # still the clinic's page, with its crisis numbers
    api = client.get("/api/v1/bookings")
    assert api.status_code == 405 and api.json["error"] == "Method Not Allowed"
    assert set(api.headers["Allow"].split(", ")) == {"OPTIONS", "POST"}
