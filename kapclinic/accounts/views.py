"""Staff sign-in, sign-out, password change and reset, and the staff home page."""

from functools import wraps

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from werkzeug.exceptions import ServiceUnavailable

from kapclinic.accounts import services
from kapclinic.accounts.forms import ChangePasswordForm, LoginForm, NewPasswordForm, ResetRequestForm
from kapclinic.accounts.navigation import staff_sections
from kapclinic.accounts.policy import staff_required
from kapclinic.core import tokens
from kapclinic.core.timezones import now_utc
from kapclinic.core.unit_of_work import undone_if_refused
from kapclinic.extensions import limiter, login_manager
from kapclinic.notifications.mailer import uses_file_fallback

blueprint = Blueprint("accounts", __name__, url_prefix="/staff")
blueprint.add_app_template_global(staff_sections)

SIGN_IN_FAILED = "That email and password do not match an active account."
RESET_SENT = "If that address belongs to a staff account, a reset link is on its way. It works once, for a short time."
PAUSED = (
    "Signing in and resetting passwords are paused for a few minutes, while part of our system is not "
    "answering. Please try again in a few minutes, or tell your administrator."
)
PAUSED_RETRY_AFTER_SECONDS = 60


def _login_limit():
    return current_app.config["LOGIN_RATE_LIMIT"]


def _paused_while_limits_are_local(view):
    """Sign-in and password reset fail closed while the shared rate-limit storage (Redis) is away.

    Each process would then allow its own budget of password guesses; booking may run on
    those local counts, these may not. Placed under the limit decorators, so it sees the
    storage as that request's limit check found it.
    """

    @wraps(view)
    def guarded(*args, **kwargs):
        if limiter.counting_locally:
            raise ServiceUnavailable(PAUSED, retry_after=PAUSED_RETRY_AFTER_SECONDS)
        return view(*args, **kwargs)

    return guarded


@login_manager.user_loader
def load_signed_in_user(session_token):
    return services.load_session(session_token, now_utc())


def _safe_next(target):
    """Only local staff paths: an open redirect after login would be a phishing aid."""
    if isinstance(target, str) and target.startswith("/staff") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("accounts.home")


def _sign_in_failed(response):
    """Only failed sign-ins use up the budget: a front desk sharing one address signs in many times a day."""
    return response.status_code != 302


@blueprint.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_sign_in_failed)
@_paused_while_limits_are_local
def login():
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("accounts/login.html", form=form), 422 if request.method == "POST" else 200
    user = services.authenticate(form.email.data, form.password.data)
    if user is None:
        form.password.errors = [SIGN_IN_FAILED]
        return render_template("accounts/login.html", form=form), 401
    now = now_utc()
    token = services.start_session(user, now)
    # A new session: nothing from before the login (or planted in it) survives.
    session.clear()
    login_user(services.load_session(token, now))
    return redirect(_safe_next(request.args.get("next")))


@blueprint.post("/logout")
@staff_required
def logout():
    services.end_session(current_user.session_token, now_utc())
    logout_user()
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("accounts.login"))


@blueprint.get("/")
@staff_required
def home():
    return render_template("accounts/home.html")


@blueprint.post("/keepalive")
@staff_required
def keepalive():
    """The idle warning's "stay signed in" button; loading the user already refreshed the session."""
    return jsonify({"expires_at": services.session_expires_at(current_user.session_token).isoformat()})


@blueprint.route("/password", methods=["GET", "POST"])
@staff_required
def change_password():
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return render_template("accounts/password.html", form=form), 422 if request.method == "POST" else 200
    try:
        with undone_if_refused():
            services.change_password(current_user.user, form.current_password.data, form.password.data, now_utc())
    except services.AccountError as error:
        getattr(form, error.field).errors = [str(error)]
        return render_template("accounts/password.html", form=form), 422
    logout_user()
    session.clear()
    flash("Your password has changed. Every session has ended: please sign in again.")
    return redirect(url_for("accounts.login"))


@blueprint.route("/reset", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@_paused_while_limits_are_local
def request_reset():
    form = ResetRequestForm()
    if not form.validate_on_submit():
        return render_template("accounts/reset_request.html", form=form), 422 if request.method == "POST" else 200
    try:
        services.request_password_reset(form.email.data, now_utc())
    except services.AccountError as error:
        form.email.errors = [str(error)]
        return render_template("accounts/reset_request.html", form=form), 422
    if uses_file_fallback(current_app):
        # Development writes emails as files and `make run` starts no worker. With no mail
        # server there is no timing to hide, so the request is answered at once.
        services.issue_requested_password_resets(now_utc(), current_app.config["WORKER_BATCH"])
    flash(RESET_SENT)
    return redirect(url_for("accounts.login"))


@blueprint.route("/reset/<token>", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@tokens.link_guessing_limit
@_paused_while_limits_are_local
def reset_password(token):
    now = now_utc()
    reset = services.reset_for_token(token, now)
    if reset is None:
        return render_template("accounts/reset_invalid.html"), 404
    form = NewPasswordForm()
    if not form.validate_on_submit():
        return render_template("accounts/reset.html", form=form), 422 if request.method == "POST" else 200
    try:
        with undone_if_refused():
            services.complete_password_reset(reset, form.password.data, now)
    except services.AccountError as error:
        form.password.errors = [str(error)]
        return render_template("accounts/reset.html", form=form), 422
    flash("Your password is set. Please sign in.")
    return redirect(url_for("accounts.login"))
