"""`flask demo-data`: clinicians, consultation types, a course template, hours and bookings to try the app with."""

from datetime import time, timedelta

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from kapclinic.accounts import services as accounts
from kapclinic.accounts.models import Role
from kapclinic.core.clinic import clinic
from kapclinic.core.crypto import blind_index
from kapclinic.core.timezones import now_utc
from kapclinic.courses.models import CourseTemplate, CourseTemplateVersion
from kapclinic.extensions import db
from kapclinic.intake import services as intakes
from kapclinic.intake.sample_answers import sample_form
from kapclinic.notifications.services import deliver_committed
from kapclinic.patients.models import Patient
from kapclinic.scheduling import services
from kapclinic.scheduling.models import (
    AvailabilityRule,
    Booking,
    Clinician,
    ConsultationType,
    Modality,
)
from kapclinic.scheduling.slots import Interval

DEMO_CLINICIANS = (
    # name, credentials, email, zone, weekday hours
    (
        "Dr. Maya Alvarez",
        "MD, Psychiatrist",
        "maya.alvarez@clinic.example.org",
        "America/New_York",
        ((time(9), time(12)), (time(13), time(17))),
    ),
    (
        "Jordan Lee",
        "PMHNP-BC",
        "jordan.lee@clinic.example.org",
        "America/Los_Angeles",
        ((time(8), time(12)), (time(14), time(18))),
    ),
    (
        "Dr. Priya Raman",
        "PsyD, Psychotherapist",
        "priya.raman@clinic.example.org",
        "Europe/London",
        ((time(10), time(16)),),
    ),
)

DEMO_VIDEO_SERVER = "https://video.clinic.example.org/"
DEMO_TYPES = (
    # slug, name, description, minutes, buffer after, modality, where (for video: the server rooms are under)
    (
        "initial-video",
        "Initial consultation (video)",
        "A first conversation about your history and whether ketamine-assisted psychotherapy could fit.",
        60,
        15,
        Modality.VIDEO,
        DEMO_VIDEO_SERVER,
    ),
    (
        "initial-in-person",
        "Initial consultation (in person)",
        "The same first conversation, at the clinic.",
        60,
        15,
        Modality.IN_PERSON,
        "Suite 4, 120 River Street, Springfield",
    ),
    (
        "follow-up-phone",
        "Follow-up call",
        "A shorter call for people already in touch with the clinic.",
        30,
        5,
        Modality.PHONE,
        "",
    ),
)

# Offered only inside a treatment course, never on the booking pages. Neutral names: patients' emails and
# calendars show them. slug, name, description, minutes, buffer after, modality, patients may move it, change window
DEMO_COURSE_TYPES = (
    (
        "course-preparation",
        "Preparation session",
        "A conversation with your clinician before treatment: what to expect, your intentions, and safety.",
        50,
        10,
        Modality.VIDEO,
        True,
        None,
    ),
    (
        "course-treatment",
        "Treatment session",
        "A longer session at the clinic with your clinician. Plan for someone to take you home afterwards.",
        180,
        30,
        Modality.IN_PERSON,
        False,  # the clinic moves it: the room and the clinician's afternoon are held for it
        48,
    ),
    (
        "course-integration",
        "Integration session",
        "A conversation with your clinician a few days after a treatment session.",
        50,
        10,
        Modality.VIDEO,
        True,
        None,
    ),
)
DEMO_COURSE_TEMPLATE = {
    "slug": "kap-sublingual-adult",
    "name": "KAP sublingual, adult",
    "preparation_count": 2,
    "cycles": 3,
    "integration_min_days": 1,
    "integration_max_days": 3,
    "min_days_between_dosing": 6,
    "min_days_after_preparation": 1,
}

DEMO_PASSWORD = "kapclinic-demo"
DEMO_STAFF = (
    ("admin@example.org", "Ada Admin", Role.ADMIN),
    ("frontdesk@example.org", "Frankie Desk", Role.FRONT_DESK),
)

DEMO_PATIENTS = (
    ("Alex Demo", "alex.demo@example.com"),
    ("Sam Example", "sam.example@example.com"),
    ("Robin Sample", "robin.sample@example.com"),
)


def _ensure_clinicians():
    clinicians = []
    for name, credentials, email, zone, hours in DEMO_CLINICIANS:
        clinician = db.session.scalar(select(Clinician).where(Clinician.email == email))
        if clinician is None:
            clinician = Clinician(
                name=name,
                credentials=credentials,
                email=email,
                timezone=zone,
                bio=f"{name.split()[-1]} sees adults and adolescents.",
            )
            for weekday in range(5):
                for start, end in hours:
                    clinician.availability_rules.append(
                        AvailabilityRule(weekday=weekday, start_time=start, end_time=end)
                    )
            db.session.add(clinician)
        clinicians.append(clinician)
    return clinicians


def _demo_type(slug, name, description, minutes, buffer_after, modality, where, clinicians, horizon_days, **extra):
    """A demo type: 12 hours' notice, starts on the half hour, `where` its address or video server."""
    return ConsultationType(
        slug=slug,
        name=name,
        description=description,
        duration_minutes=minutes,
        buffer_after_minutes=buffer_after,
        min_notice_minutes=12 * 60,
        horizon_days=horizon_days,
        slot_step_minutes=30,
        modality=modality,
        location=where if modality is Modality.IN_PERSON else "",
        video_link=where if modality is Modality.VIDEO else "",
        clinicians=clinicians,
        **extra,
    )


def _ensure_types(clinicians):
    for slug, name, description, minutes, buffer_after, modality, where in DEMO_TYPES:
        if db.session.scalar(select(ConsultationType).where(ConsultationType.slug == slug)):
            continue
        offered_by = clinicians if modality is not Modality.IN_PERSON else clinicians[:1]
        db.session.add(_demo_type(slug, name, description, minutes, buffer_after, modality, where, offered_by, 60))


def _ensure_course_types(clinicians):
    """The course-only session types, offered by every demo clinician; return them by slug."""
    types = {}
    for slug, name, description, minutes, buffer_after, modality, movable, window in DEMO_COURSE_TYPES:
        consultation_type = db.session.scalar(select(ConsultationType).where(ConsultationType.slug == slug))
        if consultation_type is None:
            where = (clinic().address or DEMO_TYPES[1][6]) if modality is Modality.IN_PERSON else DEMO_VIDEO_SERVER
            consultation_type = _demo_type(
                slug,
                name,
                description,
                minutes,
                buffer_after,
                modality,
                where,
                clinicians,
                90,
                course_only=True,
                patient_bookable=movable,
                change_window_hours=window,
            )
            db.session.add(consultation_type)
        types[slug] = consultation_type
    return types


def _ensure_course_template(types, now):
    """The demo course template as version 1, unless its short name is taken (an admin may have saved more since)."""
    values = dict(DEMO_COURSE_TEMPLATE)
    slug, name = values.pop("slug"), values.pop("name")
    if db.session.scalar(select(CourseTemplate.id).where(CourseTemplate.slug == slug)):
        return 0
    template = CourseTemplate(slug=slug, name=name, created_dt=now)
    template.versions.append(
        CourseTemplateVersion(
            number=1,
            created_dt=now,
            preparation_type=types["course-preparation"],
            dosing_type=types["course-treatment"],
            integration_type=types["course-integration"],
            **values,
        )
    )
    db.session.add(template)
    return 1


def _ensure_staff(clinicians, now):
    """Demo logins: an admin, the front desk, and clinicianN@example.org for each demo clinician."""
    logins = list(DEMO_STAFF) + [
        (f"clinician{number}@example.org", clinician.name, Role.CLINICIAN, clinician)
        for number, clinician in enumerate(clinicians, start=1)
    ]
    for email, name, role, *clinician in logins:
        if accounts.user_by_email(email) is None:
            accounts.create_user(email, name, role, DEMO_PASSWORD, now, clinician=clinician[0] if clinician else None)
    return [login[0] for login in logins]


def _ensure_bookings():
    if db.session.scalar(select(Booking.id).limit(1)) is not None:
        return 0
    consultation_type = services.consultation_type_by_slug("initial-video")
    now = now_utc()
    window_start = now + timedelta(days=3)
    slots = services.find_slots(
        consultation_type,
        Interval(window_start, window_start + timedelta(days=7)),
        now,
    )
    made = 0
    for (name, email), slot in zip(DEMO_PATIENTS, slots[::7], strict=False):
        patient = services.PatientDetails(
            name=name,
            email=email,
            phone="+12125550100",
            date_of_birth=now.date().replace(year=now.year - 35),
            timezone="America/Chicago",
            contact_consent=True,
        )
        clinician = db.session.get(Clinician, slot.clinician_id)
        services.book(consultation_type, clinician, slot.start_dt, patient, now)
        made += 1
    return made


# Submitted intakes for the front desk queue: the first patient's calm, the second's with
# an urgent safety answer (PHQ-9 item 9), so the queue shows the urgent one on top.
DEMO_INTAKE_CHANGES = (
    ("alex.demo@example.com", {}),
    ("sam.example@example.com", {"phq9": {"phq9_9": "2"}}),
)


def _ensure_intakes(now):
    filled = 0
    for email, changes in DEMO_INTAKE_CHANGES:
        booking = db.session.scalar(
            select(Booking).join(Booking.patient).where(Patient.email_index == blind_index("email", email))
        )
        if booking is None or booking.intake is None or booking.intake.answers:
            continue
        intake = booking.intake
        identity = {"legal_name": booking.patient_name, "date_of_birth": booking.patient_date_of_birth.isoformat()}
        for step in intakes.steps(intake):
            step_changes = {**(identity if step.key == "about" else {}), **changes.get(step.key, {})}
            if step.key == "consent":
                step_changes["signature"] = booking.patient_name
            outcome = intakes.save_step(intake, step, sample_form(step.key, **step_changes), now)
            if outcome.errors:
                raise click.ClickException(f"demo intake step {step.key} did not validate: {sorted(outcome.errors)}")
        intakes.submit(intake, now)
        filled += 1
    return filled


@click.command("demo-data")
@with_appcontext
def demo_data_command():
    """Load demo clinicians, consultation types, weekly hours and bookings (idempotent).

    It plants staff logins with a published password, so besides the production config it
    refuses any database but SQLite: a development config pointed (by mistake) at the
    clinic's PostgreSQL through DATABASE_URL looks exactly like a developer's own server,
    and the database kind is the one signal a mistake cannot fake.
    """
    if current_app.config["NAME"] == "production":
        raise click.ClickException("demo-data is for development only; refused under the production config")
    if db.engine.dialect.name != "sqlite":
        raise click.ClickException(
            f"demo-data is for development only; refused on a {db.engine.dialect.name} database (it creates logins "
            "with a published password). Unset DATABASE_URL to use the development SQLite database."
        )
    clinicians = _ensure_clinicians()
    db.session.flush()
    _ensure_types(clinicians)
    course_types = _ensure_course_types(clinicians)
    db.session.flush()
    templates = _ensure_course_template(course_types, now_utc())
    db.session.flush()
    made = _ensure_bookings()
    db.session.flush()
    filled = _ensure_intakes(now_utc())
    logins = _ensure_staff(clinicians, now_utc())
    db.session.commit()
    deliver_committed()
    click.echo(
        f"demo data ready: {len(clinicians)} clinicians, {len(DEMO_TYPES)} consultation types and "
        f"{len(DEMO_COURSE_TYPES)} course session types, {templates} new course template(s), {made} new bookings, "
        f"{filled} submitted intakes"
    )
    click.echo(f"staff logins (password {DEMO_PASSWORD}): {', '.join(logins)}")
