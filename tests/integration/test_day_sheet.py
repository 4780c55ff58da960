"""The day sheet: one day's consultations on the clinic's calendar, with each intake's state and flags."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from kapclinic.accounts.models import Role
from kapclinic.audit.models import AuditAction, AuditEvent
from kapclinic.core.timezones import get_zone, now_utc
from kapclinic.extensions import db
from kapclinic.intake import services as intake_services
from kapclinic.intake.models import Intake
from kapclinic.patients.services import new_patient
from kapclinic.scheduling.models import Booking, BookingStatus, ConsultationType
from tests.helpers import seed_offering, sign_in
from tests.intake_answers import submit_intake

NEW_YORK = get_zone("America/New_York")


def _book(offering, local_start, name, number, clinician_id=None, status=BookingStatus.CONFIRMED):
    """A booking (and its empty intake) starting at a wall-clock time in New York."""
    consultation_type = db.session.scalar(select(ConsultationType).where(ConsultationType.slug == offering.slug))
    start = local_start.replace(tzinfo=NEW_YORK).astimezone(UTC)
    booking = Booking(
        public_id=f"00000000-0000-0000-0000-{number:012d}",
        clinician_id=clinician_id or offering.clinician_id,
        consultation_type=consultation_type,
        start_dt=start,
        end_dt=start + timedelta(minutes=50),
        blocked_start_dt=start,
        blocked_end_dt=start + timedelta(minutes=50),
        patient=new_patient(name, f"patient{number}@example.com", "+12125550123", date(1990, 1, 1), now_utc()),
        patient_timezone="UTC",
        ical_uid=f"day-sheet-{number}@test",
        manage_token_hash=f"{number:064d}",
        status=status,
    )
    db.session.add(booking)
    intake_services.create_for_booking(booking, now_utc())
    db.session.flush()


def _day_sheet_reads(app):
    with app.app_context():
        rows = db.session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == AuditAction.DAY_SHEET_VIEWED)
        ).all()
        db.session.rollback()
    return rows


@pytest.fixture
def offering(app):
    app.config["CLINIC_TIMEZONE"] = "America/New_York"
    return seed_offering(app, "day-sheet", zone="America/New_York")


# Both US clock changes of 2026: the day has 23 hours (spring) or 25 (autumn).
@pytest.mark.parametrize(
    ("change_day", "early_name", "late_name"), [(date(2026, 3, 8), "EST", "EDT"), (date(2026, 11, 1), "EDT", "EST")]
)
def test_the_day_sheet_on_a_clock_change_day_shows_that_days_consultations(
    app, client, create_staff, in_app, offering, change_day, early_name, late_name
):
    def create():
        before, after = change_day - timedelta(days=1), change_day + timedelta(days=1)
        _book(offering, datetime.combine(before, time(23, 30)), "Eve Before", 1)
        _book(offering, datetime.combine(change_day, time(0, 30)), "Ada Early", 2)
        _book(offering, datetime.combine(change_day, time(23, 0)), "Lou Late", 3)
        _book(offering, datetime.combine(after, time(0, 30)), "Nia Next", 4)

    in_app(create)
    desk = create_staff(Role.FRONT_DESK)
    sign_in(client, desk.email)
    page = client.get(f"/staff/day?day={change_day.isoformat()}").text
    assert "Ada Early" in page and "Lou Late" in page
    assert "Eve Before" not in page and "Nia Next" not in page
    assert f"12:30 AM {early_name}" in page and f"11:00 PM {late_name}" in page
    assert page.index("Ada Early") < page.index("Lou Late")
    assert "Times in Eastern Time — New York" in page


def test_the_desk_sees_each_intakes_state_and_flags_and_the_read_is_recorded(
    app, client, create_staff, in_app, offering, mailbox
):
    urgent = submit_intake(app, offering, mailbox, 4, "Una Urgent", "una@example.com", phq9={"phq9_9": "2"})
    with app.app_context():
        day = db.session.get(Intake, urgent).booking.start_dt.astimezone(NEW_YORK).date()
        db.session.rollback()

    def create():
        _book(offering, datetime.combine(day, time(6)), "Dot Draft", 7)
        _book(offering, datetime.combine(day, time(6, 30)), "Cy Cancelled", 8, status=BookingStatus.CANCELLED)

    in_app(create)
    desk = create_staff(Role.FRONT_DESK)
    sign_in(client, desk.email)
    response = client.get(f"/staff/day?day={day.isoformat()}")
    assert response.status_code == 200
    page = response.text
    assert "Una Urgent" in page and "Submitted, awaiting review" in page and "Urgent</span>" in page
    assert "Dot Draft" in page and "Not finished" in page
    assert "Cy Cancelled" not in page
    assert 'href="tel:+12125550123">(212) 555-0123</a>' in page
    assert f"/staff/intakes/{urgent}?back=/staff/day?day%3D{day.isoformat()}" in page
    assert _day_sheet_reads(app) == [f"day {day.isoformat()}"]


def test_a_clinician_sees_only_their_own_consultations(app, client, create_staff, in_app, offering):
    other = create_staff(Role.CLINICIAN, email="other@clinic.example.org", timezone="America/New_York")
    day = date(2030, 5, 6)

    def create():
        _book(offering, datetime.combine(day, time(9)), "Mo Mine", 11, clinician_id=other.clinician_id)
        _book(offering, datetime.combine(day, time(10)), "Yo Yours", 12)

    in_app(create)
    sign_in(client, other.email)
    page = client.get(f"/staff/day?day={day.isoformat()}").text
    assert "Mo Mine" in page and "Yo Yours" not in page


@pytest.mark.parametrize("bad", ["2026-02-30", "tomorrow", "9999-12-31", "2026-1-1x", "\x00"])
def test_a_bad_day_is_explained_and_writes_nothing(app, client, create_staff, offering, bad):
    desk = create_staff(Role.FRONT_DESK)
    sign_in(client, desk.email)
    response = client.get("/staff/day", query_string={"day": bad})
    assert response.status_code == 400
    assert "Use a date in the form YYYY-MM-DD." in response.text or "too far from today" in response.text
    assert _day_sheet_reads(app) == []
