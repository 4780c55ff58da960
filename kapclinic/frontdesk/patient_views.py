"""Patient records for the front desk and admins: find one, read it, correct it, merge two, split one.

A search is posted and answered with a redirect to an address that carries it sealed
(`find`), as the queue's is: it may be a name, which never reaches a URL or a log. Every
page that shows a record writes its audit row after rendering; every change writes one
with the change.
"""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from kapclinic.accounts.models import Role
from kapclinic.accounts.policy import role_required
from kapclinic.audit import services as audit
from kapclinic.audit.models import AuditAction
from kapclinic.audit.reads import record_after_render, staff_site_only
from kapclinic.core.crypto import seal, unseal
from kapclinic.core.phones import phone_link
from kapclinic.core.timezones import format_moment, now_utc, short_date
from kapclinic.core.unit_of_work import undone_if_refused
from kapclinic.courses import services as courses
from kapclinic.frontdesk import patients as records
from kapclinic.frontdesk.forms import PatientRecordForm, PatientSearchForm, SplitForm
from kapclinic.frontdesk.services import SEARCH_LINK_BROKEN, SEARCH_MAX, viewer_zone
from kapclinic.patients import services as patients
from kapclinic.patients.services import PatientError

blueprint = Blueprint("patients", __name__, url_prefix="/staff/patients")
DESK = (Role.ADMIN, Role.FRONT_DESK)


@blueprint.context_processor
def _formats():
    return {"format_moment": format_moment, "short_date": short_date}


def _record_or_404(public_id, for_update=False):
    patient = records.record_for(public_id, for_update=for_update)
    if patient is None:
        abort(404)
    return patient


def _shown(page, action, detail=""):
    return record_after_render(page, lambda: audit.record(current_user, action, now_utc(), detail=detail))


def _search_from_link():
    """The sealed search of the address, or None; a tampered or retired one is the caller's 400."""
    if "find" not in request.args:
        return None
    try:
        return unseal(request.args["find"])[:SEARCH_MAX]
    except ValueError:
        abort(400, SEARCH_LINK_BROKEN)


def _search_page(template, action_url, **context):
    """A search box and what it found: for the record list and for a record's "merge another into this"."""
    if request.method == "POST":
        typed = " ".join(request.form.get("q", "").split())[:SEARCH_MAX]
        return redirect(f"{action_url}?find={seal(typed)}" if typed else action_url)
    search = _search_from_link()
    form = PatientSearchForm(data={"q": search or ""})
    found = patients.find(search, current_app.config["CLINIC_PHONE_REGION"]) if search else None
    page = render_template(template, form=form, found=found, search=search, action_url=action_url, **context)
    return _shown(page, AuditAction.PATIENTS_SEARCHED) if search else page


@blueprint.route("", methods=["GET", "POST"])
@role_required(*DESK)
@staff_site_only
def find_patient():
    return _search_page("frontdesk/patients.html", url_for("patients.find_patient"))


@blueprint.get("/<uuid:patient_id>")
@role_required(*DESK)
@staff_site_only
def patient_record(patient_id):
    patient = _record_or_404(str(patient_id))
    if patient.public_id != str(patient_id):
        return redirect(url_for("patients.patient_record", patient_id=patient.public_id))
    now = now_utc()
    page = render_template(
        "frontdesk/patient.html",
        patient=patient,
        sessions=records.sessions_of(patient, now),
        courses=courses.courses_of(patient),
        gates=courses.gates_of(patient),
        zone=viewer_zone(current_user),
        phone=phone_link(patient.phone, current_app.config["CLINIC_PHONE_REGION"]),
        now=now,
    )
    return record_after_render(page, lambda: records.record_viewed(current_user, patient, now_utc()))


def _form_values(form):
    return form.name.data, form.email.data, form.phone.data, form.date_of_birth.data


@blueprint.route("/<uuid:patient_id>/edit", methods=["GET", "POST"])
@role_required(*DESK)
@staff_site_only
def edit_patient(patient_id):
    patient = _record_or_404(str(patient_id), for_update=request.method == "POST")
    form = PatientRecordForm(
        data={
            "name": patient.name,
            "email": patient.email,
            "phone": patient.phone,
            "date_of_birth": patient.date_of_birth.isoformat(),
        }
    )
    if form.validate_on_submit():
        with undone_if_refused():
            records.update_contact(current_user, patient, *_form_values(form), now_utc())
            flash("The patient's details are saved. Emails from now on go to the address shown.")
            return redirect(url_for("patients.patient_record", patient_id=patient.public_id))
    status = 422 if form.is_submitted() else 200
    return render_template("frontdesk/patient_edit.html", patient=patient, form=form), status


@blueprint.route("/<uuid:patient_id>/merge", methods=["GET", "POST"])
@role_required(*DESK)
@staff_site_only
def find_duplicate(patient_id):
    patient = _record_or_404(str(patient_id))
    return _search_page(
        "frontdesk/patient_merge_find.html",
        url_for("patients.find_duplicate", patient_id=patient.public_id),
        patient=patient,
    )


@blueprint.route("/<uuid:patient_id>/merge/<uuid:other_patient_id>", methods=["GET", "POST"])
@role_required(*DESK)
@staff_site_only
def merge_patient(patient_id, other_patient_id):
    for_update = request.method == "POST"
    patient = _record_or_404(str(patient_id), for_update=for_update)
    duplicate = _record_or_404(str(other_patient_id), for_update=for_update)
    now = now_utc()
    error = None
    if request.method == "POST":
        try:
            with undone_if_refused():
                records.merge(current_user, patient, duplicate, now, viewer_zone(current_user))
                flash("The records are merged: every session of the other record is on this one now.")
                return redirect(url_for("patients.patient_record", patient_id=patient.public_id))
        except PatientError as refused:
            error = refused.message
    page = render_template(
        "frontdesk/patient_merge.html",
        patient=patient,
        duplicate=duplicate,
        kept_sessions=records.sessions_of(patient, now),
        duplicate_sessions=records.sessions_of(duplicate, now),
        zone=viewer_zone(current_user),
        error=error,
    )
    if error:
        return page, 409
    return _shown(page, AuditAction.PATIENT_VIEWED, f"patient {duplicate.public_id} compared for merging")


@blueprint.route("/<uuid:patient_id>/split", methods=["GET", "POST"])
@role_required(*DESK)
@staff_site_only
def split_patient(patient_id):
    patient = _record_or_404(str(patient_id), for_update=request.method == "POST")
    now = now_utc()
    zone = viewer_zone(current_user)
    form = SplitForm()
    form.bookings.choices = [
        (booking.public_id, records.session_label(booking, zone)) for booking in records.bookings_of(patient)
    ]
    if form.validate_on_submit():
        try:
            with undone_if_refused():
                other = records.split(current_user, patient, form.bookings.data, *_form_values(form), now)
                flash("The chosen sessions are on their own record now. Check the details below.")
                return redirect(url_for("patients.patient_record", patient_id=other.public_id))
        except PatientError as refused:
            target = form[refused.field] if refused.field in form else None
            if target is not None:
                target.errors = [*target.errors, refused.message]
            else:
                form.form_errors.append(refused.message)
    status = 422 if form.is_submitted() else 200
    return render_template("frontdesk/patient_split.html", patient=patient, form=form), status
