"""Every video consultation has its own room: two patients of one type never share one.

Each booking of a video type gets an unguessable room under the type's video address,
shown in that patient's email, invite, manage page and API answer, kept through a
reschedule; the front desk may give one consultation another link, and the patient is
told. A booking from before rooms existed shows the type's link, as it did.
"""

import re

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from kapclinic.accounts.models import Role
from kapclinic.audit.models import AuditAction, AuditEvent
from kapclinic.core.timezones import instant_param
from kapclinic.extensions import db
from kapclinic.intake.models import Intake
from kapclinic.notifications.models import OutboxMessage
from kapclinic.scheduling.models import Booking, Clinician, Modality
from kapclinic.workspace import services as workspace
from tests.helpers import TYPE_FORM, patient_json, seed_offering, sign_in

pytestmark = pytest.mark.both_databases
SERVER = "https://video.clinic.example.org/"
ROOM = re.compile(r"https://video\.clinic\.example\.org/[A-Za-z0-9_-]+")


@pytest.fixture
def offering(app):
    return seed_offering(app, "video-first", modality=Modality.VIDEO, video_link=SERVER)


def _book(client, offering, index, email):
    body = patient_json(offering, instant_param(offering.starts[index]), email=email)
    response = client.post("/api/v1/bookings", json=body)
    assert response.status_code == 201, response.json
    return response.json


def _confirmation(mailbox, email):
    (message,) = [message for message in mailbox.messages if message["To"] == email]
    return message


def _event(message):
    part = next(part for part in message.walk() if part.get_content_type() == "text/calendar")
    return Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT")[0]


def _manage_path(answer):
    return answer["manage_url"].removeprefix("https://clinic.example.org")


@pytest.fixture
def two_patients(client, offering, mailbox):
    """Ana and Ben book the same video type: their API answers, and their confirmation emails."""
    ana = _book(client, offering, 0, "ana@example.com")
    ben = _book(client, offering, 2, "ben@example.com")
    return (ana, _confirmation(mailbox, "ana@example.com")), (ben, _confirmation(mailbox, "ben@example.com"))


def test_two_patients_of_one_video_type_each_get_their_own_room_everywhere_they_look(client, two_patients):
    (ana, ana_mail), (ben, ben_mail) = two_patients
    assert ana["video_room"] != ben["video_room"]
    for answer, message, other in ((ana, ana_mail, ben), (ben, ben_mail, ana)):
        room = answer["video_room"]
        assert ROOM.fullmatch(room) and len(room.rsplit("/", 1)[1]) >= 22  # at least 128 random bits
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        event = _event(message)
        page = client.get(_manage_path(answer)).text
        invite = client.get(f"{_manage_path(answer)}/invite.ics").data.decode()
        assert room in text and f'<a href="{room}">' in html
        assert str(event["LOCATION"]) == room and str(event["URL"]) == room and room in str(event["DESCRIPTION"])
        assert f'<a href="{room}"' in page and room in invite.replace("\r\n ", "")
        for seen in (text, html, str(event), page, invite):
            assert other["video_room"] not in seen


def test_the_room_stays_when_the_consultation_moves(client, offering, two_patients, mailbox):
    (ana, _), _ = two_patients
    mailbox.clear()
    moved = client.post(
        f"{_manage_path(ana)}/reschedule/confirm", query_string={"start": instant_param(offering.starts[4])}
    )
    assert moved.status_code == 302
    (message,) = mailbox.messages
    assert str(_event(message)["LOCATION"]) == ana["video_room"]
    assert f'<a href="{ana["video_room"]}"' in client.get(moved.headers["Location"]).text


def test_the_clinicians_feed_shows_each_consultation_its_own_room(app, client, two_patients, offering):
    (ana, _), (ben, _) = two_patients
    with app.app_context():
        token = workspace.rotate_feed_token(db.session.get(Clinician, offering.clinician_id))
        db.session.commit()
    feed = Calendar.from_ical(client.get(f"/feeds/{token}.ics").data)
    rooms = sorted(str(event["URL"]) for event in feed.walk("VEVENT"))
    assert rooms == sorted([ana["video_room"], ben["video_room"]])


def _intake_id(app, public_id):
    with app.app_context():
        return db.session.scalar(select(Intake.id).join(Booking).where(Booking.public_id == public_id))


def _snapshot(app, public_id):
    with app.app_context():
        booking = db.session.scalar(select(Booking).where(Booking.public_id == public_id))
        return (
            booking.staff_video_link,
            booking.ical_sequence,
            db.session.scalar(select(func.count(OutboxMessage.id))),
            db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == AuditAction.VIDEO_LINK_SET)),
        )


def test_the_front_desk_sets_a_link_for_one_consultation_and_the_patient_gets_it(
    app, client, create_staff, two_patients, mailbox
):
    (ana, _), (ben, _) = two_patients
    sign_in(client, create_staff(Role.FRONT_DESK).email)
    staff_link = "https://meet.example.net/ana-and-dr-video"
    mailbox.clear()
    intake_id = _intake_id(app, ana["id"])
    response = client.post(f"/staff/intakes/{intake_id}/video-link", data={"video_link": f"  {staff_link} "})
    assert response.status_code == 302
    assert f'<a href="{staff_link}"' in client.get(f"/staff/intakes/{intake_id}").text
    (message,) = mailbox.messages
    assert message["To"] == "ana@example.com" and "how or where you meet has changed" in message.get_body(
        ("plain",)
    ).get_content().replace("\n", " ")
    event = _event(message)
    assert str(event["URL"]) == staff_link and int(event["SEQUENCE"]) == 1
    patient = app.test_client()
    assert f'<a href="{staff_link}"' in patient.get(_manage_path(ana)).text
    assert ana["video_room"] not in patient.get(_manage_path(ana)).text
    assert staff_link in patient.get(f"{_manage_path(ana)}/invite.ics").data.decode().replace("\r\n ", "")
    # Ben's room is his own still, and the audit trail says what happened without the link itself.
    assert f'<a href="{ben["video_room"]}"' in patient.get(_manage_path(ben)).text
    with app.app_context():
        (detail,) = db.session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == AuditAction.VIDEO_LINK_SET)
        ).all()
    assert staff_link not in detail


@pytest.mark.parametrize(
    "link",
    [
        "",
        "http://meet.example.net/room",
        "javascript:alert(1)//https://",
        "https://meet example.net/room",
        "https://localhost/room",
        "meet.example.net/room",
        "https://meet.example.net/" + "a" * 500,
    ],
)
def test_a_bad_link_is_refused_on_its_field_and_nothing_changes(app, client, create_staff, two_patients, mailbox, link):
    (ana, _), _ = two_patients
    sign_in(client, create_staff(Role.FRONT_DESK).email)
    before = _snapshot(app, ana["id"])
    mailbox.clear()
    response = client.post(f"/staff/intakes/{_intake_id(app, ana['id'])}/video-link", data={"video_link": link})
    assert response.status_code == 422
    assert 'id="video-link-error"' in response.text and "https://" in response.text
    assert _snapshot(app, ana["id"]) == before and mailbox.messages == []


def test_a_clinician_cannot_set_the_link_and_a_phone_consultation_has_none(
    app, client, create_staff, create_staff_for_clinician, two_patients, mailbox
):
    (ana, _), _ = two_patients
    intake_id = _intake_id(app, ana["id"])
    with app.app_context():
        clinician_id = db.session.scalar(select(Booking.clinician_id).where(Booking.public_id == ana["id"]))
    phone = seed_offering(app, "phone-call")
    booked = _book(app.test_client(), phone, 0, "carl@example.com")
    assert "video_room" not in booked
    sign_in(client, create_staff_for_clinician(clinician_id).email)
    before = _snapshot(app, ana["id"])
    link = {"video_link": "https://meet.example.net/room"}
    assert client.post(f"/staff/intakes/{intake_id}/video-link", data=link).status_code == 403
    desk = app.test_client()
    sign_in(desk, create_staff(Role.FRONT_DESK).email)
    refused = desk.post(f"/staff/intakes/{_intake_id(app, booked['id'])}/video-link", data=link)
    assert refused.status_code == 409 and "not by video" in refused.text
    assert _snapshot(app, ana["id"]) == before


def test_a_booking_from_before_rooms_shows_the_types_link_as_it_did(app, client, two_patients):
    (ana, _), _ = two_patients
    with app.app_context():
        booking = db.session.scalar(select(Booking).where(Booking.public_id == ana["id"]))
        booking.video_room_token = None
        db.session.commit()
    page = client.get(_manage_path(ana)).text
    assert f'<a href="{SERVER}"' in page and ana["video_room"] not in page


def test_the_room_is_stored_encrypted(app, two_patients):
    (ana, _), _ = two_patients
    token = ana["video_room"].rsplit("/", 1)[1]
    with app.app_context():
        stored = db.session.execute(
            select(Booking.__table__.c.video_room_token).where(Booking.public_id == ana["id"])
        ).scalar_one()
    # Read through the table's column type, the value is the token; the raw text is not.
    with app.app_context():
        raw = (
            db.session.connection()
            .exec_driver_sql(
                "SELECT video_room_token FROM bookings WHERE public_id = %s"
                if db.engine.dialect.name == "postgresql"
                else "SELECT video_room_token FROM bookings WHERE public_id = ?",
                (ana["id"],),
            )
            .scalar_one()
        )
    assert stored == token and token not in raw


def test_a_new_video_server_moves_each_patients_own_room_with_it(app, client, create_staff, two_patients, mailbox):
    (ana, _), (ben, _) = two_patients
    sign_in(client, create_staff(Role.ADMIN).email)
    with app.app_context():
        kind = db.session.scalar(select(Booking)).consultation_type
        type_id, clinician_id, slug = kind.id, kind.clinicians[0].id, kind.slug
        db.session.rollback()
    mailbox.clear()
    form = {
        **TYPE_FORM,
        "slug": slug,
        "duration_minutes": "60",
        "modality": "video",
        "video_link": "https://meet.clinic.example.org/rooms",
        "clinicians": [str(clinician_id)],
    }
    assert client.post(f"/staff/admin/types/{type_id}", data=form).status_code == 302
    moved = {message["To"]: str(_event(message)["URL"]) for message in mailbox.messages}
    room_names = {
        address: answer["video_room"].rsplit("/", 1)[1]
        for address, answer in (("ana@example.com", ana), ("ben@example.com", ben))
    }
    assert moved == {address: f"https://meet.clinic.example.org/rooms/{name}" for address, name in room_names.items()}
