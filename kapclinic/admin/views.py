"""Admin pages: staff users, consultation types, clinic settings, the email outbox and bursts of bookings."""

from datetime import timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from wtforms import SelectChoice

from kapclinic.accounts import services as accounts
from kapclinic.accounts.models import Role, StaffUser
from kapclinic.accounts.policy import role_required
from kapclinic.admin import services
from kapclinic.admin.forms import CancelBurstForm, ClinicSettingsForm, ConsultationTypeForm, StaffUserForm
from kapclinic.audit import services as audit
from kapclinic.audit.models import AuditAction
from kapclinic.audit.reads import record_after_render, staff_site_only
from kapclinic.core import validation
from kapclinic.core.clinic import clinic
from kapclinic.core.clinic import save as save_clinic_settings
from kapclinic.core.timezones import format_moment, get_zone, now_utc
from kapclinic.core.unit_of_work import undone_if_refused
from kapclinic.extensions import db
from kapclinic.scheduling.models import Clinician, ConsultationType
from kapclinic.scheduling.services import active_clinicians

blueprint = Blueprint("admin", __name__, url_prefix="/staff/admin")


@blueprint.get("/users")
@role_required(Role.ADMIN)
def users():
    return render_template("admin/users.html", users=services.staff_users())


@blueprint.route("/users/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def new_user():
    form = StaffUserForm()
    form.clinician_id.choices = [SelectChoice(0, "—")] + [
        SelectChoice(clinician.id, clinician.display_name) for clinician in services.unlinked_clinicians()
    ]
    if not form.validate_on_submit():
        return render_template("admin/user_form.html", form=form), 422 if form.is_submitted() else 200
    clinician = db.session.get(Clinician, form.clinician_id.data) if form.role.data == Role.CLINICIAN.value else None
    try:
        with undone_if_refused():
            user = accounts.invite_user(form.email.data, form.name.data, form.role.data, now_utc(), clinician=clinician)
    except accounts.AccountError as error:
        field = form.email if error.field == "email" else form.clinician_id
        field.errors = [str(error)]
        return render_template("admin/user_form.html", form=form), 422
    flash(f"{user.name} can now choose a password from the link emailed to {user.email}.")
    return redirect(url_for("admin.users"))


@blueprint.post("/users/<id:user_id>/<any(activate, deactivate):action>")
@role_required(Role.ADMIN)
def set_active(user_id, action):
    user = db.session.get(StaffUser, user_id)
    if user is None:
        abort(404)
    if user.id == current_user.id:
        abort(409, "You cannot deactivate your own account.")
    try:
        accounts.set_active(user, action == "activate", now_utc())
    except accounts.AccountError as error:
        abort(409, str(error))
    flash(f"{user.name} is {'active' if action == 'activate' else 'deactivated; their sessions have ended'}.")
    return redirect(url_for("admin.users"))


@blueprint.get("/types")
@role_required(Role.ADMIN)
def consultation_types():
    return render_template("admin/types.html", consultation_types=services.all_consultation_types())


@blueprint.route("/types/new", methods=["GET", "POST"], defaults={"type_id": None})
@blueprint.route("/types/<id:type_id>", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def edit_type(type_id):
    consultation_type = None
    if type_id is not None:
        consultation_type = db.session.get(ConsultationType, type_id)
        if consultation_type is None:
            abort(404)
    form = ConsultationTypeForm(obj=consultation_type)
    form.clinicians.choices = [SelectChoice(clinician.id, clinician.display_name) for clinician in active_clinicians()]
    if consultation_type is not None:
        form.slug.data = consultation_type.slug  # links already sent keep working
        if not form.is_submitted():
            form.clinicians.data = [clinician.id for clinician in consultation_type.clinicians]
            form.modality.data = consultation_type.modality.value
    if not form.validate_on_submit():
        status = 422 if form.is_submitted() else 200
        return render_template("admin/type_form.html", form=form, consultation_type=consultation_type), status
    try:
        with undone_if_refused():
            told = services.save_consultation_type(consultation_type, form.data, form.clinicians.data, now_utc())
    except services.SlugTaken as error:
        form.slug.errors = [str(error)]
        return render_template("admin/type_form.html", form=form, consultation_type=consultation_type), 422
    flash(
        "Consultation type saved."
        + (f" {told} patient(s) with upcoming consultations were sent an updated invite." if told else "")
    )
    return redirect(url_for("admin.consultation_types"))


@blueprint.route("/settings", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def settings():
    profile = clinic()
    form = ClinicSettingsForm(obj=profile, accent_colour=profile.accent_colour or validation.DEFAULT_ACCENT)
    if not form.validate_on_submit():
        return render_template("admin/settings.html", form=form), 422 if form.is_submitted() else 200
    save_clinic_settings(form.data, now_utc(), logo=form.logo.data, remove_logo=form.remove_logo.data)
    flash("Clinic settings saved.")
    return redirect(url_for("admin.settings"))


def _recorded(page, action):
    return record_after_render(page, lambda: audit.record(current_user, action, now_utc()))


@blueprint.get("/outbox")
@role_required(Role.ADMIN)
@staff_site_only
def outbox():
    page = render_template(
        "admin/outbox.html",
        overview=services.outbox_overview(now_utc()),
        zone=get_zone(clinic().timezone),
        format_moment=format_moment,
    )
    return _recorded(page, AuditAction.OUTBOX_VIEWED)


def _burst_settings():
    config = current_app.config
    return config["BURST_MIN_BOOKINGS"], timedelta(hours=config["BURST_WINDOW_HOURS"])


@blueprint.get("/bursts")
@role_required(Role.ADMIN)
@staff_site_only
def bursts():
    min_count, window = _burst_settings()
    page = render_template(
        "admin/bursts.html",
        bursts=services.booking_bursts(now_utc(), min_count, window),
        min_count=min_count,
        window_hours=current_app.config["BURST_WINDOW_HOURS"],
        zone=get_zone(clinic().timezone),
        format_moment=format_moment,
    )
    return _recorded(page, AuditAction.BURSTS_VIEWED)


@blueprint.post("/bursts/cancel")
@role_required(Role.ADMIN)
def cancel_burst():
    form = CancelBurstForm()
    if not form.validate():
        abort(400, "Tick the bookings to cancel on the bursts page.")
    now = now_utc()
    try:
        if not form.confirmed.data:
            bookings = services.bookings_to_cancel(form.booking_ids.data, now, *_burst_settings())
            return render_template(
                "admin/burst_cancel.html",
                bookings=bookings,
                zone=get_zone(clinic().timezone),
                format_moment=format_moment,
            )
        cancelled = services.cancel_burst(current_user, form.booking_ids.data, now, *_burst_settings())
    except services.NotInABurst as refused:
        abort(400, str(refused))
    flash(
        f"Cancelled {cancelled} booking{'' if cancelled == 1 else 's'}. Each patient has been emailed why and how to "
        "book again; those who had a calendar invite were sent an update."
    )
    return redirect(url_for("admin.bursts"))


@blueprint.post("/outbox/<id:message_id>/retry")
@role_required(Role.ADMIN)
def retry_message(message_id):
    try:
        services.retry_failed(now_utc(), message_id)
    except services.UnknownMessage:
        abort(404)
    except services.NotFailed as error:
        abort(409, str(error))
    flash(f"Message {message_id} is queued again; the worker sends it on its next round.")
    return redirect(url_for("admin.outbox"))


@blueprint.post("/outbox/retry-failed")
@role_required(Role.ADMIN)
def retry_all_failed():
    retried = services.retry_failed(now_utc())
    flash(
        f"Queued again: {retried} failed message{'' if retried == 1 else 's'}. The worker sends them on its next round."
    )
    return redirect(url_for("admin.outbox"))
