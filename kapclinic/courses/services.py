"""Opening, booking, moving and cancelling treatment courses, and the gates before dosing.

A course is proposed whole (courses.plan), then committed whole: under the clinician's
and the patient's locks every session is checked again against the calendar as it is
now and inserted; if any was taken meanwhile, the course names that session and the
unit of work rolls everything back. The spacing rules are checked by the server on every
move, whoever asks; a member of staff may override them with a reason, which is audited.
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from kapclinic.audit import services as audit
from kapclinic.audit.models import AuditAction
from kapclinic.core.clinic import clinic
from kapclinic.core.errors import DomainError
from kapclinic.core.timezones import format_moment
from kapclinic.core.validation import InvalidField, clean_note
from kapclinic.courses import plan
from kapclinic.courses.models import (
    Course,
    CourseStatus,
    CourseTemplate,
    CourseTemplateVersion,
    GateKind,
    GateOutcome,
    TreatmentGate,
)
from kapclinic.extensions import db
from kapclinic.intake.services import age_on
from kapclinic.scheduling import services as scheduling
from kapclinic.scheduling.slots import Interval

KIND_LABELS = {plan.PREPARATION: "Preparation", plan.DOSING: "Treatment", plan.INTEGRATION: "Integration"}
SPACING_PROBLEMS = ("too_soon", "too_late")
OVERRIDE_REASON_MAX = 200
MOVE_TIMES_PER_DAY = 4
NOTE_MAX = 500
# The calendar a course is planned against: a little before its first session and far enough
# past it for every gap and every alternative (the planner cuts it to each session's days).
_BEFORE, _DAYS_PER_SESSION = timedelta(days=14), timedelta(days=21)


class CourseError(DomainError):
    default_field = None


class GatesMissing(CourseError):
    def __init__(self, missing):
        self.missing = missing
        listed = "; ".join(kind.label for kind in missing)
        super().__init__(f"A course with treatment sessions cannot be booked yet. Still missing: {listed}.")


class SessionsConflict(CourseError):
    """Some session's time does not work (any more): nothing was booked; `proposals` say which and why."""

    def __init__(self, proposals, zone):
        self.proposals = proposals
        first = next(index for index, proposal in enumerate(proposals) if proposal.problem)
        proposal = proposals[first]
        super().__init__(
            f"Nothing was booked: session {first + 1} ({session_label(proposal.kind)}, "
            f"{format_moment(proposal.start_dt, zone)}) does not work: {proposal.problem.message}"
        )


class MoveRefused(CourseError):
    default_field = "start"

    def __init__(self, message, alternatives=(), spacing=False):
        super().__init__(message)
        self.alternatives = alternatives
        self.spacing = spacing


def session_label(kind):
    return f"{KIND_LABELS.get(kind, kind.title())} session"


@dataclass(frozen=True)
class CoursePlan:
    """A proposal on screen: the version, each session's proposal and type, and what still blocks booking."""

    version: CourseTemplateVersion
    steps: tuple
    proposals: tuple
    session_types: list
    missing_gates: list

    @property
    def can_book(self):
        return not self.missing_gates and not any(proposal.problem for proposal in self.proposals)


# --- reading ------------------------------------------------------------------------


def active_templates():
    templates = db.session.scalars(
        select(CourseTemplate).where(CourseTemplate.is_active).order_by(CourseTemplate.name)
    ).all()
    return [template for template in templates if template.current is not None]


def course_by_public_id(public_id, for_update=False):
    query = select(Course).where(Course.public_id == public_id)
    if for_update:
        query = query.with_for_update()
    return db.session.scalar(query)


def courses_of(patient):
    return db.session.scalars(select(Course).where(Course.patient_id == patient.id).order_by(Course.id.desc())).all()


def running_course(patient, now):
    """The patient's open course with a session still to come, if any (a patient has one at a time)."""
    for course in courses_of(patient):
        if course.is_open and course.upcoming_sessions(now):
            return course
    return None


def course_of(booking):
    return db.session.get(Course, booking.course_id) if booking.course_id is not None else None


def _steps(version):
    """Staff plan courses: their reach (no patient notice, a year ahead), each type's own duration and buffers."""
    return version.steps(scheduling.staff_rules)


def _window(first_start, version):
    return Interval(first_start - _BEFORE, first_start + _BEFORE + _DAYS_PER_SESSION * version.session_count)


def _calendar(clinician, window, now, exclude_booking_id=None):
    return scheduling.load_calendars([clinician], window, now, exclude_booking_id)[0]


# --- gates ------------------------------------------------------------------------


def gates_of(patient):
    return db.session.scalars(
        select(TreatmentGate).where(TreatmentGate.patient_id == patient.id).order_by(TreatmentGate.recorded_dt)
    ).all()


def _needs_guardian(patient, first_dosing_dt):
    day = first_dosing_dt.astimezone(clinic().zone).date()
    return age_on(patient.date_of_birth, day) < current_app.config["ADULT_AGE"]


def missing_gates(patient, steps, starts):
    """What still blocks a course with dosing sessions: clearance, and the current consent (a guardian's too)."""
    dosing = [start for start, step in zip(starts, steps, strict=True) if step.kind == plan.DOSING]
    if not dosing:
        return []
    first_dosing = dosing[0]
    current = current_app.config["TREATMENT_CONSENT_VERSION"]
    recorded = gates_of(patient)

    def has(kind, outcomes, version_needed=None):
        return any(
            gate.kind is kind
            and gate.outcome in outcomes
            and (version_needed is None or gate.consent_version == version_needed)
            for gate in recorded
        )

    wanted = [
        (GateKind.MEDICAL_CLEARANCE, (GateOutcome.RECEIVED, GateOutcome.WAIVED), None),
        (GateKind.TREATMENT_CONSENT, (GateOutcome.SIGNED,), current),
    ]
    if _needs_guardian(patient, first_dosing):
        wanted.append((GateKind.GUARDIAN_CONSENT, (GateOutcome.SIGNED,), current))
    return [kind for kind, outcomes, needed in wanted if not has(kind, outcomes, needed)]


def record_gate(actor, patient, kind, outcome, note, now):
    """Record one gate (who and when); raise CourseError for what the rules refuse, by field.

    Medical clearance is the prescriber's: a clinician or an admin records it, and a
    waiver needs its reason. Consents are signed, for the clinic's current version.
    """
    try:
        kind, outcome = GateKind(kind), GateOutcome(outcome)
    except ValueError:
        raise CourseError("Please choose what to record from the list.", field="kind") from None
    if kind is GateKind.MEDICAL_CLEARANCE:
        if outcome not in (GateOutcome.RECEIVED, GateOutcome.WAIVED):
            raise CourseError("Medical clearance is received or waived.", field="outcome")
        if not (actor.is_admin or actor.clinician_id is not None):
            raise CourseError("Medical clearance is recorded by the prescriber (a clinician).", field="kind")
    elif outcome is not GateOutcome.SIGNED:
        raise CourseError("A consent is recorded once it is signed.", field="outcome")
    try:
        note = clean_note(note or "", NOTE_MAX)
    except InvalidField as error:
        raise CourseError(str(error), field="note") from None
    if outcome is GateOutcome.WAIVED and not note:
        raise CourseError("Please say why clearance is waived.", field="note")
    gate = TreatmentGate(
        patient_id=patient.id,
        kind=kind,
        outcome=outcome,
        consent_version=None if kind is GateKind.MEDICAL_CLEARANCE else current_app.config["TREATMENT_CONSENT_VERSION"],
        note=note or None,
        recorded_by_id=actor.id,
        recorded_dt=now,
    )
    db.session.add(gate)
    db.session.flush()
    audit.record(
        actor, AuditAction.GATE_RECORDED, now, detail=f"patient {patient.public_id} {kind.value} {outcome.value}"
    )
    return gate


# --- proposing and opening ------------------------------------------------------------


def propose(version, clinician, patient, first_start, now, starts=None):
    """Every session at once (or `starts` as staff chose them), each checked, with alternatives where needed."""
    steps = _steps(version)
    window = _window(first_start, version)
    calendar = _calendar(clinician, window, now)
    busy = scheduling.patient_commitments(patient, window, now)
    if starts is None:
        proposals = plan.propose(steps, calendar, first_start, now, busy)
    else:
        proposals = plan.check(steps, calendar, starts, now, busy)
    starts = [proposal.start_dt for proposal in proposals]
    return CoursePlan(version, steps, proposals, version.session_types(), missing_gates(patient, steps, starts))


def _replay(idempotency_key, patient):
    if idempotency_key is None:
        return None
    earlier = db.session.scalar(select(Course).where(Course.idempotency_key == idempotency_key))
    if earlier is not None and earlier.patient_id != patient.id:
        raise CourseError("This form was already used for another patient. Please start again.")
    return earlier


def open_course(actor, version, clinician, booked_from, starts, now, idempotency_key=None):
    """Book every session of a course at `starts`, or nothing; return the course.

    `booked_from` is the consultation the course follows (its patient, zone and consent).
    Raises GatesMissing, SessionsConflict (naming the session) or CourseError. A repeated
    idempotency key returns the course it made.
    """
    patient = booked_from.patient
    scheduling.hold_calendars([clinician], patient)
    earlier = _replay(idempotency_key, patient)
    if earlier is not None:
        return earlier
    if not version.template.is_active:
        raise CourseError("This course template is no longer in use. Please choose another.")
    if running_course(patient, now) is not None:
        raise CourseError(
            "This patient already has a course with sessions to come. One course at a time keeps its spacing "
            "rules whole: move its sessions, or cancel it first."
        )
    checked = propose(version, clinician, patient, starts[0], now, starts)
    if checked.missing_gates:
        raise GatesMissing(checked.missing_gates)
    zone = clinician.zone
    if not checked.can_book:
        raise SessionsConflict(checked.proposals, zone)
    course = Course(
        public_id=str(uuid.uuid4()),
        patient_id=patient.id,
        clinician_id=clinician.id,
        template_version_id=version.id,
        opened_by_id=actor.id,
        opened_dt=now,
        idempotency_key=idempotency_key,
        patient_timezone=booked_from.patient_timezone,
    )
    db.session.add(course)
    db.session.flush()
    booked = []
    for step_number, (step, session_type, start_dt) in enumerate(
        zip(checked.steps, checked.session_types, starts, strict=True)
    ):
        booking, token = scheduling.add_course_session(
            session_type, clinician, patient, start_dt, step.rules, now, course, step_number, booked_from
        )
        if booking is None:
            # Taken between the check and the insert (another request): name it, book nothing.
            taken = plan.Problem("clinician_busy", "It was booked by someone else a moment ago.")
            proposals = list(checked.proposals)
            proposals[step_number] = plan.Proposal(step.kind, start_dt, start_dt + step.rules.duration, taken)
            raise SessionsConflict(tuple(proposals), zone)
        booked.append((booking, token))
    for booking, token in booked:
        _send_session(booking, token, course, len(booked), now)
    audit.record(
        actor,
        AuditAction.COURSE_OPENED,
        now,
        booking=booked_from,
        detail=f"course {course.public_id} of {len(booked)} sessions, template version {version.id}",
    )
    return course


def _send_session(booking, token, course, count, now):
    """One email per session with that session's own invite (its own UID); titles stay neutral."""
    scheduling.notify_patient(
        booking,
        "course_session_booked",
        now,
        token,
        session_number=booking.course_step + 1,
        session_count=count,
        session_name=booking.consultation_type.name,
        session_about=booking.consultation_type.description,
    )


# --- moving and cancelling ---------------------------------------------------------------


def _course_starts(course):
    return [session.start_dt for session in course.sessions]


def _around_session(course, booking, anchor, now, by_staff):
    """What the planner needs to move one session: the steps (staff's reach or the types' own rules), and
    the clinician's calendar and the patient's commitments near `anchor`, both without the session itself."""
    version = course.template_version
    steps = version.steps(scheduling.staff_rules if by_staff else (lambda kind_type: kind_type.slot_rules))
    window = _window(anchor, version)
    calendar = _calendar(course.clinician, window, now, exclude_booking_id=booking.id)
    busy = scheduling.patient_commitments(booking.patient, window, now, exclude_booking_id=booking.id)
    return steps, calendar, busy


def check_move(course, booking, new_start, now, by_staff):
    """The planner's verdict on moving one session of `course` to new_start (spacing, hours, both calendars)."""
    steps, calendar, busy = _around_session(course, booking, min(new_start, booking.start_dt), now, by_staff)
    return plan.check_move(steps, calendar, _course_starts(course), booking.course_step, new_start, now, busy)


def patient_may_move(booking, now):
    """A patient moves a session themselves only if its type allows it and its change window is still open."""
    kind_type = booking.consultation_type
    hours = kind_type.change_window_hours
    if hours is None:
        hours = clinic().cancellation_window_hours
    return kind_type.patient_bookable and booking.can_patient_change(now, timedelta(hours=hours))


def move_session(booking, new_start, now, actor=None, override_reason=""):
    """Move one session, keeping the course's rules; return the new manage token.

    Staff (`actor`) may break a spacing rule (never the calendars) with a reason, audited;
    a patient may move only what patient_may_move allows. Raises MoveRefused.
    """
    course = course_of(booking)
    if course is None or not course.is_open:
        raise MoveRefused("This session is not part of an open course.")
    if actor is None and not patient_may_move(booking, now):
        raise MoveRefused(f"This session can no longer be moved online. Please call us on {clinic().phone}.")
    scheduling.hold_calendars([course.clinician], booking.patient)
    verdict = check_move(course, booking, new_start, now, by_staff=actor is not None)
    problem = verdict.problem
    overridden = False
    if problem is not None:
        reason = " ".join((override_reason or "").split())[:OVERRIDE_REASON_MAX]
        spacing = problem.code in SPACING_PROBLEMS
        if not (actor is not None and spacing and reason):
            staff_may_override = spacing and actor is not None
            message = problem.message + (" To go ahead anyway, give the reason." if staff_may_override else "")
            raise MoveRefused(message, verdict.alternatives, spacing=staff_may_override)
        overridden = True
    token = scheduling.reschedule(booking, new_start, now, by_staff=actor is not None, course_rules_checked=True)
    if actor is not None:
        detail = f"course {course.public_id} session {booking.course_step + 1}"
        if overridden:
            detail += f" moved against the rule ({problem.code}): {reason}"
        audit.record(
            actor,
            AuditAction.COURSE_RULE_OVERRIDDEN if overridden else AuditAction.RESCHEDULED,
            now,
            booking=booking,
            detail=detail,
        )
    return token


def cancel_course(actor, course, now, reason=""):
    """Cancel every session still to come (each patient invite gets its CANCEL) and close the course."""
    if not course.is_open:
        raise CourseError("This course is already cancelled.")
    for session in course.upcoming_sessions(now):
        scheduling.cancel(session, now, by="staff", reason=reason)
    course.status = CourseStatus.CANCELLED
    course.cancelled_dt = now
    db.session.flush()
    audit.record(actor, AuditAction.COURSE_CANCELLED, now, detail=f"course {course.public_id}")


def session_links(course, now):
    """For the patient's page: each session's when, name and whether they may move it themselves."""
    return [(session, patient_may_move(session, now)) for session in course.sessions]


def move_options(course, booking, now, by_staff):
    """Times this session may move to within the course's rules (staff: their reach; patients: the type's)."""
    steps, calendar, busy = _around_session(course, booking, booking.start_dt, now, by_staff)
    ranked = plan.move_options(steps, calendar, _course_starts(course), booking.course_step, now, busy, limit=200)
    # A few times on each allowed day (the planner's ranking: same time of day first, then the nearest),
    # so every day the rules allow is offered; people read them in time order.
    per_day = {}
    for start in ranked:
        day = start.astimezone(booking.patient_zone).date()
        if len(per_day.setdefault(day, [])) < MOVE_TIMES_PER_DAY:
            per_day[day].append(start)
    return sorted(start for starts in per_day.values() for start in starts)
