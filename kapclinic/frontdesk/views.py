"""Front desk pages: the queue, the day sheet, the intake record, its exports, and changes on the patient's behalf.

Pages that show patient data open only from the staff site (`staff_site_only`), render
first, then record that they were shown (`_record_shown`); changes lock the intake and
booking, and write their audit row in the same transaction as the change.
"""

import csv
import io
import json
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Blueprint, abort, current_app, make_response, redirect, render_template, request, session, url_for
from flask_login import current_user

from kapclinic.accounts.models import Role
from kapclinic.accounts.policy import role_required
from kapclinic.audit import services as audit
from kapclinic.audit.models import AuditAction
from kapclinic.audit.reads import record_after_render, staff_site_only
from kapclinic.core.clinic import clinic
from kapclinic.core.phones import phone_link
from kapclinic.core.timezones import (
    day_title,
    format_clock,
    format_moment,
    format_time,
    now_utc,
    parse_instant,
    parse_local_date,
)
from kapclinic.core.unit_of_work import discard_changes, undone_if_refused
from kapclinic.core.urls import public_url
from kapclinic.courses import services as courses
from kapclinic.frontdesk import forms, services
from kapclinic.frontdesk.csv_safety import neutralise_row
from kapclinic.intake import fhir
from kapclinic.intake import services as intakes
from kapclinic.scheduling.services import SchedulingError

blueprint = Blueprint("frontdesk", __name__, url_prefix="/staff")
READERS = (Role.ADMIN, Role.FRONT_DESK, Role.CLINICIAN)
DESK = (Role.ADMIN, Role.FRONT_DESK)
RESCHEDULE_DAYS = 21
# What a change on the record did, shown once beside the part it changed (see _confirm).
CONFIRMATION = "frontdesk.confirmation"
BACK_MAX = 2000


def _intake_or_404(intake_id, for_update=False):
    intake = services.intake_for(current_user, intake_id, for_update=for_update)
    if intake is None:
        abort(404)
    return intake


def _record_shown(response, action, **subject):
    return record_after_render(response, lambda: audit.record(current_user, action, now_utc(), **subject))


def _queue_filters():
    """The filters live in the query string, so a view of the queue can be bookmarked, shared and gone Back to.

    The form is posted and answered with a redirect to that address: a search term may
    name a patient, so it reaches the URL only sealed (`find`), never as typed (`q`).
    """
    source = request.form if request.method == "POST" else {k: v for k, v in request.args.items() if k != "q"}
    zone = services.viewer_zone(current_user)
    return services.parse_filters(source, now_utc().astimezone(zone).date()), zone


def _queue_context(filters, errors):
    zone = services.viewer_zone(current_user)
    now = now_utc()
    rows, total = services.queue_page(current_user, filters, zone)
    clinicians = services.clinician_choices() if current_user.role is not Role.CLINICIAN else []
    query = filters.query_args()
    return {
        "filters": filters,
        "form": forms.queue_filter_form(filters, clinicians, errors),
        "has_clinicians": bool(clinicians),
        "query": query,
        "here": url_for("frontdesk.queue", **query, page=filters.page if filters.page > 1 else None),
        "rows": [
            {
                "intake": intake,
                "when": format_moment(intake.booking.start_dt, zone),
                "age": intakes.age_at_consultation(intake),
                "scores": services.score_lines(intake),
            }
            for intake in rows
        ],
        "total": total,
        "pages": max(1, -(-total // services.QUEUE_PAGE_SIZE)),
        "dashboard": services.dashboard(current_user, now, zone),
        "zone_name": zone.key,
    }


@blueprint.route("/intakes", methods=["GET", "POST"])
@role_required(*READERS)
@staff_site_only
def queue():
    (filters, errors), _ = _queue_filters()
    if request.method == "POST" and not errors:
        return redirect(url_for("frontdesk.queue", **filters.query_args()), 303)
    page = render_template("frontdesk/queue.html", **_queue_context(filters, errors))
    return _record_shown((page, 400 if errors else 200), AuditAction.QUEUE_VIEWED, detail=filters.describe())


@blueprint.get("/intakes.csv")
@role_required(*READERS)
@staff_site_only
def queue_csv():
    (filters, errors), zone = _queue_filters()
    if errors:
        abort(400, "; ".join(f"{field}: {message}" for field, message in errors.items()))
    output = io.StringIO()
    writer = csv.writer(output)
    writer.writerow(
        ["Reference", "Patient", "Email", "Age", f"Consultation ({zone.key})", "Clinician", "Status", "Flags"]
    )
    exported = services.all_queue_rows(current_user, filters, zone)
    for intake in exported:
        booking = intake.booking
        writer.writerow(
            neutralise_row(
                [
                    intake.public_id,
                    booking.patient_name,
                    booking.patient_email,
                    intakes.age_at_consultation(intake),
                    format_moment(booking.start_dt, zone),
                    booking.clinician.name,
                    intake.status_label,
                    services.flag_words(intake),
                ]
            )
        )
    response = make_response(output.getvalue())
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = 'attachment; filename="intakes.csv"'
    exported_ids = [intake.id for intake in exported]
    return record_after_render(response, lambda: services.record_export(current_user, exported_ids, filters, now_utc()))


def _back():
    """Where "Back" from a record goes: the queue or day sheet view it was opened from (`back`), else the queue.

    Only those pages' own paths are followed, with the query string rebuilt from its
    parsed pairs, so a crafted `back` can never send anyone to another site.
    """
    raw = request.values.get("back", "")
    parts = urlsplit(raw)
    lists = {url_for("frontdesk.queue"), url_for("frontdesk.day_sheet")}
    if len(raw) > BACK_MAX or parts.scheme or parts.netloc or parts.fragment or parts.path not in lists:
        return url_for("frontdesk.queue")
    query = urlencode(parse_qsl(parts.query))
    return parts.path + (f"?{query}" if query else "")


def _record_url(intake, anchor=None):
    """The record, keeping the way back to the view it was opened from."""
    back = _back()
    return url_for(
        "frontdesk.intake_record",
        intake_id=intake.id,
        back=None if back == url_for("frontdesk.queue") else back,
        _anchor=anchor,
    )


def _phone(number):
    return phone_link(number, current_app.config["CLINIC_PHONE_REGION"])


@blueprint.get("/day")
@role_required(*READERS)
@staff_site_only
def day_sheet():
    """One day's consultations on the clinic's calendar, for the desk and for print; a clinician sees their own."""
    zone = clinic().zone
    today = now_utc().astimezone(zone).date()
    try:
        day = parse_local_date(request.args["day"]) if request.args.get("day") else today
    except ValueError as error:
        form = forms.day_form(today, str(error))
        return render_template("frontdesk/day_sheet.html", form=form, day=None, today=today), 400
    bookings = services.day_sheet(current_user, day, zone)
    page = render_template(
        "frontdesk/day_sheet.html",
        form=forms.day_form(day),
        day=day,
        today=today,
        title=day_title(day),
        zone_name=zone.key,
        here=url_for("frontdesk.day_sheet", day=day.isoformat()),
        rows=[
            {
                "booking": booking,
                "intake": booking.intake,
                "time": format_time(booking.start_dt, zone),
                "until": format_clock(booking.end_dt, zone),
                "phone": _phone(booking.patient_phone),
                "state": booking.intake.status_label if booking.intake else "No questionnaire",
            }
            for booking in bookings
        ],
        flag_levels=services.FLAG_LEVELS,
        previous_url=url_for("frontdesk.day_sheet", day=(day - timedelta(days=1)).isoformat()),
        next_url=url_for("frontdesk.day_sheet", day=(day + timedelta(days=1)).isoformat()),
    )
    return _record_shown(page, AuditAction.DAY_SHEET_VIEWED, detail=f"day {day.isoformat()}")


def _record_context(intake, posted="", errors=None, values=None, confirmation=None):
    zone = services.viewer_zone(current_user)
    booking = intake.booking
    sections = intakes.answered_sections(intake)
    clinicians = [c for c in booking.consultation_type.active_clinicians if c.id != booking.clinician_id]
    back = _back()
    return {
        "intake": intake,
        "booking": booking,
        "back": back,
        "back_to_day_sheet": back.startswith(url_for("frontdesk.day_sheet")),
        "running_course": courses.running_course(booking.patient, now_utc()),
        "phone": _phone(booking.patient_phone),
        "summary": services.summary(intake, sections),
        "status_label": intake.status_label,
        "flag_levels": services.FLAG_LEVELS,
        "parts": services.answers_by_part(sections),
        "notes": services.notes(intake),
        "status_history": services.status_history(intake),
        "when": format_moment(booking.start_dt, zone),
        "patient_when": format_moment(booking.start_dt, booking.patient_zone),
        "format_in_zone": lambda moment: format_moment(moment, zone),
        "can_change_booking": current_user.can_change_bookings,
        "can_set_video_link": current_user.can_change_bookings and booking.can_set_video_link(now_utc()),
        "can_export": services.can_export(intake),
        "forms": forms.record_forms(intake, clinicians, posted, values, errors),
        "refused": (errors or {}).get("refused", ""),
        "confirmation": confirmation,
    }


def _render_record(intake, posted="", errors=None, values=None, status=200, confirmation=None):
    context = _record_context(intake, posted, errors, values, confirmation)
    return render_template("frontdesk/intake.html", **context), status


@blueprint.get("/intakes/<id:intake_id>")
@role_required(*READERS)
@staff_site_only
def intake_record(intake_id):
    intake = _intake_or_404(intake_id)
    page = _render_record(intake, confirmation=session.pop(CONFIRMATION, None))
    return _record_shown(page, AuditAction.INTAKE_VIEWED, intake=intake)


@blueprint.get("/intakes/<id:intake_id>/print")
@role_required(*READERS)
@staff_site_only
def intake_print(intake_id):
    intake = _intake_or_404(intake_id)
    page = render_template("frontdesk/intake_print.html", **_record_context(intake))
    return _record_shown(page, AuditAction.INTAKE_PRINTED, intake=intake)


@blueprint.get("/intakes/<id:intake_id>/questionnaire-response.json")
@role_required(*READERS)
@staff_site_only
def intake_fhir(intake_id):
    intake = _intake_or_404(intake_id)
    if not services.can_export(intake):
        abort(409, "Only a submitted intake answered on the current questionnaire version is exported.")
    resource = fhir.questionnaire_response_resource(
        services.fhir_answers(intake), public_url("scheduling.index").rstrip("/")
    )
    response = _json_download(resource, f"intake-{intake.public_id}.json")
    return _record_shown(response, AuditAction.INTAKE_EXPORTED, intake=intake)


@blueprint.get("/questionnaires/<version>.json")
@role_required(*READERS)
def questionnaire_definition(version):
    try:
        resource = fhir.questionnaire_resource(version, public_url("scheduling.index").rstrip("/"))
    except ValueError:
        abort(404)
    return _json_download(resource, f"questionnaire-{version}.json")


def _json_download(resource, filename):
    response = make_response(json.dumps(resource, indent=2, ensure_ascii=False))
    response.headers["Content-Type"] = "application/fhir+json; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _confirm(part, message):
    """Say what was done beside the part of the record it changed, where the redirect's anchor scrolls to."""
    session[CONFIRMATION] = {"part": part, "message": message}


def _changed(intake, form_name, errors, message, anchor):
    """Commit a change that passed validation, or show the record again (a view, recorded) with the messages."""
    if errors:
        return _shown_again(intake, form_name, errors, 422)
    _confirm(anchor, message)
    return redirect(_record_url(intake, anchor))


def _shown_again(intake, form_name, errors, status):
    discard_changes()
    page = _render_record(intake, form_name, errors, request.form.to_dict(), status)
    return _record_shown(page, AuditAction.INTAKE_VIEWED, intake=intake)


def _apply(intake_id, form_name, change, message, anchor):
    """Lock the intake, make one change, and answer: a redirect, or the record again with the messages."""
    intake = _intake_or_404(intake_id, for_update=True)
    try:
        errors = change(intake)
    except (services.ReviewRefused, SchedulingError) as error:
        return _shown_again(intake, form_name, {"refused": str(error)}, 409)
    return _changed(intake, form_name, errors, message, anchor)


@blueprint.post("/intakes/<id:intake_id>/status")
@role_required(*READERS)
def change_status(intake_id):
    form = request.form
    return _apply(
        intake_id,
        "status",
        lambda intake: services.change_status(
            current_user, intake, form.get("status", ""), form.get("reason"), now_utc()
        ),
        "Status changed.",
        "review",
    )


@blueprint.post("/intakes/<id:intake_id>/notes")
@role_required(*READERS)
def add_note(intake_id):
    form = request.form
    return _apply(
        intake_id,
        "note",
        lambda intake: services.add_note(current_user, intake, form.get("kind", ""), form.get("body"), now_utc()),
        "Added to the thread.",
        "notes",
    )


@blueprint.post("/intakes/<id:intake_id>/urgent")
@role_required(*READERS)
def acknowledge_urgent(intake_id):
    return _apply(
        intake_id,
        "urgent",
        lambda intake: services.acknowledge_urgent(current_user, intake, request.form.get("action_taken"), now_utc()),
        "Recorded. The urgent answer is no longer open.",
        "urgent",
    )


@blueprint.post("/intakes/<id:intake_id>/clinician")
@role_required(*DESK)
def reassign(intake_id):
    raw = request.form.get("clinician_id", "")
    clinician_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else 0
    return _apply(
        intake_id,
        "reassign",
        lambda intake: services.reassign(current_user, intake, clinician_id, now_utc()),
        "Clinician changed. The patient has been sent the updated invite.",
        "consultation",
    )


@blueprint.route("/intakes/<id:intake_id>/reschedule", methods=["GET", "POST"])
@role_required(*DESK)
@staff_site_only  # the page names the patient
def reschedule(intake_id):
    intake = _intake_or_404(intake_id, for_update=request.method == "POST")
    now = now_utc()
    errors, status = {}, 200
    if request.method == "POST":
        status = 422
        try:
            start_dt = parse_instant(request.form.get("start", ""))
        except ValueError:
            start_dt, errors = None, {"start": "Please choose one of the times listed."}
        if start_dt is not None:
            try:
                with undone_if_refused():
                    services.reschedule(current_user, intake, start_dt, now)
            except (services.ReviewRefused, SchedulingError) as error:
                errors, status = {"start": str(error)}, 409
            else:
                _confirm("consultation", "Consultation moved. The patient has been sent the new time and invite.")
                return redirect(_record_url(intake, "consultation"))
    zone = services.viewer_zone(current_user)
    slots = services.free_starts(intake, now, RESCHEDULE_DAYS)
    choices = [(slot.start_dt.isoformat(), format_moment(slot.start_dt, zone)) for slot in slots]
    return render_template(
        "frontdesk/reschedule.html",
        intake=intake,
        booking=intake.booking,
        when=format_moment(intake.booking.start_dt, zone),
        form=forms.reschedule_form(intake.booking.clinician.name, choices, errors.get("start", "")),
        has_slots=bool(slots),
        record_url=_record_url(intake),
        back=_back(),
    ), (status if errors else 200)


@blueprint.post("/intakes/<id:intake_id>/video-link")
@role_required(*DESK)
def set_video_link(intake_id):
    return _apply(
        intake_id,
        "video_link",
        lambda intake: services.set_video_link(current_user, intake, request.form.get("video_link"), now_utc()),
        "Video link set. The patient has been sent the updated details and invite.",
        "consultation",
    )


@blueprint.post("/intakes/<id:intake_id>/cancel")
@role_required(*DESK)
def cancel(intake_id):
    return _apply(
        intake_id,
        "cancel",
        lambda intake: services.cancel(current_user, intake, request.form.get("reason"), now_utc()),
        "Cancelled. The patient has been emailed and the time is free again.",
        "consultation",
    )


@blueprint.get("/audit/intakes/<id:intake_id>")
@role_required(Role.ADMIN)
@staff_site_only
def patient_trail(intake_id):
    intake = _intake_or_404(intake_id)
    page = render_template(
        "frontdesk/trail.html",
        events=services.patient_trail(intake),
        intake=intake,
        subject_user=None,
        format_in_zone=_formatter(),
    )
    return _record_shown(page, AuditAction.TRAIL_READ, intake=intake, detail="patient trail")


@blueprint.get("/audit/users/<id:user_id>")
@role_required(Role.ADMIN)
@staff_site_only
def staff_trail(user_id):
    user = services.staff_user(user_id)
    if user is None:
        abort(404)
    page = render_template(
        "frontdesk/trail.html",
        events=services.staff_trail(user),
        intake=None,
        subject_user=user,
        format_in_zone=_formatter(),
    )
    return _record_shown(page, AuditAction.TRAIL_READ, subject_user=user, detail="staff trail")


def _formatter():
    zone = services.viewer_zone(current_user)
    return lambda moment: format_moment(moment, zone)
