"""The patient's booking path: type -> a month's days and a day's times -> details -> confirmation, and manage."""

import math
import secrets
from datetime import timedelta

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, session, url_for
from flask_limiter.errors import RateLimitExceeded
from markupsafe import Markup, escape

from kapclinic.core import tokens
from kapclinic.core.clinic import clinic
from kapclinic.core.error_pages import http_error, refusal_response, seconds_until_limit_resets
from kapclinic.core.timezones import (
    format_moment,
    instant_param,
    now_utc,
    parse_instant,
)
from kapclinic.core.unit_of_work import undone_if_refused
from kapclinic.courses import services as courses
from kapclinic.ics.services import BookingFacts, downloadable_invite, web_calendar_links
from kapclinic.intake.services import intake_for_token
from kapclinic.scheduling import public_path, services
from kapclinic.scheduling.forms import (
    CancelForm,
    ConfirmForm,
    EmailAddressForm,
    PatientDetailsForm,
    email_typo_to_ask_about,
)
from kapclinic.scheduling.models import BookingStatus
from kapclinic.scheduling.picker import SlotQuery, clinician_cards, details_context, place_refusal, slot_month

blueprint = Blueprint("scheduling", __name__)


@blueprint.get("/")
def index():
    return render_template("scheduling/index.html", consultation_types=services.consultation_types_to_book())


_LAST_BOOKING = "last_booking"


def _active_type_or_404(slug):
    consultation_type = services.consultation_type_by_slug(slug)
    if consultation_type is None:
        abort(404, "We do not offer that kind of consultation.")
    return consultation_type


@blueprint.route("/links", methods=["GET", "POST"])
@public_path.links_again_limit
@public_path.links_again_address_limit
def links_again():
    """Send me my links again: one email with fresh links to each upcoming consultation and questionnaire."""
    form = EmailAddressForm()
    if request.method == "GET":
        return render_template("scheduling/links_again.html", form=form)
    if not form.validate():
        return render_template("scheduling/links_again.html", form=form), 422
    services.send_links_again(form.email.data, now_utc())
    # The same answer whether or not the address has booked: it tells a stranger nothing.
    return render_template("scheduling/links_again.html", form=form, sent_to=form.email.data)


@blueprint.get("/book")
def choose_type():
    return render_template("scheduling/choose_type.html", consultation_types=services.consultation_types_to_book())


@blueprint.get("/book/<slug>")
@public_path.slots_limit
def choose_slot(slug):
    consultation_type = _active_type_or_404(slug)
    now = now_utc()
    query = SlotQuery(consultation_type, request.args, now)
    status = 400 if query.errors else 200
    month = slot_month(consultation_type, query, now, "scheduling.patient_details", "scheduling.choose_slot", slug=slug)
    cards = clinician_cards(consultation_type, query, "scheduling.choose_slot", slug=slug)
    return (
        render_template(
            "scheduling/choose_slot.html",
            consultation_type=consultation_type,
            query=query,
            clinician_cards_shown=cards,
            **month,
        ),
        status,
    )


@blueprint.route("/book/<slug>/details", methods=["GET", "POST"])
@public_path.public_booking_limit
def patient_details(slug):
    consultation_type = _active_type_or_404(slug)
    now = now_utc()
    query = SlotQuery(consultation_type, request.args, now)
    if query.start_dt is None and "start" not in query.errors:
        query.errors["start"] = "Please choose a time first."
    if query.errors:
        return render_template("scheduling/details.html", **details_context(consultation_type, query, None)), 400
    if request.method == "GET" and query.start_dt <= now:
        # An old tab or the back button: say so before anything is typed, with the next free times.
        soonest = services.nearby_alternatives(consultation_type, now, now, query.clinician)
        context = details_context(consultation_type, query, None, soonest)
        return render_template("scheduling/details.html", passed=True, **context), 409
    form = PatientDetailsForm()
    if request.method == "GET":
        # Back after booking shows this form again: it keeps the booking's key, so pressing
        # "Book this time" once more finds that booking instead of making (or failing) another.
        already = _booked_here(consultation_type, query)
        form.idempotency_key.data = already["key"] if already else secrets.token_urlsafe(24)
        manage_url = _page_of_last_booking(already) if already else None
        return render_template(
            "scheduling/details.html", already_booked_url=manage_url, **details_context(consultation_type, query, form)
        )
    if not form.validate():
        return render_template("scheduling/details.html", **details_context(consultation_type, query, form)), 422
    typo = email_typo_to_ask_about(form)
    if typo is not None:
        context = details_context(consultation_type, query, form)
        return render_template("scheduling/details.html", email_typo=typo, **context)
    patient = form.patient(query.tz_name)
    try:
        with undone_if_refused():
            outcome = services.book(
                consultation_type,
                query.clinician,
                query.start_dt,
                patient,
                now,
                form.idempotency_key.data,
                visitor=public_path.visitor(),
            )
    except services.SlotTaken as taken:
        context = details_context(consultation_type, query, form, taken.alternatives)
        return render_template("scheduling/details.html", taken=True, **context), 409
    except services.SchedulingError as refused:
        place_refusal(refused, form, query, message=lambda error: _phone_linked(str(error)))
        return render_template("scheduling/details.html", **details_context(consultation_type, query, form)), 422
    return _to_confirmation(outcome, form.idempotency_key.data, _slot_key(consultation_type, query))


def _phone_linked(message):
    """The message, escaped, with the clinic's number as a tel: link, so a phone can call it in one tap."""
    phone = clinic().phone
    return escape(message).replace(escape(phone), Markup('<a href="tel:{0}">{0}</a>').format(phone))


def _slot_key(consultation_type, query):
    clinician = query.clinician.id if query.clinician else "any"
    return f"{consultation_type.slug} {instant_param(query.start_dt)} {clinician}"


def _booked_here(consultation_type, query):
    """This browser's latest booking, if it was made from this very form (same type, time and clinician choice)."""
    last = session.get(_LAST_BOOKING) or {}
    return last if last.get("slot") == _slot_key(consultation_type, query) else None


def _to_confirmation(outcome, idempotency_key, slot_key):
    """Show the booking's page; a repeated submit finds it again through this browser's session.

    A held booking's page is its manage link, which goes only to the email address given:
    confirming from it proves the address, so the browser that booked is not shown it.
    """
    if outcome.manage_token is not None:
        # Only the latest booking is remembered, for a double click or the back button.
        last = {"key": idempotency_key, "slot": slot_key}
        if outcome.booking.is_pending:
            last["held"] = outcome.booking.public_id
        else:
            last["token"] = outcome.manage_token
            last["intake"] = outcome.intake_token  # the booked page opens the questionnaire in one tap
            flash("Your consultation is booked. Your confirmation email, with a calendar invite, will follow shortly.")
        session[_LAST_BOOKING] = last
        return redirect(_page_of_last_booking(last))
    last = session.get(_LAST_BOOKING) or {}
    if idempotency_key and last.get("key") == idempotency_key:
        return redirect(_page_of_last_booking(last))
    return render_template("scheduling/already_booked.html")


def _page_of_last_booking(last):
    return url_for("scheduling.held") if "held" in last else url_for("scheduling.manage", token=last["token"])


@blueprint.get("/book/held")
def held():
    """What this browser's held booking awaits: the patient's confirmation from the emailed link."""
    public_id = (session.get(_LAST_BOOKING) or {}).get("held")
    booking = services.booking_by_public_id(public_id) if public_id else None
    if booking is None or not booking.is_pending:
        return redirect(url_for("scheduling.choose_type"))
    return render_template("scheduling/held.html", **_manage_context(booking, token=None))


def _booking_or_404(token):
    # A POST changes the booking: lock its row so a cancel and a reschedule cannot interleave.
    booking = services.booking_for_token(token, for_update=request.method == "POST")
    if booking is None:
        abort(404, "This link is not valid any more. Please use the link in the most recent email from us.")
    return booking


def _rebook_url(booking):
    """The slot page of the booking's kind of consultation, or the list of kinds if it is no longer offered."""
    if booking.consultation_type.is_active:
        return url_for("scheduling.choose_slot", slug=booking.consultation_type.slug, tz=booking.patient_timezone)
    return url_for("scheduling.choose_type")


def _course_context(booking, now):
    """A course's session: every session of the course, and which ones the patient may move themselves."""
    course = courses.course_of(booking)
    if course is None:
        return {"course": None, "course_sessions": []}
    return {"course": course, "course_sessions": courses.session_links(course, now), "format_moment": format_moment}


def _manage_context(booking, token):
    now = now_utc()
    window_hours = clinic().cancellation_window_hours
    in_course = booking.course_id is not None
    return {
        "booking": booking,
        "token": token,
        # A course's session is moved by its course's rules (and cancelled by the clinic), never one at a time here.
        "can_change": not in_course and booking.can_patient_change(now, timedelta(hours=window_hours)),
        **_course_context(booking, now),
        "window_hours": window_hours,
        # Past its deadline a hold is given up whether or not the worker has marked it yet:
        # the page says so either way.
        "released": booking.hold_expired(now) or booking.cancelled_by == services.RELEASED_UNCONFIRMED,
        "confirm_by": format_moment(booking.confirm_by_dt, booking.patient_zone) if booking.confirm_by_dt else "",
        "rebook_url": _rebook_url(booking),
        "calendar_links": web_calendar_links(BookingFacts.of(booking)) if booking.is_active else [],
        "earlier_link": not services.is_latest_link(booking, token),
        # "Wrong address?": only from the newest link (or, with no link, the held page of the browser that
        # booked), soon after booking (Booking.can_correct_email).
        "can_correct_email": (token is None or services.is_latest_link(booking, token))
        and booking.can_correct_email(now),
        **booking.when_for_people(),
    }


@blueprint.get("/manage/<token>")
@tokens.link_guessing_limit
def manage(token):
    booking = _booking_or_404(token)
    return render_template(
        "scheduling/manage.html", **_manage_context(booking, token), questionnaire_url=_questionnaire_here(token)
    )


def _questionnaire_here(token):
    """The questionnaire's own link, for the browser that just booked (its session holds both links), or None.

    Anyone else has the manage link only, which opens no page of the questionnaire.
    """
    last = session.get(_LAST_BOOKING) or {}
    if last.get("token") != token or not last.get("intake"):
        return None
    intake = intake_for_token(last["intake"])
    return url_for("intake.start", token=last["intake"]) if intake is not None and intake.is_editable else None


@blueprint.post("/manage/<token>/confirm")
@tokens.link_guessing_limit
def confirm_booking(token):
    booking = _booking_or_404(token)
    if not ConfirmForm().validate():
        abort(400)
    try:
        with undone_if_refused():
            services.confirm_held(booking, token, now_utc())
    except services.HoldReleased:
        return render_template("scheduling/manage.html", **_manage_context(booking, token)), 409
    flash(
        "Your consultation is confirmed. Your confirmation email, with a calendar invite and your questionnaire "
        "link, will follow shortly."
    )
    return redirect(url_for("scheduling.manage", token=token))


@blueprint.post("/manage/<token>/questionnaire-link")
@tokens.link_guessing_limit
@public_path.questionnaire_link_limit
def email_questionnaire_link(token):
    booking = _booking_or_404(token)
    if not ConfirmForm().validate() or booking.status is not BookingStatus.CONFIRMED:
        abort(400)
    if services.email_questionnaire_link(booking):
        flash(f"We have emailed a link to your questionnaire to {booking.patient_email}.")
    else:
        flash("Your questionnaire is finished: there is nothing more to fill in.")
    return redirect(url_for("scheduling.manage", token=token))


@blueprint.route("/manage/<token>/email", methods=["GET", "POST"])
@tokens.link_guessing_limit
@public_path.email_correction_limit
def correct_email(token):
    """Wrong address? The confirmation goes again to the address typed here, and the links sent before stop."""
    booking = _booking_or_404(token)
    if not services.is_latest_link(booking, token):
        abort(404, "This link is not valid any more. Please use the link in the most recent email from us.")

    def corrected(new_token):
        last = session.get(_LAST_BOOKING)
        if last and last.get("token") == token:
            session[_LAST_BOOKING] = {**last, "token": new_token}  # Back and a repeated submit find the booking still
        flash(
            f"We have sent your confirmation again, to {booking.patient_email}. "
            "The links in the email to the other address no longer work."
        )
        return redirect(url_for("scheduling.manage", token=new_token))

    return _email_correction(
        booking, _manage_context(booking, token), url_for("scheduling.manage", token=token), corrected
    )


@blueprint.route("/book/held/email", methods=["GET", "POST"])
@public_path.email_correction_limit
def correct_held_email():
    """Wrong address on a held time? Only the browser that booked it can say so: the email to confirm goes again."""
    public_id = (session.get(_LAST_BOOKING) or {}).get("held")
    booking = services.booking_by_public_id(public_id, for_update=request.method == "POST") if public_id else None
    if booking is None or not booking.is_pending:
        return redirect(url_for("scheduling.choose_type"))

    def corrected(_new_token):
        flash(
            f"We have sent the email to confirm again, to {booking.patient_email}. "
            "The link in the email to the other address no longer works."
        )
        return redirect(url_for("scheduling.held"))

    return _email_correction(booking, _manage_context(booking, token=None), url_for("scheduling.held"), corrected)


def _email_correction(booking, context, back_url, corrected):
    """The "Wrong address?" form for a booking; `corrected(new_token)` answers once the email has gone again."""
    form = EmailAddressForm()
    context = {**context, "form": form, "back_url": back_url}
    if request.method == "GET":
        return render_template("scheduling/correct_email.html", **context)
    if not form.validate():
        return render_template("scheduling/correct_email.html", **context), 422
    typo = email_typo_to_ask_about(form)
    if typo is not None:
        return render_template("scheduling/correct_email.html", email_typo=typo, **context)
    try:
        with undone_if_refused():
            new_token = services.correct_email(booking, form.email.data, now_utc())
    except services.CorrectionClosed:
        context["can_correct_email"] = False  # closed since the page began: it says so instead of the form
        return render_template("scheduling/correct_email.html", **context), 409
    except services.SchedulingError as refused:
        form.email.errors = [_phone_linked(str(refused))]
        return render_template("scheduling/correct_email.html", **context), 422
    return corrected(new_token)


@blueprint.get("/manage/<token>/invite.ics")
@tokens.link_guessing_limit
def download_invite(token):
    booking = _booking_or_404(token)
    if booking.is_pending:
        # A held time is not in anyone's calendar until the patient confirms it.
        flash("Your calendar invite comes with your confirmation. Please confirm your consultation first.")
        return redirect(url_for("scheduling.manage", token=token))
    response = make_response(downloadable_invite(booking, now_utc()))
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = 'attachment; filename="consultation.ics"'
    return response


@blueprint.route("/manage/<token>/cancel", methods=["GET", "POST"])
@tokens.link_guessing_limit
def cancel(token):
    booking = _booking_or_404(token)
    form = CancelForm()
    context = _manage_context(booking, token)
    if request.method == "GET" and not context["course"]:
        return render_template("scheduling/cancel.html", form=form, **context)
    if not context["can_change"]:
        return render_template("scheduling/cancel.html", form=form, **context), 409
    if not form.validate():
        return render_template("scheduling/cancel.html", form=form, **context), 422
    services.cancel(booking, now_utc(), by="patient", reason=form.reason.data or "")
    flash("Your consultation is cancelled. We have emailed you a confirmation.")
    return redirect(url_for("scheduling.manage", token=token))


@blueprint.get("/manage/<token>/reschedule")
@tokens.link_guessing_limit
@public_path.slots_limit
def reschedule(token):
    booking = _booking_or_404(token)
    if booking.course_id is not None:
        return redirect(url_for("scheduling.move_course_session", token=token, step=booking.course_step))
    now = now_utc()
    query = SlotQuery(booking.consultation_type, request.args, now, default_tz=booking.patient_timezone)
    query.clinician = booking.clinician
    month = slot_month(
        booking.consultation_type,
        query,
        now,
        "scheduling.confirm_reschedule",
        "scheduling.reschedule",
        exclude_booking_id=booking.id,
        token=token,
    )
    context = _manage_context(booking, token)
    return (
        render_template("scheduling/reschedule.html", query=query, **month, **context),
        400 if query.errors else 200,
    )


def _reschedule_context(booking, token, now):
    """The page that confirms a new time, from the query string's start and zone."""
    query = SlotQuery(booking.consultation_type, request.args, now, default_tz=booking.patient_timezone)
    query.clinician = booking.clinician
    if query.start_dt is None and "start" not in query.errors:
        query.errors["start"] = "Please choose a new time first."
    context = {**_manage_context(booking, token), "query": query, "form": ConfirmForm(), "alternatives": []}
    if query.start_dt:
        context["new_when"] = format_moment(query.start_dt, query.zone)
    return context


@blueprint.route("/manage/<token>/reschedule/confirm", methods=["GET", "POST"])
@tokens.link_guessing_limit
@public_path.public_booking_limit
def confirm_reschedule(token):
    booking = _booking_or_404(token)
    now = now_utc()
    context = _reschedule_context(booking, token, now)
    query, form = context["query"], context["form"]
    if query.errors:
        return render_template("scheduling/confirm_reschedule.html", **context), 400
    if request.method == "GET":
        return render_template("scheduling/confirm_reschedule.html", **context)
    if not context["can_change"] or not form.validate():
        return render_template("scheduling/confirm_reschedule.html", **context), 409
    try:
        with undone_if_refused():
            new_token = services.reschedule(booking, query.start_dt, now)
    except services.SlotTaken as taken:
        context["taken"] = True
        context["alternatives"] = [
            {"param": instant_param(slot.start_dt), "label": format_moment(slot.start_dt, query.zone)}
            for slot in taken.alternatives
        ]
        return render_template("scheduling/confirm_reschedule.html", **context), 409
    except services.NotBookable as refused:
        query.errors["clinician" if refused.field == "clinician" else "start"] = str(refused)
        return render_template("scheduling/confirm_reschedule.html", **context), 422
    flash("Your consultation has moved. We have emailed you the new time and an updated invite.")
    return redirect(url_for("scheduling.manage", token=new_token))


@blueprint.route("/manage/<token>/sessions/<int:step>", methods=["GET", "POST"])
@tokens.link_guessing_limit
@public_path.public_booking_limit
def move_course_session(token, step):
    """Move one session of the patient's course (any session's link opens the course) to a time its rules allow."""
    booking = _booking_or_404(token)
    course = courses.course_of(booking)
    if course is None:
        return redirect(url_for("scheduling.manage", token=token))
    session = next((item for item in course.sessions if item.course_step == step), None)
    if session is None:
        abort(404)
    now = now_utc()
    context = {**_manage_context(booking, token), "session": session, "refused": None, "chosen": ""}
    status = 200
    movable = courses.patient_may_move(session, now)
    if not movable:
        context["refused"] = f"This session cannot be moved online. To change it, please call us on {clinic().phone}."
        status = 409 if request.method == "POST" else 200
    elif request.method == "POST":
        context["chosen"] = request.form.get("start", "")
        try:
            start = parse_instant(context["chosen"])
        except ValueError:
            start = None
            context["refused"], status = "Please choose one of the times offered.", 400
        if start is not None:
            try:
                with undone_if_refused():
                    courses.move_session(session, start, now)
                flash(
                    f"Session {step + 1} has moved to {format_moment(start, booking.patient_zone)}. "
                    "We have emailed you the new time and an updated invite."
                )
                return redirect(url_for("scheduling.manage", token=token), 303)
            except courses.MoveRefused as refused:
                context["refused"], status = refused.message, 409
            except services.SchedulingError as refused:
                context["refused"], status = refused.message, 409
    options = courses.move_options(course, session, now, by_staff=False) if movable else ()
    zone = booking.patient_zone
    context["options"] = [{"param": instant_param(option), "label": format_moment(option, zone)} for option in options]
    context["session_when"] = format_moment(session.start_dt, zone)
    return render_template("scheduling/course_move.html", **context), status


# --- over a limit: the page the patient was on, not an error page -----------------------


def _minutes_until_limit_resets(error):
    seconds = seconds_until_limit_resets() or error.limit.limit.get_expiry()
    return max(1, math.ceil(seconds / 60))


@blueprint.errorhandler(RateLimitExceeded)
def over_a_limit(error):
    """Show the form again with what was typed, or the manage page, saying when to try again.

    The booking budget refuses before the view runs, so the page is drawn here from the
    request as it came; nothing was written. Anything else (a guessed link, a type or
    booking that is not there) gets the error page: an error handler must not abort.
    """
    now = now_utc()
    endpoint, args = request.endpoint, request.view_args or {}
    if error.limit.scope == public_path.BOOKING_SCOPE:
        over_limit = {"over_limit_minutes": _minutes_until_limit_resets(error)}
        consultation_type = services.consultation_type_by_slug(args["slug"]) if "slug" in args else None
        if endpoint == "scheduling.patient_details" and consultation_type is not None:
            query = SlotQuery(consultation_type, request.args, now)
            context = details_context(consultation_type, query, PatientDetailsForm())
            return refusal_response(error, render_template("scheduling/details.html", **context, **over_limit))
        booking = services.booking_for_token(args["token"]) if "token" in args else None
        if endpoint == "scheduling.confirm_reschedule" and booking is not None:
            context = _reschedule_context(booking, args["token"], now)
            return refusal_response(
                error, render_template("scheduling/confirm_reschedule.html", **context, **over_limit)
            )
    if endpoint == "scheduling.email_questionnaire_link" and error.limit.scope is None:
        flash(error.description)
        return redirect(url_for("scheduling.manage", token=args["token"]))
    return http_error(error)
