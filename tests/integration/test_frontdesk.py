"""The front desk works the intake queue: urgent first, the record, review, notes, changes for the patient, audit."""

import csv
import io
import re

import pytest
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from sqlalchemy import select, text

from kapclinic.accounts.models import Role
from kapclinic.audit.models import AuditAction, AuditEvent
from kapclinic.extensions import db
from kapclinic.frontdesk.models import IntakeNote
from kapclinic.intake.models import Intake, ReviewStatus
from kapclinic.patients.services import new_patient
from kapclinic.scheduling.models import Booking, BookingStatus, Clinician, ConsultationType
from tests.helpers import STAFF_PASSWORD, seed_offering, sign_in
from tests.intake_answers import ADULT_STEPS, book_for_intake, born_years_ago, complete_steps, post_step, submit_intake

pytestmark = pytest.mark.both_databases


@pytest.fixture
def offering(app):
    return seed_offering(app, "frontdesk")


@pytest.fixture
def two_intakes(app, offering, mailbox):
    """A calm intake for the sooner consultation and an urgent one (PHQ-9 item 9) for a later one."""
    calm = submit_intake(app, offering, mailbox, 0, "Cal Calm", "cal@example.com")
    urgent = submit_intake(app, offering, mailbox, 4, "Una Urgent", "una@example.com", phq9={"phq9_9": "2"})
    return calm, urgent


def _events(app, **where):
    with app.app_context():
        query = select(AuditEvent).order_by(AuditEvent.id)
        for name, value in where.items():
            query = query.where(getattr(AuditEvent, name) == value)
        rows = [
            (event.action, event.actor_id, event.intake_id, event.detail, event.remote_addr)
            for event in db.session.scalars(query)
        ]
        db.session.rollback()
    return rows


def _in_app(app, function):
    with app.app_context():
        result = function()
        db.session.commit()
    return result


def _second_clinician(app, offering):
    def add():
        consultation_type = db.session.scalar(select(ConsultationType).where(ConsultationType.slug == offering.slug))
        first = db.session.get(Clinician, offering.clinician_id)
        second = Clinician(name="Dr. Second", email="second@clinic.example.org", timezone=first.timezone)
        second.availability_rules = [
            type(rule)(weekday=rule.weekday, start_time=rule.start_time, end_time=rule.end_time)
            for rule in first.availability_rules
        ]
        consultation_type.clinicians.append(second)
        db.session.flush()
        return second.id

    return _in_app(app, add)


def test_front_desk_reviews_the_urgent_intake_first(app, client, create_staff, two_intakes, offering, mailbox):
    calm, urgent = two_intakes
    desk = create_staff(Role.FRONT_DESK, name="Frankie Desk")
    sign_in(client, desk.email)

    queue = client.get("/staff/intakes")
    assert queue.status_code == 200
    page = queue.text
    assert page.index("Una Urgent") < page.index("Cal Calm"), (
        "the urgent intake must be on top although its consultation is later"
    )
    assert re.search(r"<strong>1</strong> urgent flags open", page)
    assert re.search(r"<strong>2</strong> intakes awaiting review", page)
    assert queue.headers["Cache-Control"] == "no-store"

    record = client.get(f"/staff/intakes/{urgent}")
    assert record.status_code == 200
    assert "Thoughts of death or self-harm on PHQ-9 item 9" in record.text
    assert "PHQ-9: " in record.text and " of 27" in record.text
    assert record.headers["Cache-Control"] == "no-store"
    assert (AuditAction.INTAKE_VIEWED, desk.id, urgent) in [event[:3] for event in _events(app)]

    assert client.post(f"/staff/intakes/{urgent}/status", data={"status": "in_review"}).status_code == 302
    assert (
        client.post(
            f"/staff/intakes/{urgent}/notes", data={"kind": "called", "body": "Spoke with Una; safe tonight."}
        ).status_code
        == 302
    )
    second = _second_clinician(app, offering)
    mailbox.clear()
    assert client.post(f"/staff/intakes/{urgent}/clinician", data={"clinician_id": str(second)}).status_code == 302

    record = client.get(f"/staff/intakes/{urgent}").text
    assert "Spoke with Una; safe tonight." in record and "Called" in record and "Frankie Desk" in record
    assert "Dr. Second" in record
    assert re.search(r"Frankie Desk · awaiting review → in review", record)
    with app.app_context():
        intake = db.session.get(Intake, urgent)
        assert intake.review_status is ReviewStatus.IN_REVIEW and intake.review_changed_by_id == desk.id
        assert intake.booking.clinician_id == second and intake.booking.ical_sequence == 1
        db.session.rollback()
    # The patient hears about the change, with the new clinician in the invite.
    (message,) = mailbox.messages
    assert message["To"] == "una@example.com"
    assert "Dr. Second" in message.get_body(("plain",)).get_content()

    actions = [event[0] for event in _events(app, intake_id=urgent)]
    assert actions == [
        AuditAction.INTAKE_VIEWED,
        AuditAction.STATUS_CHANGED,
        AuditAction.CONTACT_LOGGED,
        AuditAction.CLINICIAN_CHANGED,
        AuditAction.INTAKE_VIEWED,
    ]
    assert all(event[4] == "127.0.0.1" for event in _events(app))

    export = client.get(f"/staff/intakes/{urgent}/questionnaire-response.json")
    assert export.status_code == 200 and export.mimetype == "application/fhir+json"
    response = QuestionnaireResponse.model_validate(export.json)
    assert response.status == "completed"
    # The response says whose it is: a receiving system matches the contained Patient by name and birth date.
    (patient,) = [resource for resource in export.json["contained"] if resource["resourceType"] == "Patient"]
    assert export.json["subject"] == {"reference": f"#{patient['id']}"}
    with app.app_context():
        booking = db.session.get(Intake, urgent).booking
        assert patient["name"] == [{"text": booking.patient_name}]
        assert patient["birthDate"] == booking.patient_date_of_birth.isoformat()
        db.session.rollback()
    version = export.json["questionnaire"].split("|")[1]
    definition = client.get(f"/staff/questionnaires/{version}.json")
    questionnaire = Questionnaire.model_validate(definition.json)
    assert export.json["questionnaire"] == f"{questionnaire.url}|{questionnaire.version}"
    phq9_9 = _answer(export.json, "phq9.phq9_9")
    assert phq9_9[0]["valueCoding"]["display"] == "More than half the days"
    assert (AuditAction.INTAKE_EXPORTED, desk.id, urgent) in [event[:3] for event in _events(app)]

    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "intact" in result.output


def _answer(resource, link_id):
    for group in resource["item"]:
        for item in group.get("item", []):
            if item["linkId"] == link_id:
                return item["answer"]
    raise AssertionError(f"{link_id} not in the response")


def test_not_a_fit_needs_a_reason_and_a_refused_change_writes_nothing(app, client, create_staff, two_intakes):
    calm, _ = two_intakes
    desk = create_staff(Role.FRONT_DESK)
    sign_in(client, desk.email)
    response = client.post(f"/staff/intakes/{calm}/status", data={"status": "not_a_fit", "reason": ""})
    assert response.status_code == 422
    assert "Please say why this is not a fit now" in response.text
    bad_status = client.post(f"/staff/intakes/{calm}/status", data={"status": "approved"})
    assert bad_status.status_code == 422 and "Please choose a status from the list." in bad_status.text
    empty_note = client.post(f"/staff/intakes/{calm}/notes", data={"kind": "note", "body": "  "})
    assert empty_note.status_code == 422 and "Please write the note." in empty_note.text
    # Nothing changed; showing the record again (with every answer) is itself recorded as a view.
    assert [event[0] for event in _events(app)] == [AuditAction.INTAKE_VIEWED] * 3
    with app.app_context():
        assert db.session.get(Intake, calm).review_status is ReviewStatus.AWAITING_REVIEW
        assert db.session.scalar(select(db.func.count(IntakeNote.id))) == 0
        db.session.rollback()

    assert (
        client.post(
            f"/staff/intakes/{calm}/status", data={"status": "not_a_fit", "reason": "Wants in-person only"}
        ).status_code
        == 302
    )
    record = client.get(f"/staff/intakes/{calm}").text
    assert "Not a fit now: Wants in-person only" in record


def test_a_clinician_sees_only_their_own_patients_intakes(app, client, create_staff, two_intakes, offering, mailbox):
    calm, urgent = two_intakes
    other = seed_offering(app, "elsewhere")
    elsewhere = submit_intake(app, other, mailbox, 0, "Oscar Other", "oscar@example.com")

    def link_user():
        from kapclinic.accounts import services as accounts
        from kapclinic.accounts.models import StaffUser
        from kapclinic.core.timezones import now_utc

        user = accounts.create_user(
            "dr.frontdesk@clinic.example.org",
            "Dr. Frontdesk",
            Role.CLINICIAN,
            "correct horse battery",
            now_utc(),
            db.session.get(Clinician, offering.clinician_id),
        )
        return db.session.get(StaffUser, user.id).email

    sign_in(client, _in_app(app, link_user))
    page = client.get("/staff/intakes").text
    assert "Una Urgent" in page and "Cal Calm" in page and "Oscar Other" not in page
    assert client.get(f"/staff/intakes/{urgent}").status_code == 200
    for path in (
        f"/staff/intakes/{elsewhere}",
        f"/staff/intakes/{elsewhere}/print",
        f"/staff/intakes/{elsewhere}/questionnaire-response.json",
    ):
        assert client.get(path).status_code == 404, path
    assert client.post(f"/staff/intakes/{elsewhere}/notes", data={"kind": "note", "body": "x"}).status_code == 404
    # Changing a consultation is the front desk's job.
    assert client.post(f"/staff/intakes/{urgent}/cancel", data={"reason": "x"}).status_code == 403
    csv_rows = list(csv.reader(io.StringIO(client.get("/staff/intakes.csv").text)))
    assert {row[1] for row in csv_rows[1:]} == {"Cal Calm", "Una Urgent"}


def _search(client, **form):
    """Filter the queue as the form does: a POST answered with the address of the filtered view."""
    posted = client.post("/staff/intakes", data=form)
    assert posted.status_code == 303, posted.text[:300]
    return posted.headers["Location"]


def test_queue_filters_search_and_explain_bad_values(app, client, create_staff, two_intakes, offering, mailbox):
    desk = create_staff(Role.FRONT_DESK)
    sign_in(client, desk.email)
    urgent_only = client.get("/staff/intakes?flag=urgent").text
    assert "Una Urgent" in urgent_only and "Cal Calm" not in urgent_only
    accented = submit_intake(app, offering, mailbox, 2, "Émile Ünal", "emile@example.com")
    found = client.get(_search(client, q="émile ü")).text
    assert f"/staff/intakes/{accented}" in found and "Cal Calm" not in found
    by_email = client.get(_search(client, q="CAL@example.com")).text
    assert "Cal Calm" in by_email and "Una Urgent" not in by_email
    # Contact details are encrypted: the blind indexes find whole words and whole addresses only.
    assert "No intakes match these filters." in client.get(_search(client, q="cal@exam")).text
    wildcard = client.get(_search(client, q="%")).text
    assert "No intakes match these filters." in wildcard
    # A name never travels in a URL as typed: a search in the query string is ignored.
    in_url = client.get("/staff/intakes?q=Cal").text
    assert "Cal Calm" in in_url and "Una Urgent" in in_url
    bad = client.get("/staff/intakes?status=nope&from=2026-02-30&flag=x&clinician=abc&find=forged")
    assert bad.status_code == 400
    for message in (
        "Please choose a status from the list.",
        "Please give a date as YYYY-MM-DD.",
        "Please choose a flag from the list.",
        "Please choose a clinician from the list.",
        "This link&#39;s search no longer works. Please search again.",
    ):
        assert message in bad.text
    # The audit row records which filters were used but never the search text.
    details = [event[3] for event in _events(app) if event[0] is AuditAction.QUEUE_VIEWED]
    assert any("search" in detail for detail in details)
    assert not any("CAL" in detail or "example" in detail for detail in details)


def test_a_filtered_view_lives_in_its_address_and_the_record_leads_back_to_it(
    app, client, create_staff, two_intakes, offering, mailbox
):
    desk = create_staff(Role.FRONT_DESK)
    sign_in(client, desk.email)
    address = _search(client, status="awaiting_review", flag="urgent", q="una", **{"from": ""})
    assert address.startswith("/staff/intakes?") and "una" not in address.lower()
    assert "status=awaiting_review" in address and "flag=urgent" in address and "find=" in address
    queue = client.get(address).text  # a bookmark or a shared link opens the same view
    _, urgent = two_intakes
    assert f"/staff/intakes/{urgent}?" in queue and "Cal Calm" not in queue
    record_link = re.search(rf'href="(/staff/intakes/{urgent}\?back=[^"]+)"', queue).group(1).replace("&amp;", "&")
    record = client.get(record_link).text
    back = re.search(r'<a href="([^"]+)">Back to the queue</a>', record).group(1).replace("&amp;", "&")
    again = client.get(back).text
    assert "Una Urgent" in again and "Cal Calm" not in again and 'value="una"' in again
    # A change on the record keeps the way back.
    changed = client.post(f"/staff/intakes/{urgent}/notes", data={"kind": "note", "body": "Called.", "back": back})
    assert changed.status_code == 302 and "back=" in changed.headers["Location"]
    assert changed.headers["Location"].endswith("#notes")
    # The CSV holds the same rows, with flags in words.
    csv_link = re.search(r'href="(/staff/intakes\.csv\?[^"]+)"', again).group(1).replace("&amp;", "&")
    rows = list(csv.reader(io.StringIO(client.get(csv_link).text)))
    assert [row[1] for row in rows[1:]] == ["Una Urgent"]
    assert rows[1][7].startswith("Urgent: ") and "level:" not in rows[1][7]


@pytest.mark.parametrize(
    "back",
    [
        "https://evil.example/staff/intakes",
        "//evil.example/staff/intakes",
        "/\\evil.example/staff/intakes",
        "/staff/intakes/../../login",
        "javascript:alert(1)",
        "/staff/intakes#x",
        "/staff/intakes?" + "a" * 3000,
    ],
)
def test_back_from_a_record_never_leaves_the_lists(app, client, create_staff, two_intakes, back):
    desk = create_staff(Role.FRONT_DESK)
    sign_in(client, desk.email)
    record = client.get(f"/staff/intakes/{two_intakes[0]}", query_string={"back": back}).text
    assert '<a href="/staff/intakes">Back to the queue</a>' in record
    moved = client.post(f"/staff/intakes/{two_intakes[0]}/notes", data={"kind": "note", "body": "x", "back": back})
    assert moved.headers["Location"] == f"/staff/intakes/{two_intakes[0]}#notes"


def test_csv_export_neutralises_formulas(app, client, create_staff, offering, mailbox):
    intake_id = submit_intake(app, offering, mailbox, 0, '=HYPERLINK("http://evil")', "formula@example.com")
    desk = create_staff(Role.FRONT_DESK)
    sign_in(client, desk.email)
    response = client.get("/staff/intakes.csv")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[1][1] == '\'=HYPERLINK("http://evil")'
    # Each exported patient's trail shows the export.
    assert (AuditAction.QUEUE_EXPORTED, desk.id, intake_id) in [event[:3] for event in _events(app)]


def test_front_desk_reschedules_and_cancels_for_the_patient_with_the_same_emails(
    app, client, create_staff, offering, mailbox
):
    intake_id = submit_intake(app, offering, mailbox, 0, "Rita Move", "rita@example.com")
    desk = create_staff(Role.FRONT_DESK)
    sign_in(client, desk.email)
    page = client.get(f"/staff/intakes/{intake_id}/reschedule")
    starts = re.findall(r'<option value="([^"]+)"', page.text)
    assert starts
    mailbox.clear()
    assert client.post(f"/staff/intakes/{intake_id}/reschedule", data={"start": starts[-1]}).status_code == 302
    (moved,) = mailbox.messages
    assert moved["To"] == "rita@example.com" and "text/calendar" in moved.as_string()
    bad = client.post(f"/staff/intakes/{intake_id}/reschedule", data={"start": "not a time"})
    assert bad.status_code == 422 and "Please choose one of the times listed." in bad.text

    mailbox.clear()
    assert (
        client.post(f"/staff/intakes/{intake_id}/cancel", data={"reason": "Patient phoned to cancel"}).status_code
        == 302
    )
    (cancelled,) = mailbox.messages
    assert "METHOD:CANCEL" in cancelled.as_string()
    with app.app_context():
        booking = db.session.get(Intake, intake_id).booking
        assert booking.status is BookingStatus.CANCELLED and booking.cancelled_by == "front_desk"
        db.session.rollback()
    again = client.post(f"/staff/intakes/{intake_id}/cancel", data={"reason": "twice"})
    assert again.status_code == 409 and "no longer booked" in again.text
    actions = [event[0] for event in _events(app, intake_id=intake_id)]
    assert AuditAction.RESCHEDULED in actions and AuditAction.CANCELLED in actions


def test_urgent_alert_email_links_to_the_record_and_carries_no_answers(app, offering, mailbox):
    intake_id = submit_intake(app, offering, mailbox, 0, "Una Urgent", "una@example.com", phq9={"phq9_9": "3"})
    (alert,) = [message for message in mailbox.messages if message["To"] == app.config["FRONT_DESK_EMAIL"]]
    body = alert.get_body(("plain",)).get_content()
    assert f"/staff/intakes/{intake_id}" in body
    assert "Una" not in alert.as_string() and "PHQ" not in body and "self-harm" not in body


def test_admins_read_the_trail_for_a_patient_and_for_a_staff_member(app, client, create_staff, two_intakes):
    calm, urgent = two_intakes
    desk = create_staff(Role.FRONT_DESK, name="Frankie Desk")
    admin = create_staff(Role.ADMIN, name="Ada Admin")
    desk_client = app.test_client()
    sign_in(desk_client, desk.email)
    desk_client.get(f"/staff/intakes/{urgent}")
    sign_in(client, admin.email)
    patient_trail = client.get(f"/staff/audit/intakes/{urgent}")
    assert patient_trail.status_code == 200
    assert "Frankie Desk" in patient_trail.text and "Intake viewed" in patient_trail.text, patient_trail.text
    assert f"/staff/audit/users/{desk.id}" in client.get("/staff/admin/users").text
    staff_trail = client.get(f"/staff/audit/users/{desk.id}")
    assert staff_trail.status_code == 200 and f"Intake {urgent}" in staff_trail.text
    assert client.get("/staff/audit/users/99999").status_code == 404
    # Reading the trail is itself recorded.
    assert [event[0] for event in _events(app, actor_id=admin.id)] == [AuditAction.TRAIL_READ, AuditAction.TRAIL_READ]
    sign_in(desk_client, desk.email)
    assert desk_client.get(f"/staff/audit/intakes/{urgent}").status_code == 403


def test_the_audit_trail_refuses_changes_and_verify_finds_tampering(app, client, create_staff, two_intakes):
    _, urgent = two_intakes
    desk = create_staff(Role.FRONT_DESK)
    sign_in(client, desk.email)
    for _ in range(3):
        client.get(f"/staff/intakes/{urgent}")
    runner = app.test_cli_runner()
    assert "intact: 3 rows" in runner.invoke(args=["audit", "verify"]).output

    with app.app_context():
        with pytest.raises(Exception, match="append-only"):
            db.session.execute(text("UPDATE audit_events SET detail = 'edited' WHERE id = 2"))
        db.session.rollback()
        with pytest.raises(Exception, match="append-only"):
            db.session.execute(text("DELETE FROM audit_events WHERE id = 2"))
        db.session.rollback()

        # Someone with the owner's rights goes around the triggers: the chain shows it.
        postgres = db.engine.dialect.name == "postgresql"
        db.session.execute(
            text("ALTER TABLE audit_events DISABLE TRIGGER USER" if postgres else "DROP TRIGGER audit_events_no_update")
        )
        db.session.execute(text("UPDATE audit_events SET remote_addr = '10.0.0.9' WHERE id = 2"))
        db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "BROKEN at row 2" in result.output


def test_times_in_the_queue_follow_the_clinic_zone_across_a_dst_change(app, client, create_staff, in_app):
    from datetime import UTC, datetime, time, timedelta

    from kapclinic.core.timezones import get_zone, now_utc
    from kapclinic.intake import services as intake_services
    from tests.integration.test_time_zones_end_to_end import next_offset_change

    app.config["CLINIC_TIMEZONE"] = "America/New_York"
    zone = get_zone("America/New_York")
    change = next_offset_change(zone.key, now_utc())
    offering = seed_offering(app, "dst", zone=zone.key)

    def create():
        consultation_type = db.session.scalar(select(ConsultationType).where(ConsultationType.slug == "dst"))
        ids = []
        for number, day in enumerate((change - timedelta(days=2), change + timedelta(days=2))):
            start = datetime.combine(day, time(10), zone).astimezone(UTC)
            booking = Booking(
                public_id=f"00000000-0000-0000-0000-00000000000{number}",
                clinician_id=offering.clinician_id,
                consultation_type=consultation_type,
                start_dt=start,
                end_dt=start + timedelta(hours=1),
                blocked_start_dt=start,
                blocked_end_dt=start + timedelta(hours=1),
                patient=new_patient(
                    f"Dee {number}", f"dee{number}@example.com", "+12125550100", datetime(1990, 1, 1).date(), now_utc()
                ),
                patient_timezone="UTC",
                ical_uid=f"dst-{number}@test",
                manage_token_hash=f"{number:064d}",
            )
            db.session.add(booking)
            intake_services.create_for_booking(booking, now_utc())
            ids.append(booking)
        db.session.flush()
        return [(start_dt.astimezone(zone).tzname()) for start_dt in (b.start_dt for b in ids)]

    names = in_app(create)
    assert names[0] != names[1]
    desk = create_staff(Role.FRONT_DESK)
    sign_in(client, desk.email)
    page = client.get(f"/staff/intakes?from={change - timedelta(days=3)}").text
    assert f"10:00 AM {names[0]}" in page and f"10:00 AM {names[1]}" in page
    assert "Times in Eastern Time — New York" in page


def test_an_urgent_answer_stays_open_until_someone_records_the_follow_up(app, client, create_staff, offering, mailbox):
    """Even on an intake the patient never finishes; a new urgent answer after the follow-up opens it again."""
    patient = app.test_client()
    intake_url = book_for_intake(patient, offering, mailbox, email="dana@example.com")
    complete_steps(patient, intake_url, ADULT_STEPS[:6])
    mailbox.clear()
    assert post_step(patient, intake_url, "phq9", phq9_9="1").status_code == 302
    assert len([m for m in mailbox.messages if m["To"] == app.config["FRONT_DESK_EMAIL"]]) == 1
    with app.app_context():
        intake_id = db.session.scalar(select(Intake.id))
        db.session.rollback()

    desk = create_staff(Role.FRONT_DESK, name="Frankie Desk")
    sign_in(client, desk.email)
    assert re.search(r"<strong>1</strong> urgent flags open", client.get("/staff/intakes").text)
    empty = client.post(f"/staff/intakes/{intake_id}/urgent", data={"action_taken": " "})
    assert empty.status_code == 422 and "Please say what was done" in empty.text
    done = client.post(
        f"/staff/intakes/{intake_id}/urgent", data={"action_taken": "Called Dana; safety plan in place."}
    )
    assert done.status_code == 302
    page = client.get("/staff/intakes").text
    assert re.search(r"<strong>0</strong> urgent flags open", page)
    record = client.get(f"/staff/intakes/{intake_id}").text
    assert (
        "Followed up by Frankie Desk" in record
        and "Urgent answer followed up: Called Dana; safety plan in place." in record
    )
    assert "Thoughts of death or self-harm on PHQ-9 item 9" in record, "the flag itself stays on the record"

    mailbox.clear()
    assert post_step(patient, intake_url, "asq", asq_1="true", asq_5="false").status_code == 302
    assert len([m for m in mailbox.messages if m["To"] == app.config["FRONT_DESK_EMAIL"]]) == 1
    assert re.search(r"<strong>1</strong> urgent flags open", client.get("/staff/intakes").text)
    actions = [event[0] for event in _events(app, intake_id=intake_id)]
    assert AuditAction.URGENT_ACKNOWLEDGED in actions


def test_the_review_cannot_be_closed_while_an_urgent_answer_is_open(app, client, create_staff, two_intakes):
    _, urgent = two_intakes
    desk = create_staff(Role.FRONT_DESK)
    sign_in(client, desk.email)
    refused = client.post(f"/staff/intakes/{urgent}/status", data={"status": "ready"})
    assert refused.status_code == 422 and "Record what was done about the urgent answer first" in refused.text
    assert client.post(f"/staff/intakes/{urgent}/status", data={"status": "needs_follow_up"}).status_code == 302
    client.post(f"/staff/intakes/{urgent}/urgent", data={"action_taken": "Clinician called the patient."})
    assert client.post(f"/staff/intakes/{urgent}/status", data={"status": "ready"}).status_code == 302


def test_the_front_desk_can_reassign_inside_the_patients_notice_period(app, client, create_staff, offering, mailbox):
    """Patients need a day's notice to book; a clinician off sick tomorrow still gets covered."""
    intake_id = submit_intake(app, offering, mailbox, 0, "Nia Notice", "nia@example.com")
    second = _second_clinician(app, offering)

    def demand_a_weeks_notice():
        consultation_type = db.session.scalar(select(ConsultationType).where(ConsultationType.slug == offering.slug))
        consultation_type.min_notice_minutes = 7 * 24 * 60

    _in_app(app, demand_a_weeks_notice)
    desk = create_staff(Role.FRONT_DESK)
    sign_in(client, desk.email)
    mailbox.clear()
    assert client.post(f"/staff/intakes/{intake_id}/clinician", data={"clinician_id": str(second)}).status_code == 302
    (message,) = mailbox.messages
    assert message["Subject"].endswith("is with another clinician")
    assert "at the same time, with another clinician" in message.get_body(("plain",)).get_content()
    assert "Dr. Second" in message.get_body(("plain",)).get_content()


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("urgent", {"Una Urgent"}),
        ("clinician-review", {"Rae Review", "Tia Teen"}),
        ("under_18", {"Tia Teen"}),
        ("none", {"Nia None"}),
    ],
)
def test_front_desk_filters_the_queue_by_flag_from_the_markers_alone(
    app, offering, mailbox, create_staff, flag, expected
):
    """Each filter the queue offers, read from the clear markers alone (Ivy's flag is for information only)."""
    fifteen = born_years_ago(15)
    submit_intake(app, offering, mailbox, 0, "Nia None", "nia@example.com")
    submit_intake(app, offering, mailbox, 2, "Una Urgent", "una@example.com", phq9={"phq9_9": "1"})
    submit_intake(app, offering, mailbox, 4, "Rae Review", "rae@example.com", psychiatric={"psychosis": "yes"})
    submit_intake(app, offering, mailbox, 6, "Ivy Info", "ivy@example.com", psychiatric={"dissociation": "yes"})
    teen = app.test_client()
    teen_url = book_for_intake(
        teen, offering, mailbox, slot=8, name="Tia Teen", email="tia@example.com", date_of_birth=fifteen
    )
    complete_steps(teen, teen_url, ["about"], about={"date_of_birth": fifteen})
    desk = app.test_client()
    sign_in(desk, create_staff(Role.FRONT_DESK).email)
    page = desk.get(f"/staff/intakes?flag={flag}&from=").text
    names = {name for name in ("Nia None", "Una Urgent", "Rae Review", "Ivy Info", "Tia Teen") if name in page}
    assert names == expected


@pytest.mark.postgres
def test_a_patient_cancelling_while_the_desk_reassigns_is_not_overwritten(make_app, postgres_url, mailbox):
    """The desk's change waits for the patient's and then sees the booking cancelled (PostgreSQL row locks)."""
    import threading
    import time as clock

    from sqlalchemy import create_engine

    app = make_app(postgres_url)
    offering = seed_offering(app, "race")
    intake_id = submit_intake(app, offering, mailbox, 0, "Cara Cancel", "cara@example.com")
    second = _second_clinician(app, offering)

    def add_desk_user():
        from kapclinic.accounts import services as accounts
        from kapclinic.core.timezones import now_utc

        return accounts.create_user(
            "race.desk@clinic.example.org", "Rae Desk", Role.FRONT_DESK, STAFF_PASSWORD, now_utc()
        ).email

    client = app.test_client()
    sign_in(client, _in_app(app, add_desk_user))

    engine = create_engine(postgres_url)
    patient_side = engine.connect()
    transaction = patient_side.begin()
    booking_id = patient_side.execute(text("SELECT booking_id FROM intakes WHERE id = :id"), {"id": intake_id}).scalar()
    patient_side.execute(text("SELECT id FROM bookings WHERE id = :id FOR UPDATE"), {"id": booking_id})
    patient_side.execute(
        text("UPDATE bookings SET status = 'cancelled', ical_sequence = ical_sequence + 1 WHERE id = :id"),
        {"id": booking_id},
    )
    results = {}
    desk_request = threading.Thread(
        target=lambda: results.update(
            response=client.post(f"/staff/intakes/{intake_id}/clinician", data={"clinician_id": str(second)})
        )
    )
    mailbox.clear()
    desk_request.start()
    clock.sleep(0.5)
    assert desk_request.is_alive(), "the desk's change must wait for the patient's"
    transaction.commit()
    patient_side.close()
    engine.dispose()
    desk_request.join(timeout=30)
    response = results["response"]
    assert response.status_code == 409 and "no longer booked" in response.text
    with app.app_context():
        booking = db.session.get(Booking, booking_id)
        assert booking.status is BookingStatus.CANCELLED and booking.clinician_id == offering.clinician_id
        assert booking.ical_sequence == 1
        db.session.rollback()
    assert mailbox.messages == []
