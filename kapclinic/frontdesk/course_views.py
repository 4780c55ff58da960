"""Treatment courses for staff: plan one from an intake marked ready, record its gates, book it, move and cancel.

The plan page is a GET form (template, first day and time, then each session's chosen
time), so "Check these times" never changes anything; booking the course is one POST
with an idempotency key. A clinician sees the courses of their own patients only.
"""

import uuid
from dataclasses import replace

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from kapclinic.accounts.models import Role
from kapclinic.accounts.policy import role_required
from kapclinic.audit.reads import staff_site_only
from kapclinic.core.timezones import (
    format_moment,
    instant_param,
    local_to_utc,
    now_utc,
    parse_instant,
    parse_local_date,
)
from kapclinic.core.unit_of_work import undone_if_refused
from kapclinic.courses import services as courses
from kapclinic.courses.models import GateKind
from kapclinic.frontdesk import services
from kapclinic.intake.models import ReviewStatus
from kapclinic.scheduling.availability import parse_time
from kapclinic.scheduling.services import SchedulingError

blueprint = Blueprint("courses", __name__, url_prefix="/staff")
READERS = (Role.ADMIN, Role.FRONT_DESK, Role.CLINICIAN)


@blueprint.context_processor
def _formats():
    return {
        "format_moment": format_moment,
        "instant_param": instant_param,
        "session_label": courses.session_label,
        "gate_kinds": list(GateKind),
    }


def _ready_intake(intake_id, for_update=False):
    intake = services.intake_for(current_user, intake_id, for_update=for_update)
    if intake is None:
        abort(404)
    return intake


def _plan_request(intake, source):
    """Read the plan's choices from `source`: (version, first start, chosen starts or None, errors by field)."""
    errors = {}
    clinician = intake.booking.clinician
    version = None
    if source.get("template"):
        version = next(
            (
                template.current
                for template in courses.active_templates()
                if str(template.current.id) == source["template"]
            ),
            None,
        )
        if version is None:
            errors["template"] = "Please choose a course template from the list."
    first_start = None
    if source.get("first_day") or source.get("first_time"):
        try:
            day = parse_local_date(source.get("first_day", ""))
        except ValueError as error:
            errors["first_day"] = str(error)
            day = None
        wall_time = parse_time(source.get("first_time", ""))
        if wall_time is None:
            errors["first_time"] = "Please give a time such as 14:00 or 2pm."
        if day and wall_time:
            first_start = local_to_utc(day, wall_time, clinician.zone)
    starts = None
    if version is not None and f"s{version.session_count - 1}" in source:
        try:
            starts = [parse_instant(source.get(f"s{number}", "")) for number in range(version.session_count)]
        except ValueError:
            errors["sessions"] = "A chosen time was not one offered. Please check the times again."
    return version, first_start, starts, errors


def _plan_page(intake, status=200, refused=None, proposals=None):
    source = request.values
    version, first_start, starts, errors = _plan_request(intake, source)
    plan = None
    if version is not None and first_start is not None and not errors:
        now = now_utc()
        plan = courses.propose(version, intake.booking.clinician, intake.booking.patient, first_start, now, starts)
        if proposals is not None:
            plan = replace(plan, proposals=proposals)
    page = render_template(
        "frontdesk/course_plan.html",
        intake=intake,
        booking=intake.booking,
        patient=intake.booking.patient,
        templates=courses.active_templates(),
        chosen=source,
        plan=plan,
        errors=errors,
        refused=refused,
        gates=courses.gates_of(intake.booking.patient),
        running=courses.running_course(intake.booking.patient, now_utc()),
        idempotency_key=uuid.uuid4().hex,
        zone=intake.booking.clinician.zone,
        here=request.full_path,
    )
    return page, (400 if errors and status == 200 else status)


@blueprint.get("/intakes/<id:intake_id>/course")
@role_required(*READERS)
@staff_site_only
def plan_course(intake_id):
    intake = _ready_intake(intake_id)
    if intake.review_status is not ReviewStatus.READY:
        flash("A course is opened once the intake is marked ready for consultation.")
        return redirect(url_for("frontdesk.intake_record", intake_id=intake.id))
    return _plan_page(intake)


@blueprint.post("/intakes/<id:intake_id>/course")
@role_required(*READERS)
@staff_site_only
def open_course(intake_id):
    intake = _ready_intake(intake_id, for_update=True)
    if intake.review_status is not ReviewStatus.READY:
        abort(409, "A course is opened once the intake is marked ready for consultation.")
    version, _first, starts, errors = _plan_request(intake, request.form)
    if version is None or starts is None or errors:
        return _plan_page(intake, 400, refused="Please choose a template and check every session's time first.")
    key = request.form.get("idempotency_key", "")[:64] or None
    try:
        with undone_if_refused():
            course = courses.open_course(
                current_user, version, intake.booking.clinician, intake.booking, starts, now_utc(), key
            )
    except courses.SessionsConflict as conflict:
        return _plan_page(intake, 409, refused=conflict.message, proposals=conflict.proposals)
    except courses.CourseError as refused:
        return _plan_page(intake, 409, refused=refused.message)
    flash(f"The course is booked: {len(course.sessions)} sessions. The patient gets an email and an invite for each.")
    return redirect(url_for("courses.course_page", course_id=course.public_id))


def _back_to_plan(intake):
    """The plan page the gate form came from (its own path only, so never another site), else a fresh one."""
    back = request.form.get("back", "")
    own = url_for("courses.plan_course", intake_id=intake.id)
    return back if back.startswith(own + "?") and len(back) < 2000 and "//" not in back else own


@blueprint.post("/intakes/<id:intake_id>/gates")
@role_required(*READERS)
@staff_site_only
def record_gate(intake_id):
    intake = _ready_intake(intake_id, for_update=True)
    form = request.form
    try:
        with undone_if_refused():
            courses.record_gate(
                current_user,
                intake.booking.patient,
                form.get("kind", ""),
                form.get("outcome", ""),
                form.get("note", ""),
                now_utc(),
            )
    except courses.CourseError as refused:
        flash(refused.message, "error")
        return redirect(_back_to_plan(intake), 303)
    flash("Recorded.")
    return redirect(_back_to_plan(intake), 303)


def _course_or_404(course_id, for_update=False):
    course = courses.course_by_public_id(str(course_id), for_update=for_update)
    if course is None or (current_user.role is Role.CLINICIAN and course.clinician_id != current_user.clinician_id):
        abort(404)
    return course


@blueprint.get("/courses/<uuid:course_id>")
@role_required(*READERS)
@staff_site_only
def course_page(course_id):
    course = _course_or_404(course_id)
    return render_template("frontdesk/course.html", course=course, zone=course.clinician.zone, now=now_utc())


@blueprint.post("/courses/<uuid:course_id>/cancel")
@role_required(*READERS)
@staff_site_only
def cancel_course(course_id):
    course = _course_or_404(course_id, for_update=True)
    if request.form.get("confirm") != "yes":
        flash("Tick the box to confirm that every session still to come is cancelled.", "error")
        return redirect(url_for("courses.course_page", course_id=course.public_id), 303)
    try:
        with undone_if_refused():
            courses.cancel_course(current_user, course, now_utc(), reason=request.form.get("reason", "")[:500])
    except courses.CourseError as refused:
        flash(refused.message, "error")
        return redirect(url_for("courses.course_page", course_id=course.public_id), 303)
    flash("The course is cancelled. The patient is told, with a calendar cancellation for each session to come.")
    return redirect(url_for("courses.course_page", course_id=course.public_id), 303)


def _session_or_404(course, step):
    session = next((session for session in course.sessions if session.course_step == step), None)
    if session is None:
        abort(404)
    return session


def _chosen_start(form, zone):
    """One of the offered times (`start`), or a day and time typed in the clinician's zone; None if neither reads."""
    if form.get("start"):
        try:
            return parse_instant(form["start"])
        except ValueError:
            return None
    wall_time = parse_time(form.get("other_time", ""))
    try:
        day = parse_local_date(form.get("other_day", ""))
    except ValueError:
        return None
    return local_to_utc(day, wall_time, zone) if wall_time else None


@blueprint.route("/courses/<uuid:course_id>/sessions/<int:step>", methods=["GET", "POST"])
@role_required(*READERS)
@staff_site_only
def move_session(course_id, step):
    course = _course_or_404(course_id, for_update=request.method == "POST")
    session = _session_or_404(course, step)
    now = now_utc()
    refused, alternatives, spacing, status = None, (), False, 200
    if request.method == "POST":
        start = _chosen_start(request.form, course.clinician.zone)
        if start is None:
            refused, status = "Please choose one of the times offered, or give another day and time.", 400
        if start is not None:
            try:
                with undone_if_refused():
                    courses.move_session(
                        session, start, now, actor=current_user, override_reason=request.form.get("reason", "")
                    )
                flash(
                    f"Session {step + 1} is moved to {format_moment(start, course.clinician.zone)}. "
                    "The patient gets an updated invite for it."
                )
                return redirect(url_for("courses.course_page", course_id=course.public_id), 303)
            except courses.MoveRefused as error:
                refused, alternatives, spacing, status = error.message, error.alternatives, error.spacing, 409
            except SchedulingError as error:
                refused, status = error.message, 409
    options = alternatives or courses.move_options(course, session, now, by_staff=True)
    page = render_template(
        "frontdesk/course_move.html",
        course=course,
        session=session,
        options=options,
        refused=refused,
        spacing=spacing,
        chosen=request.form.get("start", ""),
        zone=course.clinician.zone,
    )
    return page, status
