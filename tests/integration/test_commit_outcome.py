"""The connection to PostgreSQL dies while COMMIT is on its way: the patient is told the truth.

A real TCP proxy sits between the app and PostgreSQL. Armed, it passes the next COMMIT to the
server, waits for the server to answer, and then cuts the app's connection instead of passing
the answer on: the booking is saved, but the app cannot know it. Before the unit of work, the
answer said "nothing was saved", and a patient who believed it booked twice.
"""

import contextlib
import socket
import threading
import time
import uuid
from datetime import datetime

import pytest
from sqlalchemy import func, select

from kapclinic.core.error_pages import API_OUTCOME_UNKNOWN
from kapclinic.core.timezones import instant_param
from kapclinic.extensions import db
from kapclinic.scheduling.models import Booking
from tests.helpers import patient_form, patient_json, seed_offering

pytestmark = pytest.mark.postgres


class CommitCutter:
    """A loopback TCP proxy to PostgreSQL that, once armed, cuts a connection right after the server answers COMMIT."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.armed = threading.Event()
        self.cut = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            state = {"commit_sent": False}
            threading.Thread(target=self._client_to_server, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._server_to_client, args=(server, client, state), daemon=True).start()

    def _client_to_server(self, client, server, state):
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if self.armed.is_set() and b"COMMIT" in data:
                    self.armed.clear()
                    state["commit_sent"] = True
                server.sendall(data)
        _close(client, server)

    def _server_to_client(self, server, client, state):
        with contextlib.suppress(OSError):
            while data := server.recv(65536):
                if state["commit_sent"]:
                    # The server has committed and answered; the app never hears it.
                    self.cut.set()
                    _close(client, server)
                    return
                client.sendall(data)
        _close(client, server)

    def close(self):
        self.listener.close()


def _close(*sockets):
    # shutdown, not only close: another thread is blocked reading the same socket.
    for each in sockets:
        with contextlib.suppress(OSError):
            each.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            each.close()


@pytest.fixture
def cutter(postgres_url):
    port = int(postgres_url.split("@127.0.0.1:", 1)[1].split("/", 1)[0])
    proxy = CommitCutter(port)
    yield proxy
    proxy.close()


@pytest.fixture
def proxied_app(make_app, postgres_url, cutter, mailbox):
    url = postgres_url.replace(f"127.0.0.1:{cutter.target_port}", f"127.0.0.1:{cutter.port}")
    return make_app(url, DATABASE_LOCK_TIMEOUT_SECONDS=5)


def _bookings(app):
    with app.app_context():
        return db.session.scalar(select(func.count(Booking.id)))


def test_an_api_booking_whose_commit_reply_is_lost_is_not_called_unsaved_and_its_key_finds_it(proxied_app, cutter):
    offering = seed_offering(proxied_app, "cut")
    start = offering.starts[0].isoformat()
    client = proxied_app.test_client()
    body = patient_json(offering, start, idempotency_key=uuid.uuid4().hex)
    cutter.armed.set()
    answer = client.post("/api/v1/bookings", json=body)
    assert cutter.cut.is_set()
    assert answer.status_code == 503
    assert answer.json["message"] == API_OUTCOME_UNKNOWN
    assert "nothing was saved" not in answer.json["message"]
    assert _bookings(proxied_app) == 1  # the server did commit it
    # The retry the answer invites returns the booking instead of refusing the time as taken.
    retry = client.post("/api/v1/bookings", json=body)
    assert retry.status_code == 200 and datetime.fromisoformat(retry.json["start"]) == offering.starts[0]
    assert _bookings(proxied_app) == 1


def test_a_web_booking_whose_commit_reply_is_lost_tells_the_patient_to_check_their_email(proxied_app, cutter):
    offering = seed_offering(proxied_app, "cut-web")
    client = proxied_app.test_client()
    details = f"/book/{offering.slug}/details?start={instant_param(offering.starts[1])}&tz=UTC"
    form_page = client.get(details)
    assert form_page.status_code == 200
    cutter.armed.set()
    answer = client.post(details, data=patient_form())
    assert cutter.cut.is_set()
    assert answer.status_code == 503
    assert "cannot tell whether it was saved" in answer.text and "check your email" in answer.text
    assert "nothing was saved" not in answer.text
    assert _bookings(proxied_app) == 1
    # The connection the app lost is replaced: the next request works.
    deadline = time.monotonic() + 5
    while client.get("/").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.get("/").status_code == 200


def test_the_booked_message_is_not_shown_over_a_page_that_cannot_say_it_was_saved(proxied_app, cutter):
    offering = seed_offering(proxied_app, "cut-flash")
    client = proxied_app.test_client()
    details = f"/book/{offering.slug}/details?start={instant_param(offering.starts[2])}&tz=UTC"
    assert client.get(details).status_code == 200
    cutter.armed.set()
    answer = client.post(details, data=patient_form(email="flash@example.com"))
    assert answer.status_code == 503
    assert "Your consultation is booked" not in answer.text
    # Nor does it wait in the browser's session for the next page.
    assert "Your consultation is booked" not in client.get("/").text
