"""A treatment course from a ready intake: proposed whole, gated, booked whole or not at all, moved by its rules."""

import re
import threading
import uuid
from datetime import UTC, date, datetime, time, timedelta
from html import unescape

import pytest
from flask import got_request_exception
from icalendar import Calendar
from sqlalchemy import func, select

from kapclinic.accounts.models import Role
from kapclinic.audit.models import AuditAction, AuditEvent
from kapclinic.core.timezones import instant_param, now_utc
from kapclinic.courses.models import Course
from kapclinic.extensions import db
from kapclinic.scheduling.models import Booking, BookingStatus
from tests.helpers import TREATMENT_NOTE, patient_json, seed_course_template, seed_offering, sign_in
from tests.intake_answers import submit_intake

pytestmark = pytest.mark.both_databases


@pytest.fixture
def offering(app):
    return seed_offering(app, "first-consultation")


@pytest.fixture
def course_template(app, offering):
    return seed_course_template(app, offering.clinician_id)


@pytest.fixture
def desk(app, create_staff):
    client = app.test_client()
    user = create_staff(Role.FRONT_DESK)
    sign_in(client, user.email)
    return client


@pytest.fixture
def prescriber(app, create_staff_for_clinician, offering):
    client = app.test_client()
    sign_in(client, create_staff_for_clinician(offering.clinician_id).email)
    return client


@pytest.fixture
def ready_intake(app, offering, mailbox, desk):
    intake_id = submit_intake(app, offering, mailbox, 0, "Robin Course", "robin@example.com")
    assert desk.post(f"/staff/intakes/{intake_id}/status", data={"status": "ready"}).status_code in (302, 303)
    return intake_id


def _first_day():
    return (now_utc() + timedelta(days=10)).date()


def _plan_path(intake_id, template, first_day=None, first_time="10:00", **chosen):
    day = (first_day or _first_day()).isoformat()
    query = "&".join(f"{name}={value}" for name, value in chosen.items())
    return (
        f"/staff/intakes/{intake_id}/course?template={template.version_id}&first_day={day}&first_time={first_time}"
        + (f"&{query}" if query else "")
    )


def _hidden(page, form_action_fragment):
    """The hidden fields of the POST form whose action contains `form_action_fragment`."""
    form = re.search(rf'<form method="post" action="[^"]*{form_action_fragment}"[^>]*>(.*?)</form>', page, re.S).group(
        1
    )
    return {name: unescape(value) for name, value in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form)}


def _someone_else_books(client, offering, start, email):
    """Another patient books the course's clinician at `start` (through the public API)."""
    body = patient_json(offering, instant_param(start), email=email, tz="UTC", clinician_id=offering.clinician_id)
    return client.post("/api/v1/bookings", json={**body, "date_of_birth": "1980-01-01"})


def _record_gates(intake_id, prescriber, desk):
    assert (
        prescriber.post(
            f"/staff/intakes/{intake_id}/gates", data={"kind": "medical_clearance", "outcome": "received"}
        ).status_code
        == 303
    )
    assert (
        desk.post(
            f"/staff/intakes/{intake_id}/gates", data={"kind": "treatment_consent", "outcome": "signed"}
        ).status_code
        == 303
    )


def _sessions(app):
    with app.app_context():
        rows = db.session.execute(
            select(Booking.course_step, Booking.start_dt, Booking.status, Booking.ical_uid)
            .where(Booking.course_id.is_not(None))
            .order_by(Booking.course_step)
        ).all()
        db.session.rollback()
    return rows


def test_a_course_is_proposed_whole_gated_then_booked_whole_with_an_invite_per_session(
    app, desk, prescriber, ready_intake, course_template, mailbox
):
    plan = desk.get(_plan_path(ready_intake, course_template))
    assert plan.status_code == 200
    assert plan.text.count('<li class="course-session') == 8
    # Spacing as the template says, at 10:00 (the clinician works 08:00-18:00 UTC every day).
    assert "Book all 8 sessions" not in plan.text  # gates first
    assert "Medical clearance from the prescriber" in plan.text
    # The desk may not record the prescriber's clearance.
    refused = desk.post(
        f"/staff/intakes/{ready_intake}/gates", data={"kind": "medical_clearance", "outcome": "received"}
    )
    assert refused.status_code == 303
    assert "Book all" not in desk.get(_plan_path(ready_intake, course_template)).text
    _record_gates(ready_intake, prescriber, desk)
    plan = desk.get(_plan_path(ready_intake, course_template)).text
    assert "Book all 8 sessions" in plan
    fields = _hidden(plan, "/course")
    booked = desk.post(f"/staff/intakes/{ready_intake}/course", data=fields)
    assert booked.status_code == 302, booked.text[:500]
    sessions = _sessions(app)
    assert [row.course_step for row in sessions] == list(range(8))
    days = [row.start_dt.date() for row in sessions]
    first = _first_day()
    assert days == [first + timedelta(days=offset) for offset in (0, 1, 2, 3, 8, 9, 14, 15)]
    assert {row.start_dt.time() for row in sessions} == {time(10)}
    assert len({row.ical_uid for row in sessions}) == 8
    invites = [
        message for message in mailbox.messages if message["To"] == "robin@example.com" and "of 8" in message["Subject"]
    ]
    assert len(invites) == 8
    uids = set()
    for message in invites:
        attachment = next(part for part in message.walk() if part.get_content_type() == "text/calendar")
        event = Calendar.from_ical(attachment.get_content()).walk("VEVENT")[0]
        uids.add(str(event["UID"]))
        summary = str(event["SUMMARY"]).lower()
        assert "ketamine" not in summary and "dosing" not in summary
    assert uids == {row.ical_uid for row in sessions}
    # What to know before a treatment session reaches the patient with it, and only with it.
    noted = [message["Subject"] for message in invites if TREATMENT_NOTE in message.get_body(("plain",)).get_content()]
    assert sorted(re.search(r"Session (\d) of 8", subject).group(1) for subject in noted) == ["3", "5", "7"]
    # The same form posted again (a double click) books nothing more.
    assert desk.post(f"/staff/intakes/{ready_intake}/course", data=fields).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count(Course.id))) == 1
        assert (
            db.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == AuditAction.COURSE_OPENED))
            == 1
        )
        db.session.rollback()


def test_a_taken_time_is_reported_on_its_own_session_with_alternatives_that_keep_the_rules(
    app, client, desk, prescriber, ready_intake, course_template, offering
):
    _record_gates(ready_intake, prescriber, desk)
    first = _first_day()
    # Someone else books the clinician at 10:00 on the day the first treatment session would be.
    taken = datetime.combine(first + timedelta(days=2), time(10), UTC)
    other = _someone_else_books(client, offering, taken, "other.person@example.com")
    assert other.status_code == 201, other.json
    plan = desk.get(_plan_path(ready_intake, course_template)).text
    flagged = re.findall(r'<li class="course-session has-error" id="session-(\d+)">', plan)
    assert flagged == ["3"]  # the first treatment session
    assert "The clinician has another booking at or near this time." in plan
    assert len(re.findall(r'type="radio" name="s2" value=', plan)) >= 3
    assert "Book all" not in plan
    # Choosing the first alternative and checking again: every session works.
    chosen = re.search(r'type="radio" name="s2" value="([^"]+)"', plan).group(1)
    starts = dict(re.findall(r'type="hidden" name="(s\d)" value="([^"]+)"', plan))
    again = desk.get(_plan_path(ready_intake, course_template, **{**starts, "s2": chosen})).text
    assert "Book all 8 sessions" in again


def test_a_commit_whose_time_was_taken_meanwhile_names_that_session_and_books_nothing(
    app, client, desk, prescriber, ready_intake, course_template, offering
):
    _record_gates(ready_intake, prescriber, desk)
    fields = _hidden(desk.get(_plan_path(ready_intake, course_template)).text, "/course")
    integration = datetime.combine(_first_day() + timedelta(days=9), time(10), UTC)
    other = _someone_else_books(client, offering, integration, "quick@example.com")
    assert other.status_code == 201
    refused = desk.post(f"/staff/intakes/{ready_intake}/course", data=fields)
    assert refused.status_code == 409
    assert "Nothing was booked: session 6 (Integration session" in unescape(refused.text)
    assert _sessions(app) == []


def test_dosing_needs_the_current_consent_and_a_guardian_for_an_adolescent(
    app, desk, prescriber, ready_intake, course_template
):
    intake_id = ready_intake
    with app.app_context():
        patient = db.session.scalar(select(Booking)).patient
        sixteen = date.today().replace(year=date.today().year - 16, day=1)
        patient.set_contact(patient.name, patient.email, patient.phone, sixteen)
        db.session.commit()
    _record_gates(intake_id, prescriber, desk)
    plan = desk.get(_plan_path(intake_id, course_template)).text
    assert "Treatment consent signed by a parent or guardian" in plan and "Book all" not in plan
    fields = _hidden(plan, "/course") if "Book all" in plan else None
    assert fields is None
    assert (
        desk.post(
            f"/staff/intakes/{intake_id}/gates", data={"kind": "guardian_consent", "outcome": "signed"}
        ).status_code
        == 303
    )
    assert "Book all 8 sessions" in desk.get(_plan_path(intake_id, course_template)).text
    # A new consent version closes the gate again.
    app.config["TREATMENT_CONSENT_VERSION"] = "2027-01"
    assert "Book all" not in desk.get(_plan_path(intake_id, course_template)).text


@pytest.fixture
def booked_course(app, desk, prescriber, ready_intake, course_template, mailbox):
    _record_gates(ready_intake, prescriber, desk)
    fields = _hidden(desk.get(_plan_path(ready_intake, course_template)).text, "/course")
    assert desk.post(f"/staff/intakes/{ready_intake}/course", data=fields).status_code == 302
    message = next(m for m in mailbox.messages if m["To"] == "robin@example.com" and "Session 4 of 8" in m["Subject"])
    token = re.search(r"https://clinic\.example\.org/manage/(\S+)", message.get_body(("plain",)).get_content()).group(1)
    with app.app_context():
        course_id = db.session.scalar(select(Course.public_id))
        db.session.rollback()
    return {"manage": f"/manage/{token}", "course_id": course_id}


def test_the_patient_sees_every_session_and_moves_an_integration_session_within_the_rules(
    app, client, booked_course, mailbox
):
    page = client.get(booked_course["manage"]).text
    assert page.count("Move session") == 5  # the 2 preparation and 3 integration sessions; not the treatment ones
    assert "Cancel</a>" not in page
    assert page.count("To change it, please call us") == 3
    move = client.get(f"{booked_course['manage']}/sessions/3")  # session 4, the first integration
    options = re.findall(r'name="start" value="([^"]+)"', move.text)
    assert options
    first = _first_day()
    # Integration is 1-3 days after its treatment session (day 2): days 3, 4 or 5 only.
    allowed = {first + timedelta(days=offset) for offset in (3, 4, 5)}
    # Every day the rule allows is offered, and nothing is chosen for the patient.
    assert {datetime.fromisoformat(option.replace("Z", "+00:00")).date() for option in options} == allowed
    assert "checked" not in move.text.split("<fieldset>")[1].split("</fieldset>")[0]
    assert client.post(f"{booked_course['manage']}/sessions/3", data={}).status_code == 400
    chosen = next(
        option
        for option in options
        if datetime.fromisoformat(option.replace("Z", "+00:00")).date() == first + timedelta(days=4)
    )
    mailbox.clear()
    moved = client.post(f"{booked_course['manage']}/sessions/3", data={"start": chosen})
    assert moved.status_code == 303, moved.text[:300]
    sessions = _sessions(app)
    assert instant_param(sessions[3].start_dt) == chosen
    (update,) = [m for m in mailbox.messages if m["To"] == "robin@example.com"]
    attachment = next(part for part in update.walk() if part.get_content_type() == "text/calendar")
    event = Calendar.from_ical(attachment.get_content()).walk("VEVENT")[0]
    assert str(event["UID"]) == sessions[3].ical_uid and int(event["SEQUENCE"]) == 1
    # Outside the rules (a week later) is refused by the server, whatever the page offered.
    too_late = instant_param(datetime.combine(first + timedelta(days=9), time(15), UTC))
    refused = client.post(f"{booked_course['manage']}/sessions/3", data={"start": too_late})
    assert refused.status_code == 409
    assert _sessions(app)[3].start_dt == sessions[3].start_dt


def test_the_patient_cannot_move_a_treatment_session_and_staff_override_only_with_a_reason(
    app, client, desk, booked_course
):
    treatment = client.post(f"{booked_course['manage']}/sessions/2", data={"start": instant_param(now_utc())})
    assert treatment.status_code == 409 and "please call us" in treatment.text
    first = _first_day()
    # Staff move the second treatment session to 3 days after the first: against the 6-day rule.
    against = {"other_day": (first + timedelta(days=5)).isoformat(), "other_time": "10:00"}
    path = f"/staff/courses/{booked_course['course_id']}/sessions/4"
    refused = desk.post(path, data=against)
    assert refused.status_code == 409 and "at least 6 days after" in unescape(refused.text)
    before = _sessions(app)[4].start_dt
    assert before.date() == first + timedelta(days=8)
    allowed = desk.post(path, data={**against, "reason": "Patient travelling; prescriber agreed"})
    assert allowed.status_code == 303
    assert _sessions(app)[4].start_dt.date() == first + timedelta(days=5)
    with app.app_context():
        (detail,) = db.session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == AuditAction.COURSE_RULE_OVERRIDDEN)
        ).all()
        db.session.rollback()
    assert "too_soon" in detail and "Patient travelling" in detail


def test_cancelling_a_course_cancels_every_future_session_with_a_cancel_for_each(app, desk, booked_course, mailbox):
    mailbox.clear()
    path = f"/staff/courses/{booked_course['course_id']}/cancel"
    assert desk.post(path, data={}).status_code == 303  # without the box ticked: nothing
    assert {row.status for row in _sessions(app)} == {BookingStatus.CONFIRMED}
    assert desk.post(path, data={"confirm": "yes"}).status_code == 303
    assert {row.status for row in _sessions(app)} == {BookingStatus.CANCELLED}
    cancelled_uids = {
        str(Calendar.from_ical(part.get_content()).walk("VEVENT")[0]["UID"])
        for message in mailbox.messages
        for part in message.walk()
        if part.get_content_type() == "text/calendar" and "METHOD:CANCEL" in str(part.get_content())
    }
    assert cancelled_uids == {row.ical_uid for row in _sessions(app)}


def _race(app, clients, path, bodies):
    """POST each body from its own signed-in client at the same moment; return the statuses (a 5xx fails)."""
    barrier = threading.Barrier(len(bodies))
    statuses, crashes, lock = [], [], threading.Lock()

    def record(sender, exception, **extra):
        crashes.append(repr(exception))

    got_request_exception.connect(record, app)

    def attempt(client, body):
        barrier.wait()
        status = client.post(path, data=body).status_code
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=attempt, args=pair) for pair in zip(clients, bodies, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    got_request_exception.disconnect(record, app)
    assert not crashes, crashes
    return sorted(statuses)


RACERS = 20


@pytest.mark.parametrize("same_key", [False, True], ids=["twenty-keys", "one-key"])
def test_twenty_racing_commits_make_exactly_one_course_and_no_partial_bookings(
    app, create_staff, prescriber, desk, ready_intake, course_template, same_key
):
    _record_gates(ready_intake, prescriber, desk)
    fields = _hidden(desk.get(_plan_path(ready_intake, course_template)).text, "/course")
    clients = []
    for _ in range(RACERS):
        client = app.test_client()
        sign_in(client, create_staff(Role.FRONT_DESK).email)
        clients.append(client)
    bodies = [fields if same_key else {**fields, "idempotency_key": uuid.uuid4().hex} for _ in range(RACERS)]
    statuses = _race(app, clients, f"/staff/intakes/{ready_intake}/course", bodies)
    assert statuses == ([302] * RACERS if same_key else [302] + [409] * (RACERS - 1))
    with app.app_context():
        assert db.session.scalar(select(func.count(Course.id))) == 1
        db.session.rollback()
    assert [row.course_step for row in _sessions(app)] == list(range(8))


def _next_clock_change(zone, after, forward):
    """The local date of `zone`'s next spring-forward (forward=True) or fall-back after `after`."""
    day = after
    while True:
        before = datetime.combine(day, time(0), zone).utcoffset()
        later = datetime.combine(day + timedelta(days=1), time(0), zone).utcoffset()
        if later != before and (later > before) == forward:
            return day
        day += timedelta(days=1)


@pytest.mark.parametrize("forward", [True, False], ids=["spring-forward", "fall-back"])
def test_a_course_keeps_its_afternoon_wall_time_across_a_clock_change(
    app, desk, create_staff_for_clinician, mailbox, forward
):
    """New York, 14:00: sessions before and after the change stay at 14:00 local, their UTC times an hour apart."""
    from zoneinfo import ZoneInfo

    new_york = ZoneInfo("America/New_York")
    offering = seed_offering(app, "dst-course", zone="America/New_York")
    template = seed_course_template(app, offering.clinician_id)
    prescriber = app.test_client()
    sign_in(prescriber, create_staff_for_clinician(offering.clinician_id).email)
    intake_id = submit_intake(app, offering, mailbox, 0, "Dana Clock", "dana@example.com")
    assert desk.post(f"/staff/intakes/{intake_id}/status", data={"status": "ready"}).status_code in (302, 303)
    _record_gates(intake_id, prescriber, desk)
    change = _next_clock_change(new_york, (now_utc() + timedelta(days=10)).date(), forward)
    first_day = change - timedelta(days=5)  # sessions on days 0-3, 8-9 and 14-15: the change falls between
    plan = desk.get(_plan_path(intake_id, template, first_day=first_day, first_time="14:00")).text
    assert "Book all 8 sessions" in plan, re.findall(r'<p class="error">([^<]+)', plan)
    assert desk.post(f"/staff/intakes/{intake_id}/course", data=_hidden(plan, "/course")).status_code == 302
    sessions = _sessions(app)
    assert {row.start_dt.astimezone(new_york).time() for row in sessions} == {time(14)}
    offsets = {row.start_dt.astimezone(new_york).utcoffset() for row in sessions}
    assert len(offsets) == 2
    assert sessions[0].start_dt.astimezone(new_york).date() < change < sessions[-1].start_dt.astimezone(new_york).date()


def test_course_sessions_are_in_the_clinicians_feed(app, booked_course, prescriber, offering):
    from tests.helpers import new_feed_path

    feed = Calendar.from_ical(prescriber.get(new_feed_path(prescriber, offering.clinician_id)).data)
    uids = {str(event["UID"]) for event in feed.walk("VEVENT")}
    assert {row.ical_uid for row in _sessions(app)} <= uids


def test_splitting_keeps_a_course_with_one_person_and_merging_brings_it_along(app, desk, booked_course):
    with app.app_context():
        patient_id = db.session.scalar(select(Course)).patient_id
        patient = db.session.scalar(select(Booking).where(Booking.patient_id == patient_id)).patient
        public_id = patient.public_id
        sessions = db.session.scalars(select(Booking.public_id).where(Booking.course_id.is_not(None))).all()
        db.session.rollback()
    details = {
        "name": "Sam Other",
        "email": "sam.other@example.com",
        "phone": "+1 212 555 0166",
        "date_of_birth": "1991-01-01",
    }
    partly = desk.post(f"/staff/patients/{public_id}/split", data={**details, "bookings": sessions[:3]})
    assert partly.status_code == 422 and "choose all of its sessions or none" in unescape(partly.text)
    whole = desk.post(f"/staff/patients/{public_id}/split", data={**details, "bookings": sessions})
    assert whole.status_code == 302
    with app.app_context():
        course = db.session.scalar(select(Course))
        assert {booking.patient_id for booking in course.sessions} == {course.patient_id} != {patient_id}
        other_public_id = db.session.get(type(patient), course.patient_id).public_id
        db.session.rollback()
    assert desk.post(f"/staff/patients/{public_id}/merge/{other_public_id}").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Course.patient_id)) == patient_id
        db.session.rollback()


def test_every_session_gets_its_reminder_as_a_session(app, booked_course, mailbox):
    from kapclinic.notifications.services import deliver_due
    from kapclinic.reminders import services as reminders

    sessions = _sessions(app)
    mailbox.clear()
    for session in sessions:
        with app.app_context():
            reminders.queue_due(session.start_dt - timedelta(hours=20), limit=100)
            db.session.commit()
            deliver_due(limit=100)
    subjects = [message["Subject"] for message in mailbox.messages if message["To"] == "robin@example.com"]
    assert len(subjects) == len(sessions)
    assert all(subject.startswith("Reminder: your session with") for subject in subjects)


@pytest.mark.parametrize(
    "back",
    ["https://evil.example/steal", "javascript:alert(1)", "//evil.example/x", "/staff/intakes/1/course?x=1//evil"],
)
def test_the_gate_form_returns_only_to_its_own_plan_page(app, desk, ready_intake, back):
    own = f"/staff/intakes/{ready_intake}/course"
    answer = desk.post(
        f"/staff/intakes/{ready_intake}/gates", data={"kind": "treatment_consent", "outcome": "signed", "back": back}
    )
    assert answer.status_code == 303 and answer.headers["Location"] == own
    kept = desk.post(
        f"/staff/intakes/{ready_intake}/gates",
        data={"kind": "treatment_consent", "outcome": "signed", "back": f"{own}?template=1"},
    )
    assert kept.headers["Location"] == f"{own}?template=1"


def test_over_long_and_marked_up_input_is_refused_with_nothing_written(app, desk, prescriber, ready_intake):
    long_note = prescriber.post(
        f"/staff/intakes/{ready_intake}/gates",
        data={"kind": "medical_clearance", "outcome": "waived", "note": "x" * 501},
    )
    assert long_note.status_code == 303
    marked = desk.get(
        f"/staff/intakes/{ready_intake}/course?template=<script>alert(1)</script>&first_day=x&first_time=y"
    )
    assert marked.status_code == 400 and "<script>alert(1)</script>" not in marked.text
    with app.app_context():
        from kapclinic.courses.models import TreatmentGate

        assert db.session.scalar(select(func.count(TreatmentGate.id))) == 0
        db.session.rollback()


def test_one_course_at_a_time_the_second_is_refused_and_the_pages_point_to_the_first(
    app, desk, ready_intake, course_template, booked_course
):
    plan = desk.get(_plan_path(ready_intake, course_template, first_day=_first_day() + timedelta(days=40))).text
    assert "already has a course with sessions to come" in plan and "Book all" not in plan
    assert f"/staff/courses/{booked_course['course_id']}" in plan
    record = desk.get(f"/staff/intakes/{ready_intake}").text
    assert f"/staff/courses/{booked_course['course_id']}" in record and "Plan a treatment course" not in record
    starts = {
        f"s{n}": instant_param(datetime.combine(_first_day() + timedelta(days=40 + 7 * n), time(10), UTC))
        for n in range(8)
    }
    refused = desk.post(
        f"/staff/intakes/{ready_intake}/course",
        data={"template": str(course_template.version_id), "idempotency_key": uuid.uuid4().hex, **starts},
    )
    assert refused.status_code == 409 and "already has a course" in unescape(refused.text)
    with app.app_context():
        assert db.session.scalar(select(func.count(Course.id))) == 1
        db.session.rollback()
