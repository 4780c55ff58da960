"""Intake rules that need the database: create, save a step, score and flag, submit, guardian consent."""

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from flask import current_app
from sqlalchemy import func, insert, select

from kapclinic.core import tokens
from kapclinic.core.clinic import clinic
from kapclinic.core.errors import DomainError
from kapclinic.core.timezones import format_moment
from kapclinic.core.urls import public_url
from kapclinic.core.validation import plain_first_name
from kapclinic.extensions import db
from kapclinic.intake import questionnaire, screening
from kapclinic.intake.instruments import INSTRUMENTS, make_pcl5
from kapclinic.intake.models import GuardianEmailRequest, Intake, IntakeStatus, ResponseStatus, ReviewStatus
from kapclinic.notifications.services import queue_email


class IntakeClosed(DomainError):
    """The intake was submitted; the patient can read it but not change it."""

    def __init__(self):
        super().__init__("This questionnaire has been sent to the clinic, so it can no longer be changed.")


# The "correct and resend" form must not become a way to mail anyone at volume: an intake
# may resend the consent email this many times a day, and one address gets at most this
# many consent emails that patients asked for (first requests included) a day, across
# every intake. Counted in the database, in the transaction that queues the email, rather
# than in Flask-Limiter's storage: it holds across app processes and when Redis restarts or
# fails open, and a refused resend counts nothing. Per intake it is exact (the intake row is
# locked); per address, resends from different intakes at the same instant may each pass once.
GUARDIAN_EMAILS_A_DAY = 3
GUARDIAN_EMAIL_WINDOW = timedelta(days=1)


class GuardianEmailLimit(DomainError):
    """The consent email was sent as often as allowed today; nothing was sent or saved."""

    def __init__(self):
        super().__init__("The consent email has been sent as often as we allow today. Please try again tomorrow.")


@dataclass(frozen=True)
class StepOutcome:
    errors: dict
    answers: dict
    # This step's answers show a risk: the patient is shown crisis resources (every time).
    shows_support: bool = False


def create_for_booking(booking, now):
    """Start the booking's intake; return the token for the patient's questionnaire link."""
    token, token_hash = tokens.issue(tokens.INTAKE)
    if booking.id is None:
        db.session.flush()
    # One INSERT and no object: every booking makes an intake and nothing in its request reads
    # it back, so the unit of work has nothing to track (and the booking's absent intake is not
    # loaded to be replaced, as setting the relationship would).
    db.session.execute(
        insert(Intake),
        [
            {
                "public_id": str(uuid.uuid4()),
                "booking_id": booking.id,
                "token_hash": token_hash,
                "questionnaire_version": questionnaire.QUESTIONNAIRE_VERSION,
                "answers": {},
                "results": {},
                "created_dt": now,
                "updated_dt": now,
            }
        ],
    )
    return token


def renew_link(intake, keep_previous=True):
    """Issue a fresh questionnaire link for an email (a reminder, a reschedule) and return its token.

    The link before it keeps working, so a patient part-way through the form loses
    nothing; older ones stop. Without `keep_previous` every earlier link stops: the
    one sent to a mistyped address must not open the answers.
    """
    intake.previous_token_hash = intake.token_hash if keep_previous else None
    token, intake.token_hash = tokens.issue(tokens.INTAKE)
    return token


def _one(query, for_update):
    # Writers lock the row: two devices saving at once must not overwrite each other's steps.
    return db.session.scalar(query.with_for_update(of=Intake) if for_update else query)


def intake_for_token(token, for_update=False):
    """Find an intake from its questionnaire link (the newest or the one before); any other link finds none.

    One link, one purpose: a manage link forwarded to change a time must not open the answers.
    """
    intake_hash = tokens.stored_hash(token, tokens.INTAKE)
    if intake_hash is None:
        return None
    return _one(
        select(Intake).where((Intake.token_hash == intake_hash) | (Intake.previous_token_hash == intake_hash)),
        for_update,
    )


def intake_for_guardian_token(token, for_update=False):
    token_hash = tokens.stored_hash(token, tokens.GUARDIAN_CONSENT)
    if token_hash is None:
        return None
    return _one(select(Intake).where(Intake.guardian_token_hash == token_hash), for_update)


def age_on(date_of_birth, day):
    """Age in whole years on a calendar day (the caller decides whose calendar)."""
    return day.year - date_of_birth.year - ((day.month, day.day) < (date_of_birth.month, date_of_birth.day))


def _consultation_day(start_dt):
    """The date of a consultation starting at start_dt on the clinic's calendar.

    Ages are decided there, never in the zone the patient picked: from Kiritimati
    (UTC+14) a consultation is already tomorrow, which would skip a guardian's consent
    the day before an 18th birthday.
    """
    return start_dt.astimezone(clinic().zone).date()


def intake_date_of_birth(intake):
    raw = intake.answers.get("about", {}).get("date_of_birth")
    return date.fromisoformat(raw) if raw else None


def age_at_consultation(intake):
    """Age in whole years on the consultation's date in the clinic's calendar.

    When the booking and the intake give different dates of birth, the younger age
    counts (and screening flags the difference): changing a date must never skip
    a guardian's consent.
    """
    births = [intake.booking.patient_date_of_birth, intake_date_of_birth(intake)]
    return min(age_on(born, _consultation_day(intake.booking.start_dt)) for born in births if born is not None)


def is_minor(intake):
    return age_at_consultation(intake) < current_app.config["ADULT_AGE"]


def below_online_age(date_of_birth, start_dt):
    """Under MINIMUM_ONLINE_AGE on the day of a consultation starting at start_dt: booked by phone, with a
    parent or guardian (the booking form says so; the intake of a child staff booked asks to call)."""
    minimum = current_app.config["MINIMUM_ONLINE_AGE"]
    if age_on(date_of_birth, start_dt.date() - timedelta(days=2)) >= minimum:
        return False  # old enough on any calendar: the clinic's zone need not be read
    return age_on(date_of_birth, _consultation_day(start_dt)) < minimum


def is_below_online_age(intake):
    """From the date of birth given at booking, so that a typo in the intake cannot lock anyone out."""
    return below_online_age(intake.booking.patient_date_of_birth, intake.booking.start_dt)


def steps(intake):
    return questionnaire.steps_for(intake.answers, is_minor(intake))


def completed_step_keys(intake):
    """Steps whose saved answers pass validation as they stand."""
    return {step.key for step in steps(intake) if step.key in intake.answers}


def answered_sections(intake):
    """The saved answers grouped by step as the patient saw them, for reading back."""
    sections = []
    for step in steps(intake):
        saved = intake.answers.get(step.key, {})
        rows = [
            (question.text, questionnaire.answer_text(question, saved[question.link_id]))
            for question in step.questions
            if question.link_id in saved
        ]
        sections.append({"step": step, "rows": rows})
    return sections


def next_step(intake):
    done = completed_step_keys(intake)
    return next((step for step in steps(intake) if step.key not in done), None)


def _instrument(key):
    if key == "pcl5":
        return make_pcl5(current_app.config["PCL5_CUTOFF"])
    return INSTRUMENTS[key]


def compute_results(intake):
    """Score every finished instrument and run the screening rules."""
    scores = {}
    for step in steps(intake):
        if step.instrument and step.key in intake.answers:
            values = questionnaire.instrument_answers(step, intake.answers[step.key])
            scores[step.instrument] = _instrument(step.instrument).score(values)
    flags = screening.screen(
        intake.answers,
        scores,
        age_at_consultation(intake),
        current_app.config["ADULT_AGE"],
        booked_date_of_birth=intake.booking.patient_date_of_birth.isoformat(),
    )
    return scores, flags


def _store_results(intake, scores, flags, now):
    """Save scores and flags. An urgent flag, once raised, stays with the answer that raised it."""
    current = [flag.as_dict() for flag in flags]
    codes = {flag["code"] for flag in current}
    kept = [
        {**flag, "changed_dt": flag.get("changed_dt") or now.isoformat()}
        for flag in intake.results.get("flags", [])
        if flag["level"] == screening.URGENT and flag["code"] not in codes
    ]
    intake.results = {
        "scores": {
            key: {
                "total": score.total,
                "severity": score.severity,
                "flags": sorted(score.flags),
                "subscores": score.subscores,
            }
            for key, score in scores.items()
        },
        "flags": kept + current,
    }
    _mark_for_queue(intake)


def _mark_for_queue(intake):
    """Set the clear markers the queue filters on from the encrypted flags (is_urgent is raised apart, and stays)."""
    flags = intake.results.get("flags", [])
    levels = {flag["level"] for flag in flags}
    intake.needs_review = screening.CLINICIAN_REVIEW in levels
    intake.has_info_flags = screening.INFO in levels
    intake.is_adolescent = any(flag["code"] == screening.UNDER_ADULT_AGE for flag in flags)


def _urgent_codes(intake):
    return {flag["code"] for flag in intake.results.get("flags", []) if flag["level"] == screening.URGENT}


def _raise_urgent(intake, now, known_codes):
    """Mark the intake urgent (never cleared by a later answer) and alert the front desk.

    One alert while the urgent answer is open; once staff have acknowledged it, a new
    urgent answer opens it again and alerts again.
    """
    reopened = intake.urgent_acknowledged_dt is not None and _urgent_codes(intake) - known_codes
    if intake.is_urgent and not reopened:
        return
    intake.is_urgent = True
    intake.urgent_alert_dt = now
    intake.urgent_acknowledged_dt = None
    intake.urgent_acknowledged_by_id = None
    db.session.flush()
    queue_email(
        current_app.config["FRONT_DESK_EMAIL"],
        "intake_urgent",
        {"reference": intake.public_id, "record_url": public_url("frontdesk.intake_record", intake_id=intake.id)},
    )


def prefilled(intake, step):
    """What the booking already told us, offered as defaults on the first step."""
    if step.key != "about" or "about" in intake.answers:
        return {}
    booking = intake.booking
    return {
        "legal_name": booking.patient_name,
        "date_of_birth": booking.patient_date_of_birth.isoformat(),
        "phone": booking.patient_phone,
    }


def save_step(intake, step, form, now):
    """Validate and save one step; nothing is written when any answer is invalid."""
    if not intake.is_editable:
        raise IntakeClosed()
    answers, errors = questionnaire.validate_step(step, form, now.date())
    known_urgent = _urgent_codes(intake)
    if errors:
        # The step is not saved, but a risk answer on it is not ignored either.
        signals = screening.urgent_signals(step.key, answers)
        if signals:
            intake.results = {
                **intake.results,
                "flags": [flag.as_dict() for flag in signals] + intake.results.get("flags", []),
            }
            _raise_urgent(intake, now, known_urgent)
            db.session.flush()
        return StepOutcome(errors, answers, shows_support=bool(signals))
    intake.answers = {**intake.answers, step.key: answers}
    _keep_draft(intake, step.key, None)
    # Steps that no longer apply (trauma unticked) keep no answers.
    shown = {shown_step.key for shown_step in steps(intake)}
    intake.answers = {key: value for key, value in intake.answers.items() if key in shown}
    scores, flags = compute_results(intake)
    _store_results(intake, scores, flags, now)
    if screening.is_urgent(flags):
        _raise_urgent(intake, now, known_urgent)
    intake.updated_dt = now
    db.session.flush()
    shows_support = any(flag.level == screening.URGENT and flag.step == step.key for flag in flags)
    return StepOutcome({}, answers, shows_support=shows_support)


def save_for_later(intake, step, form, now):
    """Keep a page the patient must leave: saved as answers when they pass, or else kept as typed for next time.

    Either way nothing typed is lost, and a risk answer raises its flag as on "Save and continue".
    """
    outcome = save_step(intake, step, form, now)
    if outcome.errors:
        _keep_draft(intake, step.key, questionnaire.draft_values(step, form))
        intake.updated_dt = now
    return outcome


def _keep_draft(intake, step_key, typed):
    drafts = {key: value for key, value in (intake.draft_answers or {}).items() if key != step_key}
    if typed:
        drafts[step_key] = typed
    intake.draft_answers = drafts or None


def values_to_show(intake, step):
    """What a page opens with: what was typed when it was saved for later, else the saved answers, else defaults."""
    return (intake.draft_answers or {}).get(step.key) or intake.answers.get(step.key) or prefilled(intake, step)


def submit(intake, now):
    """Submit a finished intake. Minors wait for their guardian's signature."""
    if not intake.is_editable or is_below_online_age(intake):
        raise IntakeClosed()
    if next_step(intake) is not None:
        raise ValueError("not every step is complete")
    consent = intake.answers["consent"]
    intake.signed_dt = now
    intake.consent_version = questionnaire.CONSENT_VERSION
    intake.answers = {**intake.answers, "consent": {**consent, "signed_at": now.isoformat()}}
    intake.updated_dt = now
    if is_minor(intake):
        intake.status = IntakeStatus.AWAITING_GUARDIAN
        _send_guardian_request(intake, now, resend=False)
    else:
        _complete(intake, now)
    db.session.flush()


def consultation_moved(intake, now):
    """After a reschedule: a patient who is now under the adult age needs a guardian's consent again."""
    if intake.status is IntakeStatus.SUBMITTED and intake.guardian_signed_dt is None and is_minor(intake):
        intake.status = IntakeStatus.DRAFT
        intake.response_status = ResponseStatus.IN_PROGRESS
        intake.submitted_dt = None
        intake.updated_dt = now
        _store_results(intake, *compute_results(intake), now)


def change_guardian(intake, form, now):
    """Correct the guardian's details while their signature is awaited, and send them a new link.

    Raises GuardianEmailLimit, with nothing changed, once the day's consent emails are spent.
    """
    step = questionnaire.STEPS_BY_KEY["guardian"]
    answers, errors = questionnaire.validate_step(step, form, now.date())
    if errors:
        return StepOutcome(errors, answers)
    _check_guardian_email_limit(intake, answers["guardian_email"], now)
    intake.answers = {**intake.answers, "guardian": answers}
    intake.updated_dt = now
    _send_guardian_request(intake, now, resend=True)
    db.session.flush()
    return StepOutcome({}, answers)


def _guardian_mailbox_digest(address):
    """A keyed digest of the mailbox, so the count keeps no readable address; a +tag reaches the same mailbox."""
    local, _, domain = address.strip().lower().rpartition("@")
    return tokens.keyed_digest("guardian-mailbox", f"{local.split('+', 1)[0]}@{domain}")


def _guardian_emails_today(now):
    return select(func.count(GuardianEmailRequest.id)).where(
        GuardianEmailRequest.requested_dt > now - GUARDIAN_EMAIL_WINDOW
    )


def guardian_resends_left(intake, now):
    """How many more times today the patient may have the consent email sent again (a new address may have fewer).

    The pages say so before the patient types, and stop offering the form once none are left.
    """
    resends = db.session.scalar(
        _guardian_emails_today(now).where(GuardianEmailRequest.intake_id == intake.id, GuardianEmailRequest.is_resend)
    )
    return max(0, GUARDIAN_EMAILS_A_DAY - resends)


def _check_guardian_email_limit(intake, address, now):
    digest = _guardian_mailbox_digest(address)
    to_mailbox = db.session.scalar(_guardian_emails_today(now).where(GuardianEmailRequest.mailbox_digest == digest))
    if guardian_resends_left(intake, now) == 0 or to_mailbox >= GUARDIAN_EMAILS_A_DAY:
        raise GuardianEmailLimit()


def _send_guardian_request(intake, now, resend):
    """Email the guardian because the patient asked (submitting, or correcting the address): counted."""
    _request_guardian_consent(intake)
    db.session.add(
        GuardianEmailRequest(
            intake=intake,
            mailbox_digest=_guardian_mailbox_digest(intake.answers["guardian"]["guardian_email"]),
            is_resend=resend,
            requested_dt=now,
        )
    )


def _request_guardian_consent(intake, reminder=False):
    """Issue the guardian's link (replacing any earlier one) and email it to them.

    Whoever fills in the form chooses the recipient, so the email carries no free text
    the patient typed (not even the guardian's name), which would let anyone send their
    own words from the clinic's address: only the young person's first name, and only
    when it is plainly a name (core.validation.plain_first_name).
    """
    guardian_token, intake.guardian_token_hash = tokens.issue(tokens.GUARDIAN_CONSENT)
    queue_email(
        intake.answers["guardian"]["guardian_email"],
        "guardian_consent_request",
        {
            "consent_url": public_url("intake.guardian_consent", token=guardian_token),
            "reminder": reminder,
            "first_name": adolescent_first_name(intake),
            "consultation_when": format_moment(intake.booking.start_dt, clinic().zone),
        },
        # A reminder is pointless once the consultation has begun.
        expires_dt=intake.booking.start_dt if reminder else None,
    )


def adolescent_first_name(intake):
    """What the guardian's email and page call the young person: the name they go by, if plainly a name."""
    preferred = intake.answers.get("about", {}).get("preferred_name")
    return plain_first_name(preferred) or plain_first_name(intake.booking.patient_name)


def remind_guardian(intake):
    """The consultation is close and the guardian has not signed: send them a new link."""
    _request_guardian_consent(intake, reminder=True)


def _complete(intake, now):
    intake.status = IntakeStatus.SUBMITTED
    intake.response_status = ResponseStatus.COMPLETED
    intake.submitted_dt = now
    # A resubmission (after a move asked for a guardian again) is reviewed afresh.
    intake.review_status = ReviewStatus.AWAITING_REVIEW


def guardian_sign(intake, form, now):
    """Record the guardian's consent in their own words; the intake is then complete.

    Returns the per-field errors, with nothing recorded, when the form is incomplete.
    The caller checks Intake.guardian_may_sign first.
    """
    answers, errors = questionnaire.validate_step(questionnaire.GUARDIAN_SIGNATURE, form, now.date())
    if errors:
        return errors
    intake.guardian_consent = {
        "relationship": answers["relationship"],
        "signature": answers["signature"],
        "confirmed": answers["agree"],
        "statement": questionnaire.guardian_statement(adolescent_first_name(intake), clinic().name),
        "consent_version": questionnaire.GUARDIAN_CONSENT_VERSION,
        "signed_at": now.isoformat(),
    }
    intake.guardian_signed_dt = now
    intake.updated_dt = now
    _complete(intake, now)
    db.session.flush()
    return {}
