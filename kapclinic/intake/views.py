"""The patient's intake: one page per step, saved on "Save and continue", then review and submit.

The link's token is the credential, so these pages skip the global CSRF check
and validate the CSRF token themselves: when it fails (a session that expired
while the patient typed), the step is shown again with everything they typed.
"""

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms import ValidationError

from kapclinic.core import tokens
from kapclinic.core.clinic import clinic
from kapclinic.core.error_pages import DATABASE_FAULTS, database_unavailable
from kapclinic.core.timezones import format_day, format_moment, now_utc
from kapclinic.core.unit_of_work import discard_changes, keep_writes_despite_refusal, undone_if_refused
from kapclinic.intake import questionnaire, services
from kapclinic.intake.instruments import severity_label
from kapclinic.intake.models import IntakeStatus

blueprint = Blueprint("intake", __name__, url_prefix="/intake")
tokens.link_guessing_limit(blueprint)  # every page here is reached by a private link

SESSION_EXPIRED = "Your session timed out, so nothing was saved yet. Check your answers and press the button again."


def _intake_or_404(token):
    intake = services.intake_for_token(token, for_update=request.method == "POST")
    if intake is None:
        abort(404, "This questionnaire link is not valid. Please use the link in your confirmation email.")
    return intake


def _csrf_ok():
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return True
    try:
        validate_csrf(request.form.get("csrf_token"))
    except (ValidationError, CSRFError):
        return False
    return True


def _closed_response(intake, token):
    """The page to show instead when the intake cannot be filled in online (or any more)."""
    if services.is_below_online_age(intake):
        return render_template("intake/call_us.html", intake=intake)
    if not intake.is_editable:
        return redirect(url_for("intake.done", token=token))
    return None


@blueprint.get("/<token>")
def start(token):
    intake = _intake_or_404(token)
    closed = _closed_response(intake, token)
    if closed:
        return closed
    step = services.next_step(intake)
    if step is None:
        return redirect(url_for("intake.review", token=token))
    return render_template(
        "intake/start.html",
        intake=intake,
        token=token,
        step=step,
        started=bool(intake.answers or intake.draft_answers),  # a first page saved to finish later counts
        **intake.booking.when_for_people(),
    )


def _render_step(intake, token, step, values, errors, status=200, notice="", support=False, added_rows=0):
    shown = services.steps(intake)
    index = [each.key for each in shown].index(step.key)
    return (
        render_template(
            "intake/step.html",
            intake=intake,
            token=token,
            step=step,
            blocks=questionnaire.layout(step, values, added_rows),
            values=values,
            errors=errors,
            notice=notice,
            support=support,
            progress=questionnaire.progress(shown, step.key),
            # Back: the page before, or from the first page the start page.
            back_url=url_for("intake.step", token=token, key=shown[index - 1].key)
            if index
            else url_for("intake.start", token=token),
        ),
        status,
    )


DRAFT_NOTICE = "You saved this page to finish later. Check your answers here, then continue."


@blueprint.route("/<token>/step/<key>", methods=["GET", "POST"])
def step(token, key):
    intake = _intake_or_404(token)
    step = next((each for each in services.steps(intake) if each.key == key), None)
    if step is None:
        abort(404, "That part of the questionnaire does not apply.")
    closed = _closed_response(intake, token)
    if closed:
        return closed
    if request.method == "GET":
        notice = DRAFT_NOTICE if (intake.draft_answers or {}).get(step.key) else ""
        return _render_step(intake, token, step, services.values_to_show(intake, step), {}, notice=notice)
    typed = {name: request.form.getlist(name) for name in request.form}
    action = request.form.get("action")
    if action == "add-row":
        # "Add another" without JavaScript: the page again with one more row, nothing saved yet.
        return _render_step(intake, token, step, _typed_values(step, typed), {}, added_rows=1)
    if not _csrf_ok():
        return _render_step(intake, token, step, _typed_values(step, typed), {}, 400, SESSION_EXPIRED)
    if action == "later":
        outcome = services.save_for_later(intake, step, typed, now_utc())
        return redirect(url_for("intake.saved", token=token, support=int(outcome.shows_support)))
    outcome = services.save_step(intake, step, typed, now_utc())
    if outcome.errors:
        # An invalid step saves no answers; it may still have raised a safety flag, which stays.
        keep_writes_despite_refusal()
        return _render_step(
            intake, token, step, _typed_values(step, typed), outcome.errors, 422, support=outcome.shows_support
        )
    if outcome.shows_support:
        return redirect(url_for("intake.support", token=token, next=step.key))
    return redirect(_after(intake, token))


@blueprint.get("/<token>/saved")
def saved(token):
    """After "Save and finish later": what is kept, and how to come back."""
    intake = _intake_or_404(token)
    closed = _closed_response(intake, token)
    if closed:
        return closed
    return render_template(
        "intake/saved.html",
        intake=intake,
        token=token,
        support=request.args.get("support") == "1",
        has_draft=bool(intake.draft_answers),
        **intake.booking.when_for_people(),
    )


NOT_SAVED = (
    "We could not save this page just now: our records are out of reach for a moment. Your answers are "
    "still below. Please press \u201cSave and continue\u201d again in a minute."
)


def database_away(error):
    """With the database away, a step's answers come back in the form (503): nothing the patient typed is lost."""
    step = questionnaire.STEPS_BY_KEY.get((request.view_args or {}).get("key"))
    if request.endpoint != "intake.step" or request.method != "POST" or step is None:
        return database_unavailable(error)
    typed = {name: request.form.getlist(name) for name in request.form}
    return database_unavailable(
        error,
        lambda: render_template(
            "intake/step.html",
            step=step,
            values=_typed_values(step, typed),
            errors={},
            blocks=questionnaire.layout(step, _typed_values(step, typed)),
            notice=NOT_SAVED,
            support=False,
            progress=None,
        ),
    )


for fault in DATABASE_FAULTS:  # the same faults the app answers with 503
    blueprint.register_error_handler(fault, database_away)


def _typed_values(step, typed):
    """What the patient typed, to put back in the form after a refused submit."""
    values = {}
    for question in step.questions:
        raw = typed.get(question.link_id, [])
        values[question.link_id] = raw if question.repeats else (raw[-1] if raw else "")
    return values


def _after(intake, token):
    following = services.next_step(intake)
    if following is None:
        return url_for("intake.review", token=token)
    return url_for("intake.step", token=token, key=following.key)


@blueprint.get("/<token>/support")
def support(token):
    intake = _intake_or_404(token)
    return render_template("intake/support.html", intake=intake, token=token, continue_url=_after(intake, token))


@blueprint.route("/<token>/review", methods=["GET", "POST"])
def review(token):
    intake = _intake_or_404(token)
    closed = _closed_response(intake, token)
    if closed:
        return closed
    missing = services.next_step(intake)
    if missing is not None:
        return redirect(url_for("intake.step", token=token, key=missing.key))
    if request.method == "POST":
        if not _csrf_ok():
            return render_template("intake/review.html", **_review_context(intake, token), notice=SESSION_EXPIRED), 400
        services.submit(intake, now_utc())
        return redirect(url_for("intake.done", token=token))
    return render_template("intake/review.html", **_review_context(intake, token))


def _review_context(intake, token):
    return {"intake": intake, "token": token, "sections": services.answered_sections(intake)}


@blueprint.get("/<token>/done")
def done(token):
    intake = _intake_or_404(token)
    if intake.is_editable:
        return redirect(url_for("intake.start", token=token))
    scores = {
        key: {**score, "label": severity_label(score["severity"])}
        for key, score in intake.results.get("scores", {}).items()
    }
    return render_template(
        "intake/done.html",
        intake=intake,
        token=token,
        sections=services.answered_sections(intake),
        scores=scores,
        awaiting_guardian=intake.awaits_guardian,
        guardian_email=intake.answers.get("guardian", {}).get("guardian_email", ""),
        resent="resent" in request.args,
        may_resend=services.guardian_resends_left(intake, now_utc()) > 0,
        **intake.booking.when_for_people(),
    )


@blueprint.route("/<token>/guardian-details", methods=["GET", "POST"])
def change_guardian(token):
    """While the guardian's signature is awaited, the patient can correct their details and resend."""
    intake = _intake_or_404(token)
    if not intake.awaits_guardian:
        return redirect(url_for("intake.start", token=token))
    step = questionnaire.STEPS_BY_KEY["guardian"]
    resends_left = services.guardian_resends_left(intake, now_utc())
    context = {
        "intake": intake,
        "token": token,
        "step": step,
        "progress": None,
        "support": False,
        "notice": "",
        "resends_left": resends_left,
        "resends_a_day": services.GUARDIAN_EMAILS_A_DAY,
        "resend_refused": resends_left == 0,
    }
    if request.method == "GET" or context["resend_refused"]:
        # None left today: the page says so, with no form to fill in for nothing.
        status = 429 if request.method == "POST" else 200
        return render_template(
            "intake/step.html", values=intake.answers.get("guardian", {}), errors={}, **context
        ), status
    typed = {name: request.form.getlist(name) for name in request.form}
    if not _csrf_ok():
        context["notice"] = SESSION_EXPIRED
        return render_template("intake/step.html", values=_typed_values(step, typed), errors={}, **context), 400
    try:
        with undone_if_refused():
            outcome = services.change_guardian(intake, typed, now_utc())
    except services.GuardianEmailLimit:
        context["resend_refused"] = True
        return render_template("intake/step.html", values=_typed_values(step, typed), errors={}, **context), 429
    if outcome.errors:
        discard_changes()
        return render_template(
            "intake/step.html", values=_typed_values(step, typed), errors=outcome.errors, **context
        ), 422
    return redirect(url_for("intake.done", token=token, resent=1))


@blueprint.route("/guardian/<token>", methods=["GET", "POST"])
def guardian_consent(token):
    """The guardian's own page: whose consultation, why they are asked, and their consent in their own words."""
    intake = services.intake_for_guardian_token(token, for_update=request.method == "POST")
    if intake is None:
        abort(404, "This consent link is not valid. Please use the link in your email.")
    first_name = services.adolescent_first_name(intake)
    clinic_zone = clinic().zone
    show_answers = current_app.config["GUARDIAN_SEES_ANSWERS"]
    context = {
        "intake": intake,
        "first_name": first_name,
        "statement": questionnaire.guardian_statement(first_name, clinic().name),
        "step": questionnaire.GUARDIAN_SIGNATURE,
        "today": format_day(now_utc(), clinic_zone),
        "show_answers": show_answers,
        "sections": services.answered_sections(intake) if show_answers else [],
        "errors": {},
        "values": {},
        "may_sign": intake.guardian_may_sign,
        "consultation_when": format_moment(intake.booking.start_dt, clinic_zone),
    }
    if request.method == "POST" and not context["may_sign"]:
        return render_template("intake/guardian.html", **context), 409
    if request.method == "GET" or intake.status is not IntakeStatus.AWAITING_GUARDIAN:
        return render_template("intake/guardian.html", **context)
    typed = {name: request.form.getlist(name) for name in request.form}
    if not _csrf_ok():
        context.update(notice=SESSION_EXPIRED, values=_typed_values(questionnaire.GUARDIAN_SIGNATURE, typed))
        return render_template("intake/guardian.html", **context), 400
    errors = services.guardian_sign(intake, typed, now_utc())
    if errors:
        context.update(errors=errors, values=_typed_values(questionnaire.GUARDIAN_SIGNATURE, typed))
        return render_template("intake/guardian.html", **context), 422
    return render_template("intake/guardian.html", **context)
