"""Clinician workspace pages: weekly hours, date overrides, time off, a preview of bookable slots, the schedule.

The schedule pages and calendar exports show patients' names: like the front desk's
pages they open only from the staff site and are recorded in the audit trail after
they render; outcomes and cancellations write their row with the change.
"""

from datetime import timedelta

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, session, url_for
from flask_login import current_user

from kapclinic.accounts.models import Role
from kapclinic.accounts.policy import role_required
from kapclinic.audit.reads import record_after_render, staff_site_only
from kapclinic.core.timezones import format_moment, format_time, format_time_of_day, now_utc, parse_local_date
from kapclinic.core.urls import public_url
from kapclinic.core.validation import InvalidField, clean_note
from kapclinic.ics.services import staff_calendar
from kapclinic.scheduling import availability as rules
from kapclinic.scheduling import services as scheduling
from kapclinic.scheduling.models import BookingStatus
from kapclinic.scheduling.slots import utc_window_for_local_dates
from kapclinic.workspace import services
from kapclinic.workspace.forms import (
    CancelForm,
    DateOverrideForm,
    OfferingForm,
    ReplaceFeedForm,
    TimeOffForm,
    WeeklyHoursForm,
)

blueprint = Blueprint("workspace", __name__, url_prefix="/staff")
MANAGERS = (Role.ADMIN, Role.CLINICIAN)


@blueprint.get("/availability")
@role_required(*MANAGERS)
def my_availability():
    if current_user.role is Role.CLINICIAN:
        return redirect(url_for("workspace.availability", clinician_id=current_user.clinician_id))
    return render_template("workspace/clinicians.html", clinicians=scheduling.active_clinicians())


def _render_hours(clinician, form, shown, note=None, status=200):
    return (
        render_template(
            "workspace/hours.html",
            clinician=clinician,
            form=form,
            shown=shown,
            note=note,
            weekdays=rules.WEEKDAYS,
            rows=range(rules.MAX_RANGES_PER_DAY),
        ),
        status,
    )


@blueprint.route("/clinicians/<id:clinician_id>/hours", methods=["GET", "POST"])
@role_required(*MANAGERS)
def weekly_hours(clinician_id):
    """Save the hours, or (add a range, remove one, copy to weekdays without JavaScript) show them again unsaved."""
    clinician = services.clinician_for(current_user, clinician_id)
    if request.method == "GET":
        values = rules.hours_values(services.weekly_hours(clinician))
        return _render_hours(clinician, WeeklyHoursForm(formdata=None, data=values), rules.rows_shown(values))
    typed = WeeklyHoursForm().typed()
    action = request.form.get("action", "save")
    if action != "save":
        try:
            values, shown, note = rules.edit_hours(typed, action)
        except ValueError:
            abort(400, "That button is not on this page.")
        return _render_hours(clinician, WeeklyHoursForm(formdata=None, data=values), shown, note)
    weekly, errors = rules.parse_weekly_hours(typed)
    if errors:
        return _render_hours(clinician, WeeklyHoursForm().show_errors(errors), rules.rows_shown(typed), status=422)
    services.replace_weekly_hours(clinician, weekly)
    flash("Weekly hours saved. Patients see the new times at once.")
    return redirect(url_for("workspace.availability", clinician_id=clinician.id))


def _availability_page(clinician, affected=(), status=200, **submitted):
    """The availability page; a form sent back in `submitted` (offering_form, ...) replaces its empty one."""
    now = now_utc()
    zone = clinician.zone
    preview = [
        (consultation_type, _slots_by_day(slots, zone)) for consultation_type, slots in services.preview(clinician, now)
    ]
    saved_limits = {"max_per_day": clinician.max_per_day or "", "min_gap_minutes": clinician.min_gap_minutes}
    forms = {
        "offering_form": OfferingForm(formdata=None, data=saved_limits),
        "override_form": DateOverrideForm(formdata=None),
        "time_off_form": TimeOffForm(formdata=None),
        **submitted,
    }
    return (
        render_template(
            "workspace/availability.html",
            clinician=clinician,
            overrides=services.upcoming_overrides(clinician, now.astimezone(zone).date()),
            time_off=services.upcoming_time_off(clinician, now),
            preview=preview,
            affected=[
                (format_moment(booking.start_dt, zone), booking, _schedule_row_url(booking)) for booking in affected
            ],
            format_moment=format_moment,
            format_time_of_day=format_time_of_day,
            consultation_types=scheduling.active_consultation_types(),
            **forms,
        ),
        status,
    )


def _schedule_row_url(booking):
    """The consultation's row in its day's schedule, where it can be cancelled and its intake opened."""
    day = booking.start_dt.astimezone(booking.clinician.zone).date().isoformat()
    return url_for(
        "workspace.schedule",
        clinician_id=booking.clinician_id,
        view="day",
        date=day,
        _anchor=f"booking-{booking.public_id}",
    )


def _slots_by_day(slots, zone):
    days = {}
    for slot in slots:
        days.setdefault(slot.start_dt.astimezone(zone).date(), []).append(format_time(slot.start_dt, zone))
    return days


@blueprint.get("/clinicians/<id:clinician_id>/availability")
@role_required(*MANAGERS)
def availability(clinician_id):
    return _availability_page(services.clinician_for(current_user, clinician_id))


def _saved(clinician, affected, message):
    """Commit an availability change; bookings it now leaves outside working time are listed, not dropped."""
    flash(message)
    if affected:
        return _availability_page(clinician, affected=affected)
    return redirect(url_for("workspace.availability", clinician_id=clinician.id))


@blueprint.post("/clinicians/<id:clinician_id>/offering")
@role_required(*MANAGERS)
def set_offering(clinician_id):
    clinician = services.clinician_for(current_user, clinician_id)
    offered = {item.slug: item for item in scheduling.active_consultation_types()}
    chosen = request.form.getlist("types")
    form = OfferingForm()
    errors = {}
    if any(slug not in offered for slug in chosen):
        errors["types"] = "Choose from the consultation types listed."
    limits, limit_errors = rules.parse_limits(form.max_per_day.data, form.min_gap_minutes.data)
    errors.update(limit_errors)
    if errors:
        return _availability_page(clinician, offering_form=form.show_errors(errors), status=422)
    services.set_offering(clinician, [offered[slug] for slug in chosen], *limits)
    flash("Consultation types and limits saved.")
    return redirect(url_for("workspace.availability", clinician_id=clinician.id))


@blueprint.post("/clinicians/<id:clinician_id>/overrides")
@role_required(*MANAGERS)
def add_override(clinician_id):
    clinician = services.clinician_for(current_user, clinician_id)
    form = DateOverrideForm()
    errors = {}
    try:
        day = parse_local_date((form.on_date.data or "").strip())
    except ValueError:
        day = None
        errors["on_date"] = "Use a date like 2026-12-24."
    if day is not None and day < now_utc().astimezone(clinician.zone).date():
        errors["on_date"] = "Choose today or a later date."
    hours = None
    if form.kind.data != "day_off":
        hours, range_errors = rules.parse_range(form.start.data, form.end.data, "override")
        errors.update({key.replace("override_", ""): message for key, message in range_errors.items()})
        if hours is None and not range_errors:
            errors["start"] = "Give the hours for that day, or choose a day off."
    if errors:
        return _availability_page(clinician, override_form=form.show_errors(errors), status=422)
    services.set_date_override(clinician, day, hours)
    affected = services.bookings_on(clinician, day)
    return _saved(
        clinician, affected, f"{day:%A %d %B %Y} is now {'a day off' if hours is None else 'set to other hours'}."
    )


@blueprint.post("/clinicians/<id:clinician_id>/overrides/<day>/delete")
@role_required(*MANAGERS)
def remove_override(clinician_id, day):
    clinician = services.clinician_for(current_user, clinician_id)
    try:
        services.remove_date_override(clinician, parse_local_date(day))
    except ValueError:
        abort(404)
    flash("The weekly hours apply again on that day.")
    return redirect(url_for("workspace.availability", clinician_id=clinician.id))


@blueprint.post("/clinicians/<id:clinician_id>/time-off")
@role_required(*MANAGERS)
def add_time_off(clinician_id):
    clinician = services.clinician_for(current_user, clinician_id)
    today = now_utc().astimezone(clinician.zone).date()
    form = TimeOffForm()
    span, errors = rules.parse_date_span(form.first_day.data, form.last_day.data, today)
    try:
        reason = clean_note(form.reason.data, 200)
    except InvalidField as error:
        errors["reason"] = str(error)
    if errors:
        return _availability_page(clinician, time_off_form=form.show_errors(errors), status=422)
    return _saved(clinician, services.add_time_off(clinician, *span, reason), "Time off saved.")


@blueprint.post("/clinicians/<id:clinician_id>/time-off/<id:time_off_id>/delete")
@role_required(*MANAGERS)
def remove_time_off(clinician_id, time_off_id):
    clinician = services.clinician_for(current_user, clinician_id)
    services.remove_time_off(clinician, time_off_id)
    flash("Time off removed.")
    return redirect(url_for("workspace.availability", clinician_id=clinician.id))


# --- schedule -------------------------------------------------------------------------


@blueprint.get("/schedule")
@role_required(*MANAGERS)
def my_schedule():
    if current_user.role is Role.CLINICIAN:
        return redirect(url_for("workspace.schedule", clinician_id=current_user.clinician_id))
    return render_template("workspace/clinicians.html", clinicians=scheduling.active_clinicians(), page="schedule")


def _schedule_window(clinician, today, args):
    """The local day or Monday-to-Sunday week asked for (default: this week), and its first day."""
    try:
        day = parse_local_date(args["date"]) if args.get("date") else today
    except ValueError:
        abort(400, "Use a date like 2026-12-24.")
    view = "day" if args.get("view") == "day" else "week"
    first = day if view == "day" else day - timedelta(days=day.weekday())
    last = first if view == "day" else first + timedelta(days=6)
    return view, first, last, utc_window_for_local_dates(first, last, clinician.zone)


@blueprint.get("/clinicians/<id:clinician_id>/schedule")
@role_required(*MANAGERS)
@staff_site_only
def schedule(clinician_id):
    clinician = services.clinician_for(current_user, clinician_id)
    now = now_utc()
    today = now.astimezone(clinician.zone).date()
    view, first, last, window = _schedule_window(clinician, today, request.args)
    step = timedelta(days=1 if view == "day" else 7)
    rows = [
        {
            "booking": booking,
            "when": format_moment(booking.start_dt, clinician.zone),
            "awaits_outcome": booking.awaits_outcome(now),
            "can_cancel": booking.can_staff_cancel(now),
            "intake_readable": booking.intake is not None and current_user.can_read_intake_for(booking.clinician_id),
        }
        for booking in services.schedule(clinician, window, include_cancelled=True)
    ]
    page = render_template(
        "workspace/schedule.html",
        clinician=clinician,
        rows=rows,
        view=view,
        first=first,
        last=last,
        previous=(first - step).isoformat(),
        following=(first + step).isoformat(),
        today=today,
        # From a week, the day view opens on today if the week holds it.
        other_view_date=(today if first <= today <= last else first).isoformat(),
    )
    return record_after_render(
        page, lambda: services.record_schedule_viewed(current_user, clinician, view, first, last, now_utc())
    )


@blueprint.post("/bookings/<public_id>/outcome")
@role_required(*MANAGERS)
def mark_outcome(public_id):
    booking = services.booking_for(current_user, public_id)
    outcomes = {"completed": BookingStatus.COMPLETED, "no_show": BookingStatus.NO_SHOW}
    status = outcomes.get(request.form.get("status"))
    if status is None:
        abort(400, "Choose completed or no-show.")
    services.mark_outcome(current_user, booking, status, now_utc())
    flash("Marked as " + ("completed." if status is BookingStatus.COMPLETED else "no-show."))
    return redirect(url_for("workspace.schedule", clinician_id=booking.clinician_id, date=request.form.get("date", "")))


@blueprint.route("/bookings/<public_id>/cancel", methods=["GET", "POST"])
@role_required(*MANAGERS)
@staff_site_only  # the page names the patient
def cancel_booking(public_id):
    booking = services.booking_for(current_user, public_id)
    can_cancel = booking.can_staff_cancel(now_utc())
    form = CancelForm()
    context = {
        "booking": booking,
        "when": format_moment(booking.start_dt, booking.clinician.zone),
        "form": form,
        "can_cancel": can_cancel,
    }
    if request.method == "GET":
        return render_template("workspace/cancel.html", **context)
    if not can_cancel:
        return render_template("workspace/cancel.html", **context), 409
    try:
        reason = clean_note(form.reason.data, 500)
    except InvalidField as error:
        form.show_errors({"reason": str(error)})
        return render_template("workspace/cancel.html", **context), 422
    if not reason:
        form.show_errors({"reason": "Give the reason (kept for the clinic, not sent to the patient)."})
        return render_template("workspace/cancel.html", **context), 422
    services.cancel(current_user, booking, reason, now_utc())
    flash("Cancelled. The patient has been emailed and the time is free again.")
    return redirect(url_for("workspace.schedule", clinician_id=booking.clinician_id))


def _ics_response(body, filename):
    response = make_response(body)
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@blueprint.get("/bookings/<public_id>/invite.ics")
@role_required(*MANAGERS)
@staff_site_only
def booking_ics(public_id):
    booking = services.booking_for(current_user, public_id)
    response = _ics_response(staff_calendar([booking], now_utc()), "consultation.ics")
    return record_after_render(response, lambda: services.record_invite_exported(current_user, booking, now_utc()))


@blueprint.get("/clinicians/<id:clinician_id>/schedule.ics")
@role_required(*MANAGERS)
@staff_site_only
def schedule_ics(clinician_id):
    clinician = services.clinician_for(current_user, clinician_id)
    today = now_utc().astimezone(clinician.zone).date()
    span, errors = rules.parse_date_span(
        request.args.get("start"), request.args.get("end"), today - timedelta(days=365)
    )
    if errors:
        abort(400, " ".join(errors.values()))
    window = utc_window_for_local_dates(*span, clinician.zone)
    bookings = services.schedule(clinician, window)
    response = _ics_response(staff_calendar(bookings, now_utc()), f"schedule-{span[0]}-{span[1]}.ics")
    exported_ids = [booking.id for booking in bookings]
    return record_after_render(
        response, lambda: services.record_schedule_exported(current_user, clinician, exported_ids, *span, now_utc())
    )


# The feed's address, shown on the feed page for the rest of this sign-in. Only a hash is stored
# (the address is a password to the calendar), so after the POST's redirect the page can show it
# only from here, and only while it is still the clinician's current one.
NEW_FEED_ADDRESS = "new_feed_address"


def _feed_page(clinician, form, status=200):
    shown = session.get(NEW_FEED_ADDRESS) or {}
    feed_url = None
    if shown.get("clinician") == clinician.id and services.is_current_feed_token(clinician, shown.get("token")):
        feed_url = public_url("feeds.clinician_feed", token=shown["token"])
    webcal_url = feed_url and "webcal://" + feed_url.split("://", 1)[1]  # calendar apps subscribe to webcal:
    return (
        render_template(
            "workspace/feed.html", clinician=clinician, feed_url=feed_url, webcal_url=webcal_url, form=form
        ),
        status,
    )


@blueprint.get("/clinicians/<id:clinician_id>/feed")
@role_required(*MANAGERS)
def feed_settings(clinician_id):
    return _feed_page(services.clinician_for(current_user, clinician_id), ReplaceFeedForm(formdata=None))


@blueprint.post("/clinicians/<id:clinician_id>/feed")
@role_required(*MANAGERS)
def make_feed_address(clinician_id):
    """Make the feed's address, or replace it once the box saying subscribed calendars stop is ticked."""
    clinician = services.clinician_for(current_user, clinician_id)
    form = ReplaceFeedForm()
    if clinician.feed_token_hash and not form.confirm.data:
        form.show_errors({"confirm": "Tick the box to replace the address, or leave the page to keep it."})
        return _feed_page(clinician, form, 422)
    session[NEW_FEED_ADDRESS] = {"clinician": clinician.id, "token": services.rotate_feed_token(clinician)}
    flash("Your new feed address is ready. Any earlier address has stopped working.")
    return redirect(url_for("workspace.feed_settings", clinician_id=clinician.id), 303)
