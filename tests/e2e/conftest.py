"""A real browser (Debian's Chromium through Playwright) against the app served on 127.0.0.1.

Playwright's own browser download cannot work here, so the tests drive /usr/bin/chromium
(the `browser` fixture, in tests/conftest.py: tests/deployed uses it too). Without it they
skip locally and fail in CI (.ci/run installs it). axe-core comes from
the npm registry at install time (tests/e2e/package-lock.json), never while tests run.
"""

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from kapclinic.accounts import services as accounts
from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.scheduling.models import Clinician
from tests.helpers import AXE, STAFF_PASSWORD

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}


@dataclass
class LiveServer:
    app: object
    url: str
    # The same database through the test suite's usual app, whose helpers read links to https://clinic.example.org.
    seeding_app: object

    def add_staff(self, role, email, name, clinician_id=None):
        """A staff user with STAFF_PASSWORD; a clinician user is linked to the clinician profile given."""
        with self.app.app_context():
            clinician = db.session.get(Clinician, clinician_id) if clinician_id else None
            accounts.create_user(email, name, role, STAFF_PASSWORD, now_utc(), clinician)
            db.session.commit()


@pytest.fixture
def live_server(make_app, sqlite_url):
    """The app on a free port in a thread, with CSRF on as in production; links in emails point at it."""
    app = make_app(sqlite_url, WTF_CSRF_ENABLED=True, CLINIC_TIMEZONE="America/New_York")
    server = make_server("127.0.0.1", 0, app, threaded=True)  # port 0: the system picks a free one
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["PUBLIC_BASE_URL"] = url
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # The same keys, so what either app writes the other reads (answers) and finds (patients).
    yield LiveServer(
        app, url, make_app(sqlite_url, DATA_KEYS=app.config["DATA_KEYS"], INDEX_KEY=app.config["INDEX_KEY"])
    )
    server.shutdown()
    server.server_close()
    thread.join(5)


@dataclass
class Visit:
    """One browser context: every page it shows is screenshotted and checked with axe-core."""

    context: object
    page: object
    folder: Path
    blocked_by_policy: list = field(default_factory=list)
    server_errors: list = field(default_factory=list)
    shots: int = 0
    closed: bool = False

    def check(self, name):
        """Screenshot the page and assert axe-core finds no serious or critical violation on it."""
        self.page.wait_for_load_state("load")
        self.shots += 1
        self.page.screenshot(path=str(self.folder / f"{self.shots:02d}-{name}.png"), full_page=True)
        self.page.evaluate(
            AXE.read_text()
        )  # evaluated through the DevTools protocol: the page's CSP still applies to the page itself
        violations = self.page.evaluate(
            """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
                 .filter(v => v.impact === "serious" || v.impact === "critical")
                 .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)}))"""
        )
        assert violations == [], f"{name}: {json.dumps(violations, indent=1)}"
        unreachable = self.page.evaluate(
            """() => [...document.querySelectorAll("input:not([type=hidden]), select, textarea, button, a[href]")]
                 .filter(element => element.offsetParent !== null && !element.disabled && element.tabIndex < 0)
                 .map(element => element.outerHTML.slice(0, 80))"""
        )
        assert unreachable == [], f"{name}: controls the Tab key skips: {unreachable}"
        # Against the screen we asked for, not window.innerWidth: a mobile browser widens its layout
        # viewport to fit a too-wide page, and innerWidth grows with it.
        overflow = self.page.evaluate("() => document.documentElement.scrollWidth") - self.page.viewport_size["width"]
        assert overflow <= 0, f"{name}: the page is {overflow}px wider than the screen"
        assert self.blocked_by_policy == [], f"{name}: the Content-Security-Policy blocked {self.blocked_by_policy}"
        assert self.server_errors == [], f"{name}: server errors {self.server_errors}"

    def sign_in(self, server, email):
        self.page.goto(server.url + "/staff/login")
        self.check("sign-in")
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(STAFF_PASSWORD)
        with self.page.expect_navigation():
            self.page.get_by_role("button", name="Sign in").click()
        assert not self.page.url.startswith(server.url + "/staff/login"), (
            f"sign-in refused: {self.page.inner_text('main')[:500]}"
        )

    def close(self):
        """Close the browser context, as a patient closing the browser: the session cookie is gone."""
        if not self.closed:
            self.context.close()
            self.closed = True


@pytest.fixture
def open_browser(browser, request):
    """Open a fresh browser context (like a new device); it closes at the end of the test."""
    contexts = []
    base_folder = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.nodeid.split("::", 1)[1])

    def opener(device=DESKTOP, timezone_id="America/New_York", label="browser", **context_options):
        """`context_options` go to Playwright's new_context (e.g. ignore_https_errors, extra_http_headers)."""
        context = browser.new_context(**device, timezone_id=timezone_id, locale="en-US", **context_options)
        page = context.new_page()
        folder = base_folder / f"{len(contexts) + 1}-{label}"
        folder.mkdir(parents=True, exist_ok=True)
        visit = Visit(context, page, folder)
        page.on(
            "console",
            lambda message: "Content Security Policy" in message.text and visit.blocked_by_policy.append(message.text),
        )
        page.on(
            "response",
            lambda response: response.status >= 500 and visit.server_errors.append((response.status, response.url)),
        )
        contexts.append(visit)
        return visit

    yield opener
    for visit in contexts:
        visit.close()
