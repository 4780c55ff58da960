"""Error pages and answers: plain words for people, JSON for the API, 503 when the database is away.

Handlers log a fault by its type and place, never its message: a database error's message may
hold patient details.
"""

import math
import time
import traceback

from flask import current_app, g, jsonify, render_template, request
from sqlalchemy.exc import OperationalError, PendingRollbackError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from kapclinic.core.clinic import clinic_from_config, drawing_error_page
from kapclinic.core.db import is_transient, rollback_quietly
from kapclinic.core.errors import DomainError, NotAllowed, NotFound
from kapclinic.core.unit_of_work import OutcomeUnknown
from kapclinic.extensions import limiter, login_manager


def _wants_json():
    return request.path.startswith("/api/")


DATABASE_AWAY = (
    "We cannot reach our records for a moment, so nothing was saved. Please try again in a minute, or call us."
)
OUTCOME_UNKNOWN = (
    "We lost touch with our records while saving this, so we cannot tell whether it was saved. If it was, our "
    "email will confirm it within a few minutes. Please check your email before trying again, or call us."
)
API_OUTCOME_UNKNOWN = (
    "The connection to our records was lost while saving, so this may or may not have been saved. Repeating a "
    "booking with the same Idempotency-Key is safe: it returns the booking if it was made, and books it if not."
)
RETRY_AFTER_SECONDS = 30
# What a database that is away or too busy raises; database_unavailable sorts out the rest.
DATABASE_FAULTS = (OperationalError, PoolTimeout, PendingRollbackError)


def _error_page_context():
    """Error pages name no signed-in user: loading one would query the database, which may be the fault."""
    drawing_error_page()
    if "_login_user" not in g:
        g._login_user = login_manager.anonymous_user()


def server_error(error):
    """500: logged by type and place, never by message (a database error's message may hold patient details)."""
    rollback_quietly()
    frames = "; ".join(
        f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} {frame.name}"
        for frame in traceback.extract_tb(error.__traceback__)[-6:]
    )
    current_app.logger.error(
        "unhandled %s on %s %s at %s", type(error).__name__, request.method, request.url_rule, frames
    )
    _error_page_context()
    if _wants_json():
        return jsonify({"error": "Internal Server Error", "message": "Something went wrong."}), 500
    return error_page(500), 500


def database_unavailable(error, render_page=None):
    """503 when the database is unreachable or too busy: the transaction rolled back, so nothing was written.

    Any other database error (a missing table, a broken query) is a 500. `render_page`
    may show the page again with what the visitor typed (see intake.views). The page's
    frame takes the clinic's details from the configuration: no query.
    """
    if not is_transient(error):
        return server_error(error)
    rollback_quietly()
    # The driver's class names the fault (refused, lock timeout); its message may hold SQL.
    current_app.logger.warning(
        "database unavailable on %s %s: %s",
        request.method,
        request.url_rule,
        type(getattr(error, "orig", error)).__name__,
    )
    return _unavailable(DATABASE_AWAY, render_page)


def outcome_unknown(error):
    """503 that says the truth when the connection died during COMMIT: the work may have been saved.

    "Nothing was saved" would be a lie half the time, and a patient told it books again.
    """
    current_app.logger.warning(
        "commit outcome unknown on %s %s: %s",
        request.method,
        request.url_rule,
        type(getattr(error.__cause__, "orig", error.__cause__)).__name__,
    )
    return _unavailable(API_OUTCOME_UNKNOWN if _wants_json() else OUTCOME_UNKNOWN)


def _unavailable(message, render_page=None):
    """The 503 answer: its frame takes the clinic's details from the configuration, with no query."""
    g.clinic_profile = clinic_from_config(current_app.config)
    _error_page_context()
    if _wants_json():
        response = jsonify({"error": "Service Unavailable", "message": message})
    elif render_page is not None:
        response = current_app.make_response(render_page())
    else:
        response = current_app.make_response(error_page(503, message))
    response.status_code = 503
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def refused(error):
    """A DomainError no view caught: its own words, as 404, 403 or 422 (the unit of work rolled back)."""
    code = 404 if isinstance(error, NotFound) else 403 if isinstance(error, NotAllowed) else 422
    _error_page_context()
    if _wants_json():
        body = {"error": HTTP_STATUS_CODES[code], "message": error.message}
        if error.field:
            body["errors"] = {error.field: error.message}
        return jsonify(body), code
    return error_page(code, error.message), code


# Plain headings and, where werkzeug would speak for us, plain messages: a patient on the
# wrong link should read what happened and what to do, not "If you entered the URL manually".
HEADINGS = {
    400: "We could not use that",
    403: "You cannot open this page",
    404: "Page not found",
    405: "We can't do that here",
    409: "We can't do that just now",
    413: "That is too much to send at once",
    415: "We could not use that",
    422: "We could not use that",
    429: "Please wait a moment",
    500: "Something went wrong",
    503: "We can't do that just now",
}
MESSAGES = {
    400: "Something in what was sent was not as we expected, so nothing was changed. Please go back and try again.",
    403: "This page is not open to you.",
    404: (
        "We could not find this page. If you typed the address, please check it. If you followed a link from one of "
        "our emails, it may have been replaced by a newer one: please use the link in our most recent email."
    ),
    405: "This page cannot do that. Please go back and use the buttons on the page.",
    409: "Nothing was changed. Please go back, reload the page and try again.",
    413: "Nothing was saved. Please go back and send less at once.",
    429: "Please wait a few minutes and try again.",
    500: "We could not finish that. Nothing was changed. Please try again.",
    503: "Nothing was changed. Please try again in a few minutes.",
}


def _is_staff_page():
    return request.path == "/staff" or request.path.startswith("/staff/")


def error_page(code, description=None):
    """Our page for an HTTP error: the staff layout under /staff, the patients' everywhere else."""
    staff = _is_staff_page()
    # A private link (its token in the path) that finds nothing has expired or been replaced:
    # say so, rather than "Page not found" for a page the patient knows exists.
    private_link = code in (404, 410) and "token" in (request.view_args or {})
    return render_template(
        "core/error.html",
        code=code,
        private_link=private_link,
        heading="This link does not work any more" if private_link else HEADINGS.get(code, "Something went wrong"),
        message=description or MESSAGES.get(code, MESSAGES[500]),
        layout="staff_base.html" if staff else "base.html",
        staff=staff,
    )


def _description(error):
    """The error's own words, unless they are werkzeug's default for its class (written for developers)."""
    if error.description == type(error).description:
        return None
    return error.description


def refusal_response(error, body):
    """Send `body` with the status of `error` and the headers HTTP gives it.

    Our page replaces werkzeug's body, not what its headers say: Allow on a 405,
    Retry-After, WWW-Authenticate; a 429 tells when its limit's window starts afresh.
    """
    response = current_app.make_response((body, error.code))
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    if error.code == 429 and "Retry-After" not in response.headers:
        wait = seconds_until_limit_resets()
        if wait is not None:
            response.headers["Retry-After"] = str(wait)
    return response


def http_error(error):
    _error_page_context()
    if _wants_json():
        body = jsonify({"error": error.name, "message": error.description})
    else:
        body = error_page(error.code, _description(error))
    return refusal_response(error, body)


def register_error_pages(app):
    for fault in DATABASE_FAULTS:
        app.register_error_handler(fault, database_unavailable)
    app.register_error_handler(OutcomeUnknown, outcome_unknown)
    app.register_error_handler(DomainError, refused)
    app.register_error_handler(Exception, server_error)
    app.register_error_handler(HTTPException, http_error)


def seconds_until_limit_resets():
    """Seconds until the window of the limit this request broke starts afresh (None if no limit broke)."""
    limit = limiter.current_limit
    if limit is None or not limit.breached:
        return None
    try:
        reset_time = limit.window.reset_time
    except limiter.storage.base_exceptions:
        return None  # the storage went away between the refusal and this answer
    return max(1, math.ceil(reset_time - time.time()))
