"""Abuse of the public booking path: one budget per address, a cap per patient, holds until confirmed, bursts.

Also the booking-path findings of issue 12: deactivated clinicians, idempotency keys
reused with other details, deeply nested JSON, the outbox page's audit row, one link
for one purpose, and the cancellation reason encrypted at rest.
"""

import re
import threading
import uuid
from datetime import timedelta

import pytest
from flask_migrate import downgrade, upgrade
from icalendar import Calendar
from sqlalchemy import create_engine, func, select, text

from kapclinic.accounts import services as accounts
from kapclinic.accounts.models import Role
from kapclinic.audit.models import AuditAction, AuditEvent
from kapclinic.core import tokens
from kapclinic.core.timezones import instant_param, now_utc
from kapclinic.extensions import db
from kapclinic.intake.models import Intake, IntakeStatus
from kapclinic.scheduling import services
from kapclinic.scheduling.models import Booking, BookingStatus, Clinician, ConsultationType
from kapclinic.scheduling.slots import Interval
from tests.helpers import POSTGRES_URL, STAFF_PASSWORD, booked_by, patient_form, patient_json, seed_offering, sign_in

CLINIC_PHONE = "+1 555 0100"


def _book_api(client, offering, slot, address="198.51.100.1", **patient):
    body = patient_json(offering, instant_param(offering.starts[slot]), clinician_id=offering.clinician_id, **patient)
    return client.post("/api/v1/bookings", json=body, environ_base={"REMOTE_ADDR": address})


def _details_url(offering, slot):
    start = instant_param(offering.starts[slot])
    return f"/book/{offering.slug}/details?start={start}&clinician={offering.clinician_id}&tz=UTC"


def _messages_to(mailbox, address):
    return [message for message in mailbox.messages if message["To"] == address]


def _text_of(message):
    return message.get_body(("plain",)).get_content()


def _manage_token(message):
    return re.search(r"https://clinic\.example\.org/manage/(\S+)", _text_of(message)).group(1)


def _intake_tokens(message):
    return re.findall(r"https://clinic\.example\.org/intake/([^\s/]+)", _text_of(message))


def _invite_method(message):
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            return str(Calendar.from_ical(part.get_payload(decode=True)).get("method"))
    return None


def _count(model, *conditions):
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions))


def _other_phone(number):
    return f"+1 212 555 01{number:02d}"


# --- 1. one booking budget per address ------------------------------------------------------


def test_one_address_shares_one_booking_budget_between_web_form_api_and_reschedule(make_app, sqlite_url):
    app = make_app(sqlite_url, RATELIMIT_ENABLED=True, BOOKING_RATE_LIMIT="3 per hour")
    offering = seed_offering(app, "budget")
    client = app.test_client()
    here = {"REMOTE_ADDR": "198.51.100.7"}
    # Three refused attempts through three doors spend the address's budget of three...
    assert client.post(_details_url(offering, 0), data={}, environ_base=here).status_code == 422
    assert client.post("/api/v1/bookings", json={}, environ_base=here).status_code == 422
    assert client.post("/manage/made-up/reschedule/confirm?start=x", environ_base=here).status_code in (400, 404)
    # ...so a fourth through any door is refused, with a message that says what to do.
    web = client.post(_details_url(offering, 0), data=patient_form(), environ_base=here)
    api = client.post("/api/v1/bookings", json={}, environ_base=here)
    assert web.status_code == api.status_code == 429
    assert "call us on" in api.json["message"]
    # Another address has its own budget.
    assert client.post("/api/v1/bookings", json={}, environ_base={"REMOTE_ADDR": "198.51.100.8"}).status_code == 422


# --- 2. at most N active upcoming consultations per email and per phone --------------------------


@pytest.mark.usefixtures("app_context")
def test_patient_is_told_to_call_when_their_email_already_holds_two_upcoming_consultations(app, client, mailbox):
    offering = seed_offering(app, "cap-web")
    for slot, phone in ((0, 1), (2, 2)):
        response = client.post(_details_url(offering, slot), data=patient_form(phone=_other_phone(phone)))
        assert response.status_code == 302
    # The same address typed in other capitals is the same address.
    third = client.post(
        _details_url(offering, 4),
        data=patient_form(email="ANA.Patient@Example.COM", phone=_other_phone(3), name="Ana Third"),
    )
    assert third.status_code == 422
    assert "already has 2 upcoming consultations" in third.text
    assert f"call us on {CLINIC_PHONE}" in third.text
    assert 'value="Ana Third"' in third.text  # what they typed is kept
    assert _count(Booking) == 2


@pytest.mark.usefixtures("app_context")
def test_api_refuses_a_third_upcoming_consultation_for_one_phone_number_on_the_phone_field(app, client, mailbox):
    offering = seed_offering(app, "cap-api")
    assert _book_api(client, offering, 0, email="one@example.com", phone="+12125550100").status_code == 201
    token = _manage_token(mailbox.messages[-1])
    assert _book_api(client, offering, 2, email="two@example.com", phone="+1 212 555 0100").status_code == 201
    # The same number written another way is the same number.
    third = _book_api(client, offering, 4, email="three@example.com", phone="(212) 555-0100")
    assert third.status_code == 422
    assert list(third.json["errors"]) == ["phone"]
    assert CLINIC_PHONE in third.json["errors"]["phone"]
    assert _count(Booking) == 2
    # Moving a consultation adds none; a cancelled one no longer counts.
    moved = client.post(f"/manage/{token}/reschedule/confirm?start={instant_param(offering.starts[6])}&tz=UTC")
    assert moved.status_code == 302
    assert _book_api(client, offering, 4, email="three@example.com", phone="+12125550100").status_code == 422
    new_token = moved.headers["Location"].rsplit("/", 1)[1]
    assert client.post(f"/manage/{new_token}/cancel", data={"reason": ""}).status_code == 302
    assert _book_api(client, offering, 4, email="three@example.com", phone="+12125550100").status_code == 201


def _race(app, bodies):
    """POST every body at the same moment from its own thread; return the statuses and the answers' errors."""
    barrier = threading.Barrier(len(bodies))
    statuses = []
    lock = threading.Lock()

    def attempt(body):
        client = app.test_client()
        barrier.wait()
        response = client.post("/api/v1/bookings", json=body)
        answer = response.json or {}
        with lock:
            statuses.append((response.status_code, answer.get("errors") or answer.get("message")))

    threads = [threading.Thread(target=attempt, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


@pytest.mark.postgres
def test_one_email_booking_many_times_at_once_gets_exactly_the_cap_on_postgres(make_app, postgres_url):
    app = make_app(postgres_url)
    # Six clinicians, so nothing but the patient's own lock stands between the six requests;
    # six different times (an hour apart), since one person cannot hold two at once either.
    offerings = [seed_offering(app, f"cap-race-{number}") for number in range(6)]
    bodies = [
        patient_json(
            offering,
            instant_param(offering.starts[number * 2]),
            clinician_id=offering.clinician_id,
            phone=_other_phone(number),
            tz="UTC",
        )
        for number, offering in enumerate(offerings)
    ]
    answers = _race(app, bodies)
    assert sorted(status for status, _ in answers) == [201, 201, 422, 422, 422, 422], answers
    with app.app_context():
        assert _count(Booking) == 2


# --- 6. deactivated clinicians -----------------------------------------------------------------


def _deactivate_clinicians_account(clinician_id):
    clinician = db.session.get(Clinician, clinician_id)
    user = accounts.create_user(
        f"c{clinician_id}@clinic.example.org", clinician.name, Role.CLINICIAN, STAFF_PASSWORD, now_utc(), clinician
    )
    accounts.set_active(user, False, now_utc())
    db.session.commit()


@pytest.mark.usefixtures("app_context")
def test_a_deactivated_clinician_is_neither_offered_nor_booked_nor_moved_to(app, client, mailbox):
    offering = seed_offering(app, "leaver")
    assert _book_api(client, offering, 0).status_code == 201
    token = _manage_token(mailbox.messages[-1])
    _deactivate_clinicians_account(offering.clinician_id)
    day = offering.starts[0].date()
    slots = client.get(
        "/api/v1/slots",
        query_string={"type": offering.slug, "start": day.isoformat(), "end": day.isoformat(), "tz": "UTC"},
    )
    assert slots.status_code == 200 and slots.json["slots"] == []  # first available offers nothing
    assert offering.clinician_id not in [item["id"] for item in client.get("/api/v1/clinicians").json]
    assert client.get(f"/book/{offering.slug}?clinician={offering.clinician_id}").status_code == 400
    refused = _book_api(client, offering, 4, email="new@example.com", phone=_other_phone(9))
    assert refused.status_code == 422 and "clinician_id" in refused.json["errors"]
    page = client.get(f"/manage/{token}/reschedule")
    assert "is not taking bookings now" in page.text and "slot" not in re.findall(r'class="(slot)"', page.text)
    move = client.post(f"/manage/{token}/reschedule/confirm?start={instant_param(offering.starts[6])}&tz=UTC")
    assert move.status_code == 422
    assert "is not taking bookings now" in move.text
    # The booking they already had stays.
    assert db.session.scalar(select(Booking.start_dt)) == offering.starts[0]


# --- 7. idempotency keys ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Someone Else"},
        {"email": "other@example.com"},
        {"phone": "+12125550199"},
        {"date_of_birth": "1991-04-12"},
        {"tz": "Europe/London"},
        {"contact_consent": True},
    ],
)
@pytest.mark.usefixtures("app_context")
def test_reusing_a_request_key_with_changed_details_is_refused_not_silently_dropped(app, client, mailbox, change):
    offering = seed_offering(app, "replay")
    key = uuid.uuid4().hex
    assert _book_api(client, offering, 0, idempotency_key=key).status_code == 201
    changed = _book_api(client, offering, 0, idempotency_key=key, **change)
    assert changed.status_code == 422
    assert "already used with different details" in changed.json["errors"]["idempotency_key"]
    assert _book_api(client, offering, 0, idempotency_key=key).status_code == 200  # the identical request replays
    assert _count(Booking) == 1
    assert db.session.scalar(select(Booking)).patient_name == "Ana Patient"


# --- 8. deeply nested JSON --------------------------------------------------------------------------


def test_deeply_nested_json_is_refused_with_400_and_a_message(client):
    nested = '{"a":' * 1000 + "1" + "}" * 1000
    response = client.post("/api/v1/bookings", data=nested, content_type="application/json")
    assert response.status_code == 400
    assert response.json["message"] == "The body must be a JSON object."


# --- 5. slots API rate limit --------------------------------------------------------------------------


def test_slots_api_answers_429_with_a_message_past_its_limit(make_app, sqlite_url):
    app = make_app(sqlite_url, RATELIMIT_ENABLED=True, SLOTS_RATE_LIMIT="2 per minute")
    offering = seed_offering(app, "slots-limit")
    client = app.test_client()
    day = offering.starts[0].date().isoformat()
    query = {"type": offering.slug, "start": day, "end": day, "tz": "UTC"}
    here = {"REMOTE_ADDR": "198.51.100.20"}
    assert [client.get("/api/v1/slots", query_string=query, environ_base=here).status_code for _ in range(2)] == [
        200,
        200,
    ]
    refused = client.get("/api/v1/slots", query_string=query, environ_base=here)
    assert refused.status_code == 429
    assert "Please wait a minute" in refused.json["message"]
    assert (
        client.get("/api/v1/slots", query_string=query, environ_base={"REMOTE_ADDR": "198.51.100.21"}).status_code
        == 200
    )
    # The API's description tells a client to expect it.
    document = client.get("/api/v1/openapi.json", environ_base={"REMOTE_ADDR": "198.51.100.22"}).json
    assert "429" in document["paths"]["/slots"]["get"]["responses"]


def test_the_week_pages_and_the_slots_api_share_one_budget(make_app, sqlite_url, mailbox):
    """The booking and reschedule pages run the same slot engine: a script gains nothing by asking there."""
    app = make_app(sqlite_url, RATELIMIT_ENABLED=True, SLOTS_RATE_LIMIT="3 per minute")
    offering = seed_offering(app, "week-pages")
    client = app.test_client()
    assert _book_api(client, offering, 0, address="198.51.100.40").status_code == 201
    token = _manage_token(mailbox.messages[-1])
    here = {"REMOTE_ADDR": "198.51.100.41"}
    day = offering.starts[0].date().isoformat()
    asked = [
        client.get(
            "/api/v1/slots",
            query_string={"type": offering.slug, "start": day, "end": day, "tz": "UTC"},
            environ_base=here,
        ).status_code,
        client.get(f"/book/{offering.slug}", environ_base=here).status_code,
        client.get(f"/manage/{token}/reschedule", environ_base=here).status_code,
    ]
    assert asked == [200, 200, 200]
    refused = client.get(f"/book/{offering.slug}", environ_base=here)
    assert refused.status_code == 429 and "Please wait a minute" in refused.text
    assert client.get(f"/book/{offering.slug}", environ_base={"REMOTE_ADDR": "198.51.100.42"}).status_code == 200


def test_slots_limit_default_leaves_room_for_a_patient_clicking_through(app):
    count, per = app.config["SLOTS_RATE_LIMIT"].split(" per ")
    assert int(count) >= 60 and per == "minute"


# --- 9 and 4. admin pages: the outbox's audit row, and bursts -----------------------------------------


def _admin(app):
    user = accounts.create_user("admin@clinic.example.org", "Ada Admin", Role.ADMIN, STAFF_PASSWORD, now_utc())
    db.session.commit()
    client = app.test_client()
    assert sign_in(client, user.email).status_code == 302
    return client


def _audit_actions():
    return db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()


@pytest.mark.usefixtures("app_context")
def test_viewing_the_outbox_page_is_recorded_in_the_audit_trail(app):
    admin = _admin(app)
    assert admin.get("/staff/admin/outbox").status_code == 200
    assert _audit_actions() == [AuditAction.OUTBOX_VIEWED]


@pytest.mark.usefixtures("app_context")
def test_admin_sees_a_burst_from_one_network_and_cancels_it_with_every_patient_told(app, client, mailbox):
    offering = seed_offering(app, "burst")
    for number in range(3):
        response = _book_api(
            client,
            offering,
            2 * number,
            address="203.0.113.5",
            email=f"fake{number}@example.com",
            phone=_other_phone(10 + number),
            name=f"Fake Person {number}",
        )
        assert response.status_code == 201
    assert (
        _book_api(
            client, offering, 8, address="203.0.113.99", email="real@example.com", phone=_other_phone(30)
        ).status_code
        == 201
    )
    admin = _admin(app)
    assert 'href="/staff/admin/bursts"' in admin.get("/staff/").text  # found from the admin's home page
    page = admin.get("/staff/admin/bursts")
    assert page.status_code == 200
    assert "3 bookings" in page.text and "from one network (203.0.113.5)" in page.text
    assert "Eastern Time — New York" in page.text  # times in the clinic's zone, named as people do
    assert "real@example.com" not in page.text
    assert _audit_actions() == [AuditAction.BURSTS_VIEWED]

    booking_ids = re.findall(r'name="booking_ids" value="(\d+)"', page.text)
    assert len(booking_ids) == 3
    confirm = admin.post("/staff/admin/bursts/cancel", data={"booking_ids": booking_ids})
    assert confirm.status_code == 200 and "Cancel 3 bookings?" in confirm.text
    assert _count(Booking, Booking.status == BookingStatus.CANCELLED) == 0  # the first step changes nothing
    mailbox.clear()

    done = admin.post("/staff/admin/bursts/cancel", data={"booking_ids": booking_ids, "confirmed": "y"})
    assert done.status_code == 302
    db.session.expire_all()
    assert _count(Booking, Booking.status == BookingStatus.CANCELLED) == 3
    told = sorted(message["To"] for message in mailbox.messages)
    assert told == ["fake0@example.com", "fake1@example.com", "fake2@example.com"]
    assert {_invite_method(message) for message in mailbox.messages} == {"CANCEL"}
    cancelled = db.session.execute(
        select(AuditEvent.booking_id, AuditEvent.detail).where(AuditEvent.action == AuditAction.CANCELLED)
    ).all()
    assert sorted(str(booking_id) for booking_id, _ in cancelled) == sorted(booking_ids)
    assert not any("Fake" in detail or "example.com" in detail for _, detail in cancelled)
    assert "No bursts right now" in admin.get("/staff/admin/bursts").text


@pytest.mark.usefixtures("app_context")
def test_bookings_with_one_phone_from_many_networks_are_a_burst_too(app, client, mailbox):
    offering = seed_offering(app, "phone-burst")
    for number in range(3):
        address = f"2001:db8:{number}::1"  # three different /64s
        response = _book_api(
            client, offering, 2 * number, address=address, email=f"p{number}@example.com", phone="+12125550177"
        )
        if number < 2:
            assert response.status_code == 201
    # The cap stops the third, so widen it for this test of the view.
    app.config["MAX_ACTIVE_BOOKINGS_PER_PATIENT"] = 5
    assert (
        _book_api(
            client, offering, 4, address="2001:db8:2::1", email="p2@example.com", phone="+12125550177"
        ).status_code
        == 201
    )
    page = _admin(app).get("/staff/admin/bursts")
    assert "3 bookings" in page.text and "with one phone number (+12125550177)" in page.text


@pytest.mark.usefixtures("app_context")
def test_ipv6_addresses_in_one_64_are_one_network(app, client, mailbox):
    offering = seed_offering(app, "v6-burst")
    for number in range(3):
        address = f"2001:db8:1:2::{number + 1:x}"
        assert (
            _book_api(
                client,
                offering,
                2 * number,
                address=address,
                email=f"v{number}@example.com",
                phone=_other_phone(40 + number),
            ).status_code
            == 201
        )
    assert set(db.session.scalars(select(Booking.client_network))) == {"2001:db8:1:2::/64"}
    assert "from one network (2001:db8:1:2::/64)" in _admin(app).get("/staff/admin/bursts").text


def _family_from_one_network(app, client, offering, names):
    """Bookings made one after another from one address (a family, or a clinic's Wi-Fi, or a script)."""
    for number, name in enumerate(names):
        response = _book_api(
            client,
            offering,
            2 * number,
            address="203.0.113.7",
            name=name,
            email=f"family{number}@example.com",
            phone=_other_phone(60 + number),
        )
        assert response.status_code == 201
    return db.session.scalars(select(Booking.id).order_by(Booking.id)).all()


@pytest.mark.usefixtures("app_context")
def test_admin_chooses_which_bookings_of_a_burst_to_cancel_and_sees_each_ones_contacts(app, client, mailbox):
    offering = seed_offering(app, "burst-choose")
    ids = _family_from_one_network(app, client, offering, ["Ana Rivera"] * 4)
    admin = _admin(app)
    page = admin.get("/staff/admin/bursts")
    boxes = re.findall(r'<input type="checkbox" id="cancel-(\d+)" name="booking_ids" value="(\d+)" checked>', page.text)
    assert sorted(int(value) for _, value in boxes) == ids  # every row ticked by default
    assert "Cancel the selected bookings…" in page.text

    # The admin unticks the first booking: the family's real one.
    chosen = [str(booking_id) for booking_id in ids[1:]]
    confirm = admin.post("/staff/admin/bursts/cancel", data={"booking_ids": chosen})
    assert confirm.status_code == 200 and "Cancel 3 bookings?" in confirm.text
    for number in (1, 2, 3):  # four Ana Riveras, told apart by email and phone
        assert f"family{number}@example.com" in confirm.text and _other_phone(60 + number).replace(
            " ", ""
        ) in confirm.text.replace(" ", "")
    assert "family0@example.com" not in confirm.text
    assert (
        "Each patient is emailed" in confirm.text
        and "calendar feed shows the consultation as cancelled" in confirm.text
    )
    back, destructive = confirm.text.index("Go back without cancelling"), confirm.text.index('class="destructive"')
    assert back < destructive and "</p>" in confirm.text[back:destructive]  # not side by side with the button
    assert _count(Booking, Booking.status == BookingStatus.CANCELLED) == 0

    mailbox.clear()
    assert admin.post("/staff/admin/bursts/cancel", data={"booking_ids": chosen, "confirmed": "y"}).status_code == 302
    db.session.expire_all()
    statuses = dict(db.session.execute(select(Booking.id, Booking.status)).all())
    assert statuses[ids[0]] is BookingStatus.CONFIRMED
    assert [statuses[booking_id] for booking_id in ids[1:]] == [BookingStatus.CANCELLED] * 3
    assert sorted(message["To"] for message in mailbox.messages) == [f"family{n}@example.com" for n in (1, 2, 3)]


@pytest.mark.parametrize("confirmed", ["", "y"])
@pytest.mark.usefixtures("app_context")
def test_cancelling_a_booking_that_is_in_no_burst_is_refused_and_changes_nothing(app, client, mailbox, confirmed):
    offering = seed_offering(app, "burst-outsider")
    ids = _family_from_one_network(app, client, offering, ["Fake One", "Fake Two", "Fake Three"])
    assert (
        _book_api(
            client, offering, 8, address="198.51.100.44", email="real@example.com", phone=_other_phone(70)
        ).status_code
        == 201
    )
    outsider = db.session.scalar(select(Booking.id).where(booked_by("real@example.com")))
    admin = _admin(app)
    mailbox.clear()
    audit_rows = _count(AuditEvent)
    for sent in ([outsider], [*ids, outsider], [10**6]):
        refused = admin.post(
            "/staff/admin/bursts/cancel", data={"booking_ids": [str(i) for i in sent], "confirmed": confirmed}
        )
        assert refused.status_code == 400
        assert "Nothing was cancelled" in refused.text
    db.session.expire_all()
    assert _count(Booking, Booking.status == BookingStatus.CANCELLED) == 0
    assert _count(AuditEvent) == audit_rows and mailbox.messages == []


def test_a_burst_cancellation_email_says_why_and_what_to_do_and_sends_no_calendar_for_a_hold(
    make_app, sqlite_url, mailbox
):
    app = make_app(sqlite_url)
    with app.app_context():
        client = app.test_client()
        offering = seed_offering(app, "burst-email")
        ids = _family_from_one_network(app, client, offering, ["Sam One", "Sam Two", "Sam Three"])
        # The last one is a hold its patient never confirmed: they were never sent an invite.
        held = db.session.get(Booking, ids[-1])
        held.status, held.confirm_by_dt = BookingStatus.PENDING, now_utc() + timedelta(minutes=20)
        db.session.commit()
        admin = _admin(app)
        mailbox.clear()
        assert admin.post("/staff/admin/bursts/cancel", data={"booking_ids": ids, "confirmed": "y"}).status_code == 302
        by_address = {message["To"]: message for message in mailbox.messages}
        assert len(by_address) == 3
        for message in by_address.values():
            text = _text_of(message)
            assert message["Subject"].startswith("Your consultation with ") and message["Subject"].endswith(
                " is cancelled"
            )
            assert "one of several made together online that we could not check" in text
            assert f"If you booked it, please call us on {CLINIC_PHONE} and we will find you a time." in text
            assert "If you did not book it, you can ignore this email." in text
            html = message.get_body(("html",)).get_content()
            assert f'<a href="tel:{CLINIC_PHONE}">{CLINIC_PHONE}</a>' in html
        held_email = by_address["family2@example.com"]
        assert _invite_method(held_email) is None and "removes it from your calendar" not in _text_of(held_email)
        for address in ("family0@example.com", "family1@example.com"):
            assert _invite_method(by_address[address]) == "CANCEL"
            assert "The attached update removes it from your calendar." in _text_of(by_address[address])


def test_a_patients_own_cancellation_email_keeps_its_plain_words(app, client, mailbox):
    offering = seed_offering(app, "own-cancel")
    assert _book_api(client, offering, 0).status_code == 201
    token = _manage_token(mailbox.messages[-1])
    mailbox.clear()
    assert client.post(f"/manage/{token}/cancel", data={"reason": ""}).status_code == 302
    [message] = mailbox.messages
    assert "could not check" not in _text_of(
        message
    ) and "To book another time: https://clinic.example.org/book" in _text_of(message)
    assert _invite_method(message) == "CANCEL"


# --- 3. optional hold until confirmed ---------------------------------------------------------------


@pytest.fixture
def hold_app(make_app, sqlite_url):
    app = make_app(sqlite_url, BOOKING_CONFIRMATION_MINUTES=30)
    with app.app_context():
        yield app


def test_held_booking_sends_no_invite_or_questionnaire_until_the_patient_confirms(hold_app, mailbox):
    client = hold_app.test_client()
    offering = seed_offering(hold_app, "hold")
    response = _book_api(client, offering, 0)
    assert response.status_code == 201
    assert response.json["status"] == "pending" and "confirm_by" in response.json
    [asking] = mailbox.messages
    assert asking["Subject"].startswith("Please confirm your consultation")
    assert _invite_method(asking) is None and _intake_tokens(asking) == []
    assert "we release the time for other patients" in _text_of(asking)
    assert _count(Intake) == 0  # nothing can reach the front desk's queue yet
    token = _manage_token(asking)

    page = client.get(f"/manage/{token}")
    assert "not booked yet" in page.text and "Please confirm it by" in page.text
    assert db.session.scalar(select(Booking.status)) is BookingStatus.PENDING  # opening the link changed nothing
    held_invite = client.get(f"/manage/{token}/invite.ics")
    assert held_invite.status_code == 302 and "BEGIN:VCALENDAR" not in held_invite.text

    assert client.post(f"/manage/{token}/confirm").status_code == 302
    assert "BEGIN:VEVENT" in client.get(f"/manage/{token}/invite.ics").text
    db.session.expire_all()
    assert db.session.scalar(select(Booking.status)) is BookingStatus.CONFIRMED
    confirmed = mailbox.messages[-1]
    assert _invite_method(confirmed) == "REQUEST"
    [intake_token] = _intake_tokens(confirmed)
    assert tokens.stored_hash(intake_token, tokens.INTAKE) is not None
    assert _count(Intake) == 1


def test_a_held_booking_can_be_confirmed_only_from_the_link_in_the_email(hold_app, mailbox):
    """A script that books cannot confirm: the held booking's link goes only to the address it gave."""
    client = hold_app.test_client()
    offering = seed_offering(hold_app, "hold-proves-email")
    by_api = _book_api(client, offering, 0)
    assert by_api.status_code == 201 and "manage_url" not in by_api.json
    api_token = _manage_token(mailbox.messages[-1])
    assert api_token not in by_api.text

    form = patient_form(email="web.patient@example.com")
    booked = client.post(_details_url(offering, 4), data=form)
    assert booked.status_code == 302 and booked.headers["Location"] == "/book/held"
    page = client.get("/book/held")
    assert "Check your email to confirm" in page.text and "web.patient@example.com" in page.text
    web_token = _manage_token(mailbox.messages[-1])
    assert "/manage/" not in page.text and web_token not in page.text
    # Submitting the same form again (Back, or a double click) finds the same held booking, still unrevealed.
    again = client.post(_details_url(offering, 4), data=form)
    assert again.status_code == 302 and again.headers["Location"] == "/book/held"
    assert web_token not in client.get(_details_url(offering, 4)).text
    assert _count(Booking) == 2

    # The emailed link confirms.
    assert client.post(f"/manage/{web_token}/confirm").status_code == 302
    db.session.expire_all()
    assert (
        db.session.scalar(select(Booking.status).where(booked_by("web.patient@example.com"))) is BookingStatus.CONFIRMED
    )
    assert client.get("/book/held").headers["Location"] == "/book"  # nothing held any more


def test_a_held_time_is_taken_for_others_until_its_deadline_then_free_and_released(hold_app, mailbox):
    client = hold_app.test_client()
    offering = seed_offering(hold_app, "expiry")
    assert _book_api(client, offering, 0).status_code == 201
    again = _book_api(client, offering, 0, email="second@example.com", phone=_other_phone(50))
    assert again.status_code == 409  # the hold keeps the slot

    consultation_type = db.session.scalar(select(ConsultationType).where(ConsultationType.slug == offering.slug))
    window = Interval(offering.starts[0], offering.starts[0] + timedelta(hours=1))
    later = now_utc() + timedelta(minutes=31)
    assert services.find_slots(consultation_type, window, now_utc()) == []
    # Past its deadline the slot is free, even before the worker releases the hold...
    assert offering.starts[0] in [slot.start_dt for slot in services.find_slots(consultation_type, window, later)]
    # ...and the worker's round releases it.
    assert services.release_expired_holds(later) == 1
    db.session.commit()
    booking = db.session.scalar(select(Booking))
    assert booking.status is BookingStatus.CANCELLED and booking.cancelled_by == services.RELEASED_UNCONFIRMED


def test_the_worker_round_releases_a_hold_past_its_deadline_and_keeps_one_inside_it(hold_app, mailbox):
    from kapclinic.ops.worker import run_round

    client = hold_app.test_client()
    offering = seed_offering(hold_app, "worker-release")
    assert _book_api(client, offering, 0).status_code == 201
    assert _book_api(client, offering, -1, email="second@example.com", phone=_other_phone(51)).status_code == 201
    expired, waiting = db.session.scalars(select(Booking).order_by(Booking.id)).all()
    expired.confirm_by_dt = now_utc() - timedelta(minutes=1)
    db.session.commit()
    run_round(10)
    db.session.expire_all()
    assert expired.status is BookingStatus.CANCELLED and expired.cancelled_by == services.RELEASED_UNCONFIRMED
    assert waiting.status is BookingStatus.PENDING


def test_confirming_after_the_deadline_says_the_time_was_released(hold_app, mailbox):
    client = hold_app.test_client()
    offering = seed_offering(hold_app, "late")
    assert _book_api(client, offering, 0).status_code == 201
    token = _manage_token(mailbox.messages[-1])
    booking = db.session.scalar(select(Booking))
    booking.confirm_by_dt = now_utc() - timedelta(minutes=1)
    db.session.commit()
    late = client.post(f"/manage/{token}/confirm")
    assert late.status_code == 409
    assert "this time was released" in late.text
    db.session.expire_all()
    assert db.session.scalar(select(Booking.status)) is BookingStatus.PENDING
    assert len(mailbox.messages) == 1


@pytest.mark.postgres
def test_postgres_books_over_a_hold_past_its_deadline_and_refuses_one_inside_it(make_app, postgres_url, mailbox):
    app = make_app(postgres_url, BOOKING_CONFIRMATION_MINUTES=30)
    offering = seed_offering(app, "pg-hold")
    client = app.test_client()
    assert _book_api(client, offering, 0).status_code == 201
    assert _book_api(client, offering, 0, email="b@example.com", phone=_other_phone(60)).status_code == 409
    with app.app_context():
        consultation_type = db.session.scalar(select(ConsultationType).where(ConsultationType.slug == offering.slug))
        patient = services.PatientDetails(
            "Late Comer", "late@example.com", "+12125550161", now_utc().date().replace(year=1990), "UTC", False
        )
        outcome = services.book(consultation_type, None, offering.starts[0], patient, now_utc() + timedelta(minutes=31))
        db.session.commit()
        statuses = db.session.scalars(select(Booking.status).order_by(Booking.id)).all()
        assert outcome.booking.status is BookingStatus.CONFIRMED
        assert statuses == [BookingStatus.CANCELLED, BookingStatus.CONFIRMED]


# --- 10. one link, one purpose ------------------------------------------------------------------------


@pytest.mark.usefixtures("app_context")
def test_reschedule_email_and_manage_page_never_use_the_manage_link_for_the_questionnaire(app, client, mailbox):
    offering = seed_offering(app, "purpose")
    assert _book_api(client, offering, 0).status_code == 201
    token = _manage_token(mailbox.messages[-1])
    page = client.get(f"/manage/{token}")
    assert f"/intake/{token}" not in page.text

    moved = client.post(f"/manage/{token}/reschedule/confirm?start={instant_param(offering.starts[4])}&tz=UTC")
    assert moved.status_code == 302
    new_token = moved.headers["Location"].rsplit("/", 1)[1]
    rescheduled = mailbox.messages[-1]
    [questionnaire] = _intake_tokens(rescheduled)
    assert questionnaire != new_token
    assert tokens.stored_hash(questionnaire, tokens.INTAKE) is not None

    mailbox.clear()
    asked = client.post(f"/manage/{new_token}/questionnaire-link")
    assert asked.status_code == 302
    [emailed] = mailbox.messages
    assert emailed["To"] == "ana.patient@example.com"
    [fresh] = _intake_tokens(emailed)
    assert tokens.stored_hash(fresh, tokens.INTAKE) is not None
    assert client.get(f"/intake/{fresh}").status_code in (200, 302)


@pytest.mark.usefixtures("app_context")
def test_reschedule_email_after_the_questionnaire_is_finished_offers_no_questionnaire(app, client, mailbox):
    offering = seed_offering(app, "finished")
    assert _book_api(client, offering, 0).status_code == 201
    token = _manage_token(mailbox.messages[-1])
    intake = db.session.scalar(select(Intake))
    intake.status = IntakeStatus.SUBMITTED
    db.session.commit()
    mailbox.clear()
    moved = client.post(f"/manage/{token}/reschedule/confirm?start={instant_param(offering.starts[4])}&tz=UTC")
    assert moved.status_code == 302
    [rescheduled] = mailbox.messages
    for kind in ("plain", "html"):
        body = rescheduled.get_body((kind,)).get_content()
        assert "questionnaire" not in body.lower(), kind


# --- 11. the cancellation reason at rest ---------------------------------------------------------------

REASON = "Feeling much worse since the new medication"


def _raw_reasons(app):
    with app.app_context():
        return db.session.scalars(text("SELECT cancellation_reason FROM bookings")).all()


@pytest.mark.both_databases
def test_the_patients_cancellation_reason_is_not_stored_in_clear(make_app, database_url, mailbox):
    app = make_app(database_url)
    offering = seed_offering(app, "reason")
    client = app.test_client()
    assert _book_api(client, offering, 0).status_code == 201
    token = _manage_token(mailbox.messages[-1])
    assert client.post(f"/manage/{token}/cancel", data={"reason": REASON}).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Booking.cancellation_reason)) == REASON
    assert not any(REASON in (raw or "") for raw in _raw_reasons(app))
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite:///")
        with app.app_context():
            db.engine.dispose()  # checkpoint the write-ahead log into the file
        for suffix in ("", "-wal"):
            try:
                with open(path + suffix, "rb") as stored:
                    assert REASON.encode() not in stored.read()
            except FileNotFoundError:
                pass


def _fresh_database(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.sqlite3'}", None
    server = request.getfixturevalue("postgres_server")
    name = f"kapclinic_test_{uuid.uuid4().hex[:12]}"
    with server.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    return POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}", (server, name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request, tmp_path):
    url, cleanup = _fresh_database(request, tmp_path)
    yield url
    if cleanup:
        server, name = cleanup
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_upgrading_encrypts_cancellation_reasons_already_stored(make_app, empty_database):
    app = make_app(empty_database)
    with app.app_context():
        upgrade(revision="0010outboxexpiry")
        db.engine.dispose()
    engine = create_engine(empty_database)
    with engine.begin() as connection:
        clinician_id = connection.execute(
            text(
                "INSERT INTO clinicians (name, credentials, bio, email, timezone, is_active, min_gap_minutes) "
                "VALUES ('Dr A', '', '', 'a@clinic.example.org', 'UTC', true, 0) RETURNING id"
            )
        ).scalar()
        type_id = connection.execute(
            text(
                "INSERT INTO consultation_types (slug, name, description, duration_minutes, buffer_before_minutes, "
                "buffer_after_minutes, min_notice_minutes, horizon_days, slot_step_minutes, modality, location, "
                "video_link, is_active) "
                "VALUES ('t', 'T', '', 60, 0, 0, 0, 30, 30, 'phone', '', '', true) RETURNING id"
            )
        ).scalar()
        for number, reason in enumerate((REASON, "")):
            connection.execute(
                text(
                    "INSERT INTO bookings (public_id, clinician_id, consultation_type_id, start_dt, end_dt, "
                    "blocked_start_dt, blocked_end_dt, status, patient_name, patient_email, patient_phone, "
                    "patient_date_of_birth, patient_timezone, contact_consent, ical_uid, ical_sequence, "
                    "manage_token_hash, created_dt, updated_dt, cancellation_reason) "
                    "VALUES (:public_id, :clinician, :type, :start, :end, :start, :end, 'cancelled', 'A', "
                    "'a@example.com', "
                    "'+12125550100', '1990-01-01', 'UTC', false, :uid, 0, :token, :start, :start, :reason)"
                ),
                {
                    "public_id": str(uuid.uuid4()),
                    "clinician": clinician_id,
                    "type": type_id,
                    "reason": reason,
                    "start": now_utc() + timedelta(days=number + 1),
                    "end": now_utc() + timedelta(days=number + 1, hours=1),
                    "uid": uuid.uuid4().hex,
                    "token": uuid.uuid4().hex,
                },
            )
    with app.app_context():
        # There and back: a downgrade puts the reasons back in clear, as they were.
        upgrade(revision="0011bookingabuse")
        downgrade(revision="0010outboxexpiry")
        db.engine.dispose()
    with engine.connect() as connection:
        assert connection.scalars(text("SELECT cancellation_reason FROM bookings ORDER BY id")).all() == [REASON, ""]
    engine.dispose()
    with app.app_context():
        upgrade()
        assert db.session.scalars(select(Booking.cancellation_reason).order_by(Booking.id)).all() == [REASON, None]
        raw = db.session.scalars(text("SELECT cancellation_reason FROM bookings ORDER BY id")).all()
        assert raw[0] and REASON not in raw[0] and raw[1] is None
        db.session.rollback()
        db.engine.dispose()


def test_asking_for_the_questionnaire_link_again_and_again_is_limited_per_booking(make_app, sqlite_url, mailbox):
    app = make_app(sqlite_url, RATELIMIT_ENABLED=True)
    offering = seed_offering(app, "ask-again")
    client = app.test_client()
    assert _book_api(client, offering, 0).status_code == 201
    token = _manage_token(mailbox.messages[-1])
    mailbox.clear()
    answers = [client.post(f"/manage/{token}/questionnaire-link", follow_redirects=True) for _ in range(4)]
    assert [answer.request.path for answer in answers] == [f"/manage/{token}"] * 4  # back on the manage page each time
    assert len(mailbox.messages) == 3
    assert "We have sent this link several times in the last hour" in answers[-1].text
    assert "Too Many Requests" not in answers[-1].text
