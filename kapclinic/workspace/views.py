"""Clinician workspace pages: weekly hours, date overrides, time off, and a preview of bookable slots."""

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from kapclinic.accounts.models import Role
from kapclinic.accounts.policy import role_required
from kapclinic.core.timezones import format_moment, format_time, now_utc
from kapclinic.extensions import db
from kapclinic.scheduling import availability as rules
from kapclinic.scheduling import services as scheduling
from kapclinic.scheduling.validation import InvalidField, clean_note
from kapclinic.workspace import services

blueprint = Blueprint("workspace", __name__, url_prefix="/staff")
MANAGERS = (Role.ADMIN, Role.CLINICIAN)


@blueprint.get("/availability")
@role_required(*MANAGERS)
def my_availability():
    if current_user.role is Role.CLINICIAN:
        return redirect(url_for("workspace.availability", clinician_id=current_user.clinician_id))
    return render_template("workspace/clinicians.html", clinicians=scheduling.active_clinicians())


def _hours_form_values(weekly):
    values = {}
    for weekday, ranges in weekly.items():
        for number, (start, end) in enumerate(ranges):
            values[f"d{weekday}_r{number}_start"] = f"{start:%H:%M}"
            values[f"d{weekday}_r{number}_end"] = f"{end:%H:%M}"
    return values


def _render_hours(clinician, values, errors, status=200):
    return (
        render_template(
            "workspace/hours.html",
            clinician=clinician,
            values=values,
            errors=errors,
            weekdays=rules.WEEKDAYS,
            ranges_per_day=rules.RANGES_PER_DAY,
        ),
        status,
    )


@blueprint.route("/clinicians/<int:clinician_id>/hours", methods=["GET", "POST"])
@role_required(*MANAGERS)
def weekly_hours(clinician_id):
    clinician = services.clinician_for(current_user, clinician_id)
    if request.method == "GET":
        return _render_hours(clinician, _hours_form_values(services.weekly_hours(clinician)), {})
    weekly, errors = rules.parse_weekly_hours(request.form)
    if errors:
        return _render_hours(clinician, request.form.to_dict(), errors, 422)
    services.replace_weekly_hours(clinician, weekly)
    db.session.commit()
    flash("Weekly hours saved. Patients see the new times at once.")
    return redirect(url_for("workspace.availability", clinician_id=clinician.id))


def _availability_page(clinician, errors=None, values=None, affected=(), status=200):
    now = now_utc()
    zone = clinician.zone
    preview = [
        (consultation_type, _slots_by_day(slots, zone)) for consultation_type, slots in services.preview(clinician, now)
    ]
    return (
        render_template(
            "workspace/availability.html",
            clinician=clinician,
            overrides=services.upcoming_overrides(clinician, now.astimezone(zone).date()),
            time_off=services.upcoming_time_off(clinician, now),
            preview=preview,
            errors=errors or {},
            values=values or {},
            affected=[(format_moment(booking.start_dt, zone), booking) for booking in affected],
            format_moment=format_moment,
        ),
        status,
    )


def _slots_by_day(slots, zone):
    days = {}
    for slot in slots:
        days.setdefault(slot.start_dt.astimezone(zone).date(), []).append(format_time(slot.start_dt, zone))
    return days


@blueprint.get("/clinicians/<int:clinician_id>/availability")
@role_required(*MANAGERS)
def availability(clinician_id):
    return _availability_page(services.clinician_for(current_user, clinician_id))


@blueprint.post("/clinicians/<int:clinician_id>/overrides")
@role_required(*MANAGERS)
def add_override(clinician_id):
    clinician = services.clinician_for(current_user, clinician_id)
    form = request.form
    errors = {}
    try:
        day = date.fromisoformat(form.get("on_date", "").strip())
    except ValueError:
        day = None
        errors["on_date"] = "Use a date like 2026-12-24."
    if day is not None and day < now_utc().astimezone(clinician.zone).date():
        errors["on_date"] = "Choose today or a later date."
    hours = None
    if form.get("kind") != "day_off":
        hours, range_errors = rules.parse_range(form.get("start"), form.get("end"), "override")
        errors.update({key.replace("override_", ""): message for key, message in range_errors.items()})
        if hours is None and not range_errors:
            errors["start"] = "Give the hours for that day, or choose a day off."
    if errors:
        return _availability_page(clinician, errors=errors, values=form.to_dict(), status=422)
    services.set_date_override(clinician, day, hours)
    affected = services.bookings_on(clinician, day)
    db.session.commit()
    flash(f"{day:%A %d %B %Y} is now {'a day off' if hours is None else 'set to other hours'}.")
    if affected:
        return _availability_page(clinician, affected=affected)
    return redirect(url_for("workspace.availability", clinician_id=clinician.id))


@blueprint.post("/clinicians/<int:clinician_id>/overrides/<day>/delete")
@role_required(*MANAGERS)
def remove_override(clinician_id, day):
    clinician = services.clinician_for(current_user, clinician_id)
    try:
        services.remove_date_override(clinician, date.fromisoformat(day))
    except ValueError:
        abort(404)
    db.session.commit()
    flash("The weekly hours apply again on that day.")
    return redirect(url_for("workspace.availability", clinician_id=clinician.id))


@blueprint.post("/clinicians/<int:clinician_id>/time-off")
@role_required(*MANAGERS)
def add_time_off(clinician_id):
    clinician = services.clinician_for(current_user, clinician_id)
    today = now_utc().astimezone(clinician.zone).date()
    span, errors = rules.parse_date_span(request.form.get("first_day"), request.form.get("last_day"), today)
    try:
        reason = clean_note(request.form.get("reason"), 200)
    except InvalidField as error:
        errors["reason"] = str(error)
    if errors:
        return _availability_page(clinician, errors=errors, values=request.form.to_dict(), status=422)
    affected = services.add_time_off(clinician, *span, reason)
    db.session.commit()
    flash("Time off saved.")
    if affected:
        return _availability_page(clinician, affected=affected)
    return redirect(url_for("workspace.availability", clinician_id=clinician.id))


@blueprint.post("/clinicians/<int:clinician_id>/time-off/<int:time_off_id>/delete")
@role_required(*MANAGERS)
def remove_time_off(clinician_id, time_off_id):
    clinician = services.clinician_for(current_user, clinician_id)
    services.remove_time_off(clinician, time_off_id)
    db.session.commit()
    flash("Time off removed.")
    return redirect(url_for("workspace.availability", clinician_id=clinician.id))
