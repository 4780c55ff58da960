"""One JSON object per log line, each carrying the request id; one line per request.

What a line may hold is decided here, not at each call site: the request line names
the route pattern (`/manage/<token>`), never the path, so tokens, names and emails in
URLs never reach the logs; query strings and bodies are never logged.
"""

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime

from flask import current_app, g, has_request_context, request

from kapclinic.core.log_throttle import OncePerInterval

REQUEST_ID_HEADER = "X-Request-ID"
# An id from the proxy is kept only when it cannot carry anything else.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9-]{8,64}")


class JsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if getattr(record, "request_id", None):
            entry["request_id"] = record.request_id
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            # The type only: exception messages can quote data (a value that failed to parse).
            entry["error"] = record.exc_info[0].__name__
        return json.dumps(entry, ensure_ascii=False, default=str)


def _with_request_id(record):
    """Stamp the record while the request is still there (a handler may format it later)."""
    if has_request_context() and "request_id" in g:
        record.request_id = g.request_id
    return True


def _without_request_lines(record):
    """The development server's own request lines carry whole paths (and the tokens in them): drop them."""
    return "HTTP/" not in record.getMessage()


# A run of URL characters as long as a private link's token, with a digit or a separator in it
# (so words and class names stay readable), and any query string.
_TOKEN_LIKE = re.compile(r"(?=[A-Za-z0-9._~%-]*[0-9_~%-])[A-Za-z0-9._~%-]{20,}")
_QUERY = re.compile(r"\?\S*")


def without_private_paths(text):
    """The text with anything shaped like a link's token, and every query string, replaced."""
    return _TOKEN_LIKE.sub("<redacted>", _QUERY.sub("?<redacted>", text))


class WithoutPrivatePaths(logging.Filter):
    """For gunicorn's own lines, which name the request's whole path ("Error handling request /manage/<token>").

    The app never logs a path (see the module docstring); gunicorn does when a request
    fails outside the app, and a path can hold a patient's private link.
    """

    def filter(self, record):
        record.msg = without_private_paths(record.getMessage())
        record.args = ()
        return True


def register_logging(app):
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    app.logger.handlers[:] = [handler]
    if _with_request_id not in app.logger.filters:
        app.logger.addFilter(_with_request_id)
    # Flask's own last-resort log line names the path (and a token in it) and carries the message.
    app.log_exception = lambda exc_info: app.logger.error(
        "unhandled error",
        extra={
            "fields": {
                "error": exc_info[0].__name__,
                "route": request.url_rule.rule if request.url_rule else "(no route)",
            }
        },
    )
    werkzeug_logger = logging.getLogger("werkzeug")
    if _without_request_lines not in werkzeug_logger.filters:
        werkzeug_logger.addFilter(_without_request_lines)
    app.logger.setLevel(str(app.config["LOG_LEVEL"]).upper())
    # Flask-Limiter reports its storage going away (and errors it swallows) to a logger of its
    # own with only a NullHandler: our JSON lines instead, once per interval. Its INFO lines
    # (each breach, with the client's address) stay out.
    limiter_handler = logging.StreamHandler(sys.stderr)
    limiter_handler.setFormatter(JsonFormatter())
    limiter_handler.addFilter(_with_request_id)
    limiter_handler.addFilter(OncePerInterval(app.config["REDIS_WARNING_INTERVAL_SECONDS"]))
    limiter_logger = logging.getLogger("flask-limiter")
    limiter_logger.handlers[:] = [limiter_handler]
    limiter_logger.setLevel(logging.WARNING)
    limiter_logger.propagate = False
    app.before_request(_start_request)
    app.after_request(_log_request)


def _start_request():
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _SAFE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _log_request(response):
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    started = g.get("request_started")
    current_app.logger.info(
        "request",
        extra={
            "fields": {
                "method": request.method,
                "route": request.url_rule.rule if request.url_rule is not None else "(no route)",
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
            }
        },
    )
    return response
