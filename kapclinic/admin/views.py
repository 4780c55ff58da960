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
from kapclinic.core.errors import DomainError
from kapclinic.core.timezones import format_moment, is_place_zone, now_utc, zone_choices
from kapclinic.core.unit_of_work import undone_if_refused
from kapclinic.extensions import db
from kapclinic.scheduling import services as scheduling
from kapclinic.scheduling.models import ConsultationType
from kapclinic.scheduling.profiles import ClinicianProfile

blueprint = Blueprint("admin", __name__, url_prefix="/staff/admin")


@blueprint.get("/users")
@role_required(Role.ADMIN)
def users():
    return render_template("admin/users.html", users=services.staff_users())


def _user_or_404(user_id):
    user = db.session.get(StaffUser, user_id)
    if user is None:
        abort(404)
    return user


def _staff_form(user=None):
    """The staff user form with its choices: active consultation types, and places' zones with theirs (or the
    clinic's) first."""
    clinician = user.clinician if user is not None else None
    zone = clinician.timezone if clinician is not None else clinic().timezone
    form = StaffUserForm(obj=user)
    form.timezone.choices = [
        SelectChoice(name, label) for name, label in zone_choices(now_utc(), zone) if is_place_zone(name)
    ]
    form.consultation_types.choices = [
        SelectChoice(item.id, item.name) for item in scheduling.active_consultation_types()
    ]
    if not form.is_submitted():
        form.timezone.data = zone
        if clinician is not None:
            form.credentials.data = clinician.credentials
            form.bio.data = clinician.bio
            form.consultation_types.data = [item.id for item in clinician.consultation_types]
    return form


def _profile(form):
    """The clinician profile the form describes, or None for another role."""
    if form.role.data != Role.CLINICIAN.value:
        return None
    return ClinicianProfile(
        timezone=form.timezone.data,
        credentials=form.credentials.data,
        bio=form.bio.data,
        consultation_type_ids=tuple(form.consultation_types.data),
        photo=form.photo.data,
        remove_photo=form.remove_photo.data,
    )


def _user_page(form, user, status):
    return render_template("admin/user_form.html", form=form, user=user), status


def _refused(form, user, error):
    """Show a service's refusal next to the field it names (or above the form), writing nothing."""
    field = form._fields.get(error.field or "")
    if field is None:
        form.form_errors.append(str(error))
    else:
        field.errors = [str(error)]
    return _user_page(form, user, 422)


@blueprint.route("/users/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def new_user():
    form = _staff_form()
    if not form.validate_on_submit():
        return _user_page(form, None, 422 if form.is_submitted() else 200)
    try:
        with undone_if_refused():
            user = accounts.invite_user(
                form.email.data, form.name.data, form.role.data, now_utc(), profile=_profile(form), by=current_user
            )
    except DomainError as error:
        return _refused(form, None, error)
    flash(f"{user.name} can now choose a password from the link emailed to {user.email}.")
    return redirect(url_for("admin.users"))


@blueprint.route("/users/<id:user_id>", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def edit_user(user_id):
    user = _user_or_404(user_id)
    form = _staff_form(user)
    if not form.validate_on_submit():
        return _user_page(form, user, 422 if form.is_submitted() else 200)
    try:
        with undone_if_refused():
            changed = accounts.update_user(
                user, form.name.data, form.email.data, form.role.data, now_utc(), _profile(form), by=current_user
            )
    except DomainError as error:
        return _refused(form, user, error)
    flash(f"{user.name}: changes saved." if changed else f"{user.name}: nothing changed.")
    return redirect(url_for("admin.users"))


@blueprint.get("/users/<id:user_id>/deactivate")
@role_required(Role.ADMIN)
def confirm_deactivate(user_id):
    """Ask before deactivating: what ends at once, and how many consultations will need another clinician."""
    user = _user_or_404(user_id)
    if user.id == current_user.id:
        abort(409, "You cannot deactivate your own account.")
    upcoming = services.upcoming_consultations(user.clinician, now_utc()) if user.clinician else []
    return render_template("admin/user_deactivate.html", user=user, upcoming_count=len(upcoming))


@blueprint.post("/users/<id:user_id>/<any(activate, deactivate):action>")
@role_required(Role.ADMIN)
def set_active(user_id, action):
    user = _user_or_404(user_id)
    if user.id == current_user.id:
        abort(409, "You cannot deactivate your own account.")
    now = now_utc()
    try:
        accounts.set_active(user, action == "activate", now, by=current_user)
    except accounts.AccountError as error:
        abort(409, str(error))
    if action == "activate":
        flash(f"{user.name} is active.")
        return redirect(url_for("admin.users"))
    flash(f"{user.name} is deactivated; their sessions have ended.")
    if user.clinician is not None and services.upcoming_consultations(user.clinician, now):
        return redirect(url_for("admin.user_consultations", user_id=user.id))
    return redirect(url_for("admin.users"))


@blueprint.get("/users/<id:user_id>/consultations")
@role_required(Role.ADMIN)
@staff_site_only
def user_consultations(user_id):
    """A clinician's upcoming consultations, each linked to its front-desk record to give to another clinician,
    move or cancel."""
    user = _user_or_404(user_id)
    if user.clinician is None:
        abort(404)
    page = render_template(
        "admin/user_consultations.html",
        user=user,
        bookings=services.upcoming_consultations(user.clinician, now_utc()),
        zone=clinic().zone,
        format_moment=format_moment,
    )
    return _recorded(page, AuditAction.UPCOMING_VIEWED, subject_user=user)


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
    form.clinicians.choices = [
        SelectChoice(clinician.id, clinician.display_name) for clinician in scheduling.active_clinicians()
    ]
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
            told = services.save_consultation_type(
                current_user, consultation_type, form.data, form.clinicians.data, now_utc()
            )
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
    services.save_clinic_settings(
        current_user, form.data, now_utc(), logo=form.logo.data, remove_logo=form.remove_logo.data
    )
    flash("Clinic settings saved.")
    return redirect(url_for("admin.settings"))


def _recorded(page, action, **subject):
    return record_after_render(page, lambda: audit.record(current_user, action, now_utc(), **subject))


@blueprint.get("/outbox")
@role_required(Role.ADMIN)
@staff_site_only
def outbox():
    page = render_template(
        "admin/outbox.html",
        overview=services.outbox_overview(now_utc()),
        zone=clinic().zone,
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
        zone=clinic().zone,
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
                zone=clinic().zone,
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
        services.retry_failed(current_user, now_utc(), message_id)
    except services.UnknownMessage:
        abort(404)
    except services.NotFailed as error:
        abort(409, str(error))
    flash(f"Message {message_id} is queued again; the worker sends it on its next round.")
    return redirect(url_for("admin.outbox"))


@blueprint.post("/outbox/retry-failed")
@role_required(Role.ADMIN)
def retry_all_failed():
    retried = services.retry_failed(current_user, now_utc())
    flash(
        f"Queued again: {retried} failed message{'' if retried == 1 else 's'}. The worker sends them on its next round."
    )
    return redirect(url_for("admin.outbox"))
