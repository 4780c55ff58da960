"""Front desk rules: who sees which intake, the triage queue, review status, notes, changes on a patient's behalf.

Every function that shows or changes patient data takes the acting staff member
and writes its audit row in the same transaction as the change.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import and_, case, func, not_, select

from kapclinic.accounts.models import Role, StaffUser
from kapclinic.audit import services as audit
from kapclinic.audit.models import AuditAction, AuditEvent
from kapclinic.core.clinic import clinic
from kapclinic.core.crypto import seal, unseal
from kapclinic.core.errors import DomainError
from kapclinic.core.timezones import local_day_bounds
from kapclinic.core.validation import InvalidField, clean_note, clean_video_link
from kapclinic.extensions import db
from kapclinic.frontdesk.models import IntakeNote, NoteKind
from kapclinic.intake import fhir
from kapclinic.intake import services as intakes
from kapclinic.intake.instruments import INSTRUMENTS, severity_label
from kapclinic.intake.models import Intake, IntakeStatus, ReviewStatus
from kapclinic.intake.questionnaire import QUESTIONNAIRE_VERSION, SECTIONS
from kapclinic.intake.screening import CLINICIAN_REVIEW, INFO, URGENT
from kapclinic.patients import services as patients
from kapclinic.patients.models import Patient
from kapclinic.scheduling import services as scheduling
from kapclinic.scheduling.models import Booking, BookingStatus, Clinician
from kapclinic.scheduling.slots import Interval

QUEUE_PAGE_SIZE = 25
NOTE_MAX = 2000
REASON_MAX = 500
SEARCH_MAX = 100
INCOMPLETE_HORIZON = timedelta(hours=72)

# Queue filters on flags: the open urgent ones, those for a clinician's review, adolescents, none.
FLAG_FILTERS = {
    "urgent": "Urgent safety answer, still open",
    "clinician-review": "Needs a clinician's review",
    "under_18": "Adolescent (guardian needed)",
    "none": "No flags",
}
# A flag's level as the record, the day sheet and the CSV name it.
FLAG_LEVELS = {URGENT: "Urgent", CLINICIAN_REVIEW: "Clinician review", INFO: "For information"}
# The queue's statuses, worded as Intake.status_label words them.
STATUS_FILTERS = {
    **{status.value: status.label for status in (IntakeStatus.DRAFT, IntakeStatus.AWAITING_GUARDIAN)},
    **{status.value: status.label for status in ReviewStatus},
}


# --- who sees what -----------------------------------------------------------------


def viewer_zone(user):
    """Clinicians read times in their own zone; the front desk in the clinic's."""
    if user.role is Role.CLINICIAN and user.clinician is not None:
        return user.clinician.zone
    return clinic().zone


def _visible(query, user):
    if user.role is Role.CLINICIAN:
        return query.where(Booking.clinician_id == user.clinician_id)
    return query


def intake_for(user, intake_id, for_update=False):
    """The intake if this user may see it, else None (the caller answers 404 either way).

    Changes lock the intake and its booking, as the patient's own changes do, so a
    patient cancelling while the front desk reassigns cannot be overwritten.
    """
    query = _visible(select(Intake).join(Booking).where(Intake.id == intake_id), user)
    if for_update:
        query = query.with_for_update(of=(Intake, Booking))
    return db.session.scalar(query)


# --- the queue ---------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilters:
    status: str = ""
    flag: str = ""
    clinician_id: int | None = None
    first_day: date | None = None
    last_day: date | None = None
    search: str = ""
    page: int = 1

    def describe(self):
        """For the audit trail: which filters were used, never the search text (it may be a patient's name)."""
        used = [f"{name}={value}" for name, value in (("status", self.status), ("flag", self.flag)) if value]
        if self.clinician_id:
            used.append(f"clinician={self.clinician_id}")
        if self.first_day or self.last_day:
            used.append(f"dates={self.first_day or ''}..{self.last_day or ''}")
        if self.search:
            used.append("search")
        return f"page {self.page}" + (f"; {', '.join(used)}" if used else "")

    def query_args(self):
        """The filters as the queue's query string (without the page): what links, bookmarks and Back carry.

        The search travels sealed (`find`): it may be a patient's name, and URLs end up in
        browser history. An empty `from` is kept: it means every date, not today on.
        """
        args = {"from": self.first_day.isoformat() if self.first_day else ""}
        for name, value in (("status", self.status), ("flag", self.flag), ("clinician", self.clinician_id)):
            if value:
                args[name] = value
        if self.last_day:
            args["to"] = self.last_day.isoformat()
        if self.search:
            args["find"] = seal(self.search)
        return args


def _date_arg(args, name, default, errors, field):
    if name not in args:
        return default
    raw = args.get(name, "").strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        errors[field] = "Please give a date as YYYY-MM-DD."
        return default
    if not 1900 <= day.year <= 2200:
        errors[field] = "Please give a date between 1900 and 2200."
        return default
    return day


SEARCH_LINK_BROKEN = "This link's search no longer works. Please search again."


def _search_text(args, errors):
    """The search typed in the form (`q`), or the one a link carries sealed (`find`)."""
    if "find" not in args:
        return args.get("q", "")
    try:
        return unseal(args["find"])
    except ValueError:
        errors["q"] = SEARCH_LINK_BROKEN
        return ""


def parse_filters(args, today):
    """Read the queue's filters from its query string or its form. Invalid values are reported per field and ignored.

    With no dates in the query the queue starts at today, so past consultations do
    not push upcoming ones down; an empty "from" shows every date.
    """
    errors = {}
    status = args.get("status", "")
    if status and status not in STATUS_FILTERS:
        errors["status"] = "Please choose a status from the list."
        status = ""
    flag = args.get("flag", "")
    if flag and flag not in FLAG_FILTERS:
        errors["flag"] = "Please choose a flag from the list."
        flag = ""
    clinician_id = None
    if args.get("clinician"):
        raw = args["clinician"]
        if raw.isascii() and raw.isdigit() and len(raw) < 10:
            clinician_id = int(raw)
        else:
            errors["clinician"] = "Please choose a clinician from the list."
    first_day = _date_arg(args, "from", today, errors, "from")
    last_day = _date_arg(args, "to", None, errors, "to")
    if first_day and last_day and last_day < first_day:
        errors["to"] = "The last day must not be before the first."
        last_day = None
    search = _search_text(args, errors)
    try:
        search = clean_note(search, SEARCH_MAX).replace("\n", " ")
    except InvalidField as error:
        errors["q"] = str(error)
        search = ""
    page_raw = args.get("page", "1")
    page = int(page_raw) if page_raw.isascii() and page_raw.isdigit() and 0 < len(page_raw) < 6 else 1
    return QueueFilters(status, flag, clinician_id, first_day, last_day, search, max(page, 1)), errors


def _open_urgent():
    return and_(Intake.is_urgent, Intake.urgent_acknowledged_dt.is_(None))


def _status_condition(status):
    if status in (IntakeStatus.DRAFT.value, IntakeStatus.AWAITING_GUARDIAN.value):
        return Intake.status == status
    return and_(Intake.status == IntakeStatus.SUBMITTED, Intake.review_status == status)


def _flag_condition(flag):
    """Only the intake's clear markers: the flags themselves are encrypted."""
    if flag == "urgent":
        return _open_urgent()
    if flag == "clinician-review":
        return Intake.needs_review
    if flag == "under_18":
        return Intake.is_adolescent
    return and_(not_(Intake.is_urgent), not_(Intake.needs_review), not_(Intake.has_info_flags))  # "none"


def _search_condition(text):
    """Intakes whose patient the search finds: a whole word of the name, or the exact email or phone."""
    region = current_app.config["CLINIC_PHONE_REGION"]
    return Booking.patient_id.in_(select(Patient.id).where(patients.search_condition(text, region)))


def _queue_query(user, filters, zone):
    query = _visible(select(Intake).join(Booking), user)
    if filters.status:
        query = query.where(_status_condition(filters.status))
    if filters.flag:
        query = query.where(_flag_condition(filters.flag))
    if filters.clinician_id:
        query = query.where(Booking.clinician_id == filters.clinician_id)
    if filters.first_day:
        query = query.where(Booking.start_dt >= local_day_bounds(filters.first_day, zone)[0])
    if filters.last_day:
        query = query.where(Booking.start_dt < local_day_bounds(filters.last_day, zone)[1])
    if filters.search:
        query = query.where(_search_condition(filters.search))
    return query


def queue_page(user, filters, zone):
    """One page of the queue: open urgent safety answers first, then the soonest consultation."""
    query = _queue_query(user, filters, zone)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    ordered = query.order_by(case((_open_urgent(), 0), else_=1), Booking.start_dt, Intake.id)
    rows = db.session.scalars(ordered.limit(QUEUE_PAGE_SIZE).offset((filters.page - 1) * QUEUE_PAGE_SIZE)).all()
    return rows, total


def all_queue_rows(user, filters, zone):
    """Every row matching the filters, in queue order, for the CSV export."""
    query = _queue_query(user, filters, zone)
    return db.session.scalars(query.order_by(case((_open_urgent(), 0), else_=1), Booking.start_dt, Intake.id)).all()


def flag_words(intake):
    """Every flag as words, most urgent first ("Urgent: ...; Clinician review: ..."), for exports."""
    return "; ".join(f"{FLAG_LEVELS[flag['level']]}: {flag['reason']}" for flag in intake.results.get("flags", []))


@dataclass(frozen=True)
class Dashboard:
    consultations_today: int
    awaiting_review: int
    urgent_open: int
    incomplete_soon: int


def dashboard(user, now, zone):
    def count(query):
        return db.session.scalar(select(func.count()).select_from(_visible(query, user).subquery()))

    day_start, day_end = local_day_bounds(now.astimezone(zone).date(), zone)
    confirmed = Booking.status != BookingStatus.CANCELLED
    return Dashboard(
        consultations_today=count(
            select(Booking.id).where(confirmed, Booking.start_dt >= day_start, Booking.start_dt < day_end)
        ),
        awaiting_review=count(
            select(Intake.id).join(Booking).where(_status_condition(ReviewStatus.AWAITING_REVIEW.value))
        ),
        urgent_open=count(select(Intake.id).join(Booking).where(_open_urgent())),
        incomplete_soon=count(
            select(Intake.id)
            .join(Booking)
            .where(
                Intake.status != IntakeStatus.SUBMITTED,
                confirmed,
                Booking.start_dt >= now,
                Booking.start_dt < now + INCOMPLETE_HORIZON,
            )
        ),
    )


def day_sheet(user, day, zone):
    """The day's consultations in `zone`, soonest first, across clinicians (a clinician's: their own).

    Cancelled ones are left out: nobody is coming.
    """
    start, end = local_day_bounds(day, zone)
    query = select(Booking).where(
        Booking.status != BookingStatus.CANCELLED, Booking.start_dt >= start, Booking.start_dt < end
    )
    return db.session.scalars(_visible(query, user).order_by(Booking.start_dt, Booking.id)).all()


def clinician_choices():
    return db.session.scalars(select(Clinician).order_by(Clinician.name)).all()


# --- the intake record --------------------------------------------------------------


@dataclass(frozen=True)
class ScoreLine:
    name: str
    total: int
    maximum: int | None
    band: str


def score_lines(intake):
    lines = []
    for key, score in intake.results.get("scores", {}).items():
        instrument = INSTRUMENTS.get(key)
        lines.append(
            ScoreLine(
                name=instrument.short_title if instrument else key,
                total=score["total"],
                maximum=instrument.max_total if instrument else None,
                band=severity_label(score["severity"]) if score.get("severity") else "",
            )
        )
    return lines


def guardian_status(intake):
    if not intakes.is_minor(intake):
        return ""
    if intake.guardian_signed_dt is not None:
        consent = intake.guardian_consent or {}
        if consent.get("relationship"):  # signed in their own words (consent version 2026-12.1 on)
            return f"Guardian consent given by {consent['signature']} ({consent['relationship']})"
        return "Guardian consent given"
    if intake.status is IntakeStatus.AWAITING_GUARDIAN:
        return "Waiting for the guardian's consent"
    return "Guardian consent not yet requested (intake not finished)"


def summary(intake, sections):
    """What the front desk reads first: age, reasons, scores, every flag with its answer, medicines.

    `sections` is intake.services.answered_sections(intake), which the record shows in full too.
    """
    rows = {section["step"].key: section["rows"] for section in sections}
    return {
        "age": intakes.age_at_consultation(intake),
        "is_minor": intakes.is_minor(intake),
        "guardian_status": guardian_status(intake),
        "reasons": rows.get("reasons", []),
        "scores": score_lines(intake),
        "flags": intake.results.get("flags", []),
        "medications": rows.get("medications", []),
        "has_answers": bool(intake.answers),
    }


def answers_by_part(sections):
    """The answered steps under the questionnaire's named parts ("About you", ...), each part with its steps."""
    return [
        (part.title, steps)
        for part in SECTIONS
        if (steps := [section for section in sections if section["step"].key in part.step_keys])
    ]


def can_export(intake):
    """A submitted intake, answered on a questionnaire version this code still describes."""
    return intake.is_submitted and intake.questionnaire_version == QUESTIONNAIRE_VERSION


def record_export(user, intake_ids, filters, now):
    """One audit row per exported intake, so each patient's trail shows the export."""
    if not intake_ids:
        audit.record(user, AuditAction.QUEUE_EXPORTED, now, detail=filters.describe())
        return
    for intake in db.session.scalars(select(Intake).where(Intake.id.in_(intake_ids)).order_by(Intake.id)):
        audit.record(user, AuditAction.QUEUE_EXPORTED, now, intake=intake, detail=filters.describe())


def fhir_answers(intake):
    """The intake as the pure FHIR builder reads it."""
    return fhir.IntakeAnswers(
        public_id=intake.public_id,
        questionnaire_version=intake.questionnaire_version,
        response_status=intake.response_status.value,
        answers=intake.answers,
        results=intake.results,
        authored_dt=intake.submitted_dt or intake.updated_dt,
        is_minor=intakes.is_minor(intake),
        patient_name=intake.booking.patient_name,
        birth_date=intake.booking.patient_date_of_birth,
    )


# --- the audit trail, for admins ------------------------------------------------------


def patient_trail(intake):
    """Everything done with this patient's records: every booking of their patient record."""
    same_patient = select(Booking.id).where(Booking.patient_id == intake.booking.patient_id)
    return audit.events_for(AuditEvent.booking_id.in_(same_patient))


def staff_user(user_id):
    return db.session.get(StaffUser, user_id)


def staff_trail(user):
    return audit.events_for(AuditEvent.actor_id == user.id)


# --- changes ------------------------------------------------------------------------


class ReviewRefused(DomainError):
    """The change cannot be made as asked; str() says why, for the person who asked."""


def _choice_and_text(choices, raw_choice, choice_field, raw_text, text_field):
    """Read one choice from an enum and one free text; return both and the per-field messages."""
    errors = {}
    try:
        choice = choices(raw_choice)
    except ValueError:
        choice = None
        errors[choice_field[0]] = choice_field[1]
    try:
        text = clean_note(raw_text, text_field[1])
    except InvalidField as error:
        text = ""
        errors[text_field[0]] = str(error)
    return choice, text, errors


def change_status(user, intake, status_value, reason, now):
    """Move a submitted intake to another review status; 'not a fit now' needs a reason."""
    status, reason, errors = _choice_and_text(
        ReviewStatus, status_value, ("status", "Please choose a status from the list."), reason, ("reason", REASON_MAX)
    )
    if status is ReviewStatus.NOT_A_FIT and not reason and "reason" not in errors:
        errors["reason"] = "Please say why this is not a fit now; the patient's clinician will read it."
    if status is not None and status.is_closed and intake.has_open_urgent_flag:
        errors["status"] = "Record what was done about the urgent answer first (above), then close the review."
    if errors:
        return errors
    if not intake.is_submitted:
        raise ReviewRefused("The patient has not submitted this intake yet, so it cannot be reviewed.")
    previous = intake.review_status
    intake.review_status = status
    intake.review_reason = reason if status is ReviewStatus.NOT_A_FIT else None
    intake.review_changed_dt = now
    intake.review_changed_by_id = user.id
    if status is ReviewStatus.NOT_A_FIT:
        db.session.add(
            IntakeNote(
                intake=intake, author_id=user.id, kind=NoteKind.NOTE, body=f"Not a fit now: {reason}", created_dt=now
            )
        )
    audit.record(
        user, AuditAction.STATUS_CHANGED, now, intake=intake, detail=f"status: {previous.value} -> {status.value}"
    )
    return {}


def add_note(user, intake, kind_value, body, now):
    """Add a note or a contact attempt to the thread; it cannot be edited later."""
    kind, body, errors = _choice_and_text(
        NoteKind, kind_value, ("kind", "Please choose what kind of entry this is."), body, ("body", NOTE_MAX)
    )
    if not body and "body" not in errors:
        errors["body"] = "Please write the note." if kind is NoteKind.NOTE else "Please add a line about the contact."
    if errors:
        return errors
    db.session.add(IntakeNote(intake=intake, author_id=user.id, kind=kind, body=body, created_dt=now))
    action = AuditAction.CONTACT_LOGGED if kind.is_contact else AuditAction.NOTE_ADDED
    audit.record(user, action, now, intake=intake, detail=f"kind: {kind.value}")
    return {}


def notes(intake):
    return intake.notes.all()


def status_history(intake):
    """Who changed the review status and when, oldest first, read from the audit trail."""
    events = audit.events_for(AuditEvent.intake_id == intake.id, AuditEvent.action == AuditAction.STATUS_CHANGED)
    return list(reversed(events))


def acknowledge_urgent(user, intake, action_taken, now):
    """Record that someone acted on the urgent answer, and what they did; the flag itself stays."""
    try:
        action_taken = clean_note(action_taken, NOTE_MAX)
    except InvalidField as error:
        return {"action_taken": str(error)}
    if not action_taken:
        return {"action_taken": "Please say what was done (for example: called, safety plan reviewed, clinician told)."}
    if not intake.has_open_urgent_flag:
        raise ReviewRefused("There is no open urgent answer on this intake.")
    intake.urgent_acknowledged_dt = now
    intake.urgent_acknowledged_by_id = user.id
    db.session.add(
        IntakeNote(
            intake=intake,
            author_id=user.id,
            kind=NoteKind.NOTE,
            body=f"Urgent answer followed up: {action_taken}",
            created_dt=now,
        )
    )
    audit.record(user, AuditAction.URGENT_ACKNOWLEDGED, now, intake=intake)
    return {}


def reassign(user, intake, clinician_id, now):
    """Give the consultation, at the same time, to another clinician who offers it and is free then."""
    booking = intake.booking
    _check_changeable(booking, now)
    clinician = scheduling.clinician_for_type(booking.consultation_type, clinician_id)
    if clinician is None:
        return {"clinician": "Please choose a clinician who offers this consultation."}
    if clinician.id == booking.clinician_id:
        return {"clinician": "That clinician already has this consultation."}
    previous_id = booking.clinician_id
    scheduling.reschedule(booking, booking.start_dt, now, clinician=clinician, by_staff=True)
    audit.record(
        user, AuditAction.CLINICIAN_CHANGED, now, intake=intake, detail=f"clinician: {previous_id} -> {clinician.id}"
    )
    return {}


def reschedule(user, intake, start_dt, now):
    booking = intake.booking
    _check_changeable(booking, now)
    scheduling.reschedule(booking, start_dt, now, by_staff=True)
    audit.record(user, AuditAction.RESCHEDULED, now, intake=intake, detail="new time")


def cancel(user, intake, reason, now):
    booking = intake.booking
    _check_changeable(booking, now)
    try:
        reason = clean_note(reason, REASON_MAX)
    except InvalidField as error:
        return {"cancel_reason": str(error)}
    if not reason:
        return {"cancel_reason": "Please give the reason (kept for the clinic, not sent to the patient)."}
    scheduling.cancel(booking, now, by="front_desk", reason=reason)
    audit.record(user, AuditAction.CANCELLED, now, intake=intake)
    return {}


def set_video_link(user, intake, link, now):
    """Give this one video consultation its own link (another service, a room already agreed); the patient is emailed.

    The audit row says that it changed, not the link: the address is the patient's way in.
    """
    booking = intake.booking
    _check_changeable(booking, now)
    if not booking.can_set_video_link(now):
        raise ReviewRefused("This consultation is not by video, so it has no video link to set.")
    try:
        link = clean_video_link(link)
    except InvalidField as error:
        return {"video_link": str(error)}
    scheduling.set_video_link(booking, link, now)
    audit.record(user, AuditAction.VIDEO_LINK_SET, now, intake=intake)
    return {}


def _check_changeable(booking, now):
    if booking.status is not BookingStatus.CONFIRMED:
        raise ReviewRefused("This consultation is no longer booked, so it cannot be changed.")
    if booking.start_dt <= now:
        raise ReviewRefused("This consultation has already started or passed.")


def free_starts(intake, now, days):
    """Times the booking's clinician could move it to, for the reschedule page."""
    booking = intake.booking
    window = Interval(now, now + timedelta(days=days))
    return scheduling.find_slots(
        booking.consultation_type,
        window,
        now,
        booking.clinician,
        exclude_booking_id=booking.id,
        rules=scheduling.staff_rules(booking.consultation_type),
    )
