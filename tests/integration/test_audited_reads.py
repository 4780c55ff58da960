"""Every staff look at patient data is in the audit trail, and another site cannot make a staff browser look."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from kapclinic.accounts.models import Role
from kapclinic.audit.models import AuditAction, AuditEvent
from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.scheduling.models import Booking
from tests.helpers import seed_offering, sign_in
from tests.intake_answers import submit_intake

pytestmark = pytest.mark.both_databases


@pytest.fixture
def offering(app):
    return seed_offering(app, "audited")


@pytest.fixture
def intake_id(app, offering, mailbox):
    return submit_intake(app, offering, mailbox, 0, "Ria Record", "ria@example.com")


@pytest.fixture
def clinician(create_staff_for_clinician, offering):
    return create_staff_for_clinician(offering.clinician_id, email="dr.audited@clinic.example.org")


def _rows(app, after=0):
    with app.app_context():
        rows = db.session.execute(
            select(
                AuditEvent.action, AuditEvent.actor_id, AuditEvent.booking_id, AuditEvent.intake_id, AuditEvent.detail
            )
            .where(AuditEvent.id > after)
            .order_by(AuditEvent.id)
        ).all()
        db.session.rollback()
    return [tuple(row) for row in rows]


def _last_id(app):
    with app.app_context():
        last = db.session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) or 0
        db.session.rollback()
    return last


def _bookings(app):
    with app.app_context():
        rows = db.session.execute(
            select(Booking.id, Booking.public_id, Booking.start_dt).order_by(Booking.start_dt)
        ).all()
        db.session.rollback()
    return rows


def test_a_clinicians_schedule_exports_outcomes_and_cancellations_are_in_the_audit_trail(
    app, client, offering, intake_id, mailbox, clinician
):
    submit_intake(app, offering, mailbox, 3, "Sol Second", "sol@example.com")
    (first_id, first_public, first_start), (second_id, second_public, second_start) = _bookings(app)
    day = first_start.date().isoformat()
    # Late in the (UTC) day the two starts fall on different days: the export spans both.
    last_day = second_start.date().isoformat()
    sign_in(client, clinician.email)
    schedule = f"/staff/clinicians/{clinician.clinician_id}/schedule"
    before = _last_id(app)

    assert "Ria Record" in client.get(schedule, query_string={"date": day}).text
    assert client.get(schedule, query_string={"date": day, "view": "day"}).status_code == 200
    assert client.get(f"/staff/bookings/{first_public}/invite.ics").status_code == 200
    span = client.get(
        f"/staff/clinicians/{clinician.clinician_id}/schedule.ics", query_string={"start": day, "end": last_day}
    )
    assert span.status_code == 200
    assert (
        client.post(f"/staff/bookings/{second_public}/cancel", data={"reason": "Clinician unwell"}).status_code == 302
    )
    started = now_utc() - timedelta(hours=2)

    def start_first_consultation():
        with app.app_context():
            db.session.execute(
                Booking.__table__.update()
                .where(Booking.id == first_id)
                .values(
                    start_dt=started,
                    end_dt=started + timedelta(hours=1),
                    blocked_start_dt=started,
                    blocked_end_dt=started + timedelta(hours=1),
                )
            )
            db.session.commit()

    start_first_consultation()
    assert client.post(f"/staff/bookings/{first_public}/outcome", data={"status": "no_show"}).status_code == 302

    rows = _rows(app, before)
    actions = [(action, booking_id) for action, actor, booking_id, _, _ in rows]
    assert actions == [
        (AuditAction.SCHEDULE_VIEWED, None),
        (AuditAction.SCHEDULE_VIEWED, None),
        (AuditAction.INVITE_EXPORTED, first_id),
        (AuditAction.SCHEDULE_EXPORTED, first_id),
        (AuditAction.SCHEDULE_EXPORTED, second_id),
        (AuditAction.CANCELLED, second_id),
        (AuditAction.OUTCOME_MARKED, first_id),
    ]
    assert {actor for _, actor, _, _, _ in rows} == {clinician.id}
    assert rows[2][3] == intake_id  # the export names the patient's intake, so their trail shows it
    assert f"week {first_start.date() - timedelta(days=first_start.weekday())}" in rows[0][4]
    assert f"day {day}" in rows[1][4]
    assert rows[-1][4] == "marked no_show"
    assert "intact" in app.test_cli_runner().invoke(args=["audit", "verify"]).output


# Every GET that writes an audit row: the front desk's and admin's pages, the clinician's schedule and exports.
def _audited_reads(intake_id, clinician_id, booking_public_id, desk_id):
    return {
        "queue": ("admin", "/staff/intakes"),
        "queue csv": ("admin", "/staff/intakes.csv"),
        "day sheet": ("admin", "/staff/day"),
        "intake": ("admin", f"/staff/intakes/{intake_id}"),
        "print": ("admin", f"/staff/intakes/{intake_id}/print"),
        "fhir export": ("admin", f"/staff/intakes/{intake_id}/questionnaire-response.json"),
        "patient trail": ("admin", f"/staff/audit/intakes/{intake_id}"),
        "staff trail": ("admin", f"/staff/audit/users/{desk_id}"),
        "schedule": ("clinician", f"/staff/clinicians/{clinician_id}/schedule?view=day"),
        "invite": ("clinician", f"/staff/bookings/{booking_public_id}/invite.ics"),
        "schedule export": (
            "clinician",
            f"/staff/clinicians/{clinician_id}/schedule.ics?start=2026-01-01&end=2026-01-31",
        ),
        "outbox": ("admin", "/staff/admin/outbox"),
        "bursts": ("admin", "/staff/admin/bursts"),
    }


@pytest.fixture
def signed_in(app, create_staff, clinician):
    admin = create_staff(Role.ADMIN, email="admin.reads@clinic.example.org")
    desk = create_staff(Role.FRONT_DESK, email="desk.reads@clinic.example.org")
    clients = {"admin": app.test_client(), "clinician": app.test_client()}
    sign_in(clients["admin"], admin.email)
    sign_in(clients["clinician"], clinician.email)
    return clients, desk


@pytest.mark.parametrize("origin", ["cross-site", "same-site"])
def test_another_site_cannot_make_a_staff_browser_open_or_record_a_patient_page(
    app, intake_id, clinician, signed_in, origin
):
    clients, desk = signed_in
    ((_, booking_public_id, _),) = _bookings(app)
    before = _last_id(app)
    for name, (who, url) in _audited_reads(intake_id, clinician.clinician_id, booking_public_id, desk.id).items():
        response = clients[who].get(url, headers={"Sec-Fetch-Site": origin})
        assert response.status_code == 403, name
        assert "Open this page from the staff site" in response.text, name
        assert "Ria Record" not in response.text, name
        assert f'href="{url.replace("&", "&amp;")}"' in response.text, name  # one click from here opens it
    assert _rows(app, before) == []


def test_pages_that_name_a_patient_before_a_change_open_only_from_the_staff_site(app, intake_id, clinician, signed_in):
    clients, _ = signed_in
    ((_, booking_public_id, _),) = _bookings(app)
    pages = {
        "workspace cancel": ("clinician", f"/staff/bookings/{booking_public_id}/cancel"),
        "front desk reschedule": ("admin", f"/staff/intakes/{intake_id}/reschedule"),
    }
    for name, (who, url) in pages.items():
        refused = clients[who].get(url, headers={"Sec-Fetch-Site": "cross-site"})
        assert refused.status_code == 403 and "Ria Record" not in refused.text, name
        assert clients[who].get(url, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200, name


@pytest.mark.parametrize("origin", ["same-origin", "none", None])
def test_staff_open_patient_pages_from_the_staff_site_a_bookmark_or_an_older_browser(
    app, intake_id, clinician, signed_in, origin
):
    clients, desk = signed_in
    ((_, booking_public_id, _),) = _bookings(app)
    headers = {"Sec-Fetch-Site": origin} if origin else {}
    reads = _audited_reads(intake_id, clinician.clinician_id, booking_public_id, desk.id)
    before = _last_id(app)
    for name, (who, url) in reads.items():
        assert clients[who].get(url, headers=headers).status_code == 200, name
    assert len(_rows(app, before)) >= len(reads)
