"""Book for a caller: type -> the date-first picker patients use (with the staff's reach) -> the caller's details."""

import secrets

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from kapclinic.accounts.models import Role
from kapclinic.accounts.policy import role_required
from kapclinic.core.clinic import clinic
from kapclinic.core.timezones import format_moment, now_utc
from kapclinic.core.unit_of_work import undone_if_refused
from kapclinic.frontdesk.callers import book_for_caller
from kapclinic.scheduling import services as scheduling
from kapclinic.scheduling.forms import CallerDetailsForm, email_typo_to_ask_about
from kapclinic.scheduling.picker import SlotQuery, clinician_cards, details_context, place_refusal, slot_month

blueprint = Blueprint("callers", __name__, url_prefix="/staff/book")
DESK = (Role.ADMIN, Role.FRONT_DESK)


def _type_or_404(slug):
    consultation_type = scheduling.consultation_type_by_slug(slug)
    if consultation_type is None:
        abort(404, "There is no such consultation type to book, or it is no longer offered.")
    return consultation_type


def _query(consultation_type, now):
    """The picker's question in the caller's zone (the clinic's until the desk picks theirs), with staff rules."""
    return SlotQuery(
        consultation_type,
        request.args,
        now,
        default_tz=clinic().timezone,
        rules=scheduling.staff_rules(consultation_type),
    )


@blueprint.get("")
@role_required(*DESK)
def choose_type():
    return render_template("frontdesk/book_type.html", consultation_types=scheduling.consultation_types_to_book())


@blueprint.get("/<slug>")
@role_required(*DESK)
def choose_time(slug):
    consultation_type = _type_or_404(slug)
    now = now_utc()
    query = _query(consultation_type, now)
    month = slot_month(consultation_type, query, now, "callers.caller_details", "callers.choose_time", slug=slug)
    return render_template(
        "frontdesk/book_time.html",
        consultation_type=consultation_type,
        query=query,
        clinician_cards_shown=clinician_cards(consultation_type, query, "callers.choose_time", slug=slug),
        **month,
    ), (400 if query.errors else 200)


def _details_page(consultation_type, query, form, status=200, alternatives=(), **extra):
    # Said aloud to a caller elsewhere: the desk also sees the clinic's own clock for that time.
    clinic_zone = clinic().zone
    elsewhere = query.start_dt is not None and query.tz_name != clinic_zone.key
    return render_template(
        "frontdesk/book_details.html",
        **details_context(consultation_type, query, form, alternatives),
        when_clinic=format_moment(query.start_dt, clinic_zone) if elsewhere else "",
        **extra,
    ), status


@blueprint.route("/<slug>/details", methods=["GET", "POST"])
@role_required(*DESK)
def caller_details(slug):
    consultation_type = _type_or_404(slug)
    now = now_utc()
    query = _query(consultation_type, now)
    if query.start_dt is None and "start" not in query.errors:
        query.errors["start"] = "Choose a time first."
    elif query.start_dt is not None and query.start_dt <= now:
        query.errors["start"] = "That time has already passed. Choose another."
    if query.errors:
        return _details_page(consultation_type, query, None, 400)
    form = CallerDetailsForm()
    if request.method == "GET":
        form.idempotency_key.data = secrets.token_urlsafe(24)
        return _details_page(consultation_type, query, form)
    if not form.validate():
        return _details_page(consultation_type, query, form, 422)
    typo = email_typo_to_ask_about(form)
    if typo is not None:
        return _details_page(consultation_type, query, form, email_typo=typo)
    patient = form.patient(query.tz_name)
    try:
        with undone_if_refused():
            outcome = book_for_caller(
                current_user,
                consultation_type,
                query.clinician,
                query.start_dt,
                patient,
                now,
                form.idempotency_key.data,
            )
    except scheduling.SlotTaken as taken:
        return _details_page(consultation_type, query, form, 409, taken=True, alternatives=taken.alternatives)
    except scheduling.SchedulingError as refused:
        place_refusal(refused, form, query)
        return _details_page(consultation_type, query, form, 422)
    flash(
        "Booked. The caller's confirmation email, with the calendar invite and the questionnaire link, is on its way."
    )
    return redirect(url_for("frontdesk.intake_record", intake_id=outcome.booking.intake.id))
