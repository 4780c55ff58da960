"""One transaction per request, as indico's request handler has it: load, authorise, act, commit once.

A writing request (POST, PUT, PATCH, DELETE) commits after its view has answered, and only
if the answer is not a refusal: a 4xx or an exception rolls everything back, so a service
that raised a DomainError half-way leaves nothing behind. Views never commit. The emails a
request queued go out after this commit (notifications.services). The answer is built before
the commit, so nothing is read back after it: if the database goes away in between, what the
patient was told is still what happened.

Two writes outlive a refusal on purpose, and say so where they happen: a safety answer on
an invalid questionnaire step (`keep_writes_despite_refusal`), and the audit row written
after a staff page is rendered (audit.reads.record_after_render).
"""

import copy
from contextlib import contextmanager

from flask import Flask, current_app, g, request, session
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from kapclinic.core.db import WRITING_METHODS, is_transient, rollback_quietly
from kapclinic.core.errors import DomainError
from kapclinic.extensions import db

_KEEP_WRITES = "kapclinic_keep_writes"
_SESSION_BEFORE = "kapclinic_session_before"


class OutcomeUnknown(Exception):
    """The connection died while COMMIT was on its way: the database may have saved the request's work, or not."""


@contextmanager
def undone_if_refused():
    """Undo a service's half-done change the moment it refuses (raises a DomainError), then let the view answer.

    The page drawn next (the form again, with the message) then shows what is stored, not
    the refused change. The request still commits only at its end, and only on success.
    """
    try:
        yield
    except DomainError:
        discard_changes()
        raise


def discard_changes():
    """Undo what this request changed so far, before a page shows a refused change's record again.

    For services that answer a refusal with per-field messages rather than an exception.
    """
    rollback_quietly()


def keep_writes_despite_refusal():
    """Commit what this request wrote although it answers with a refusal (4xx)."""
    g.setdefault(_KEEP_WRITES, True)


def _commit_outcome_unknown(error):
    """No answer to COMMIT came back (the connection dropped): it may have been applied.

    An answer from the server, even a fatal one (a terminated backend, a refused
    constraint), means the transaction was rolled back.
    """
    original = getattr(error, "orig", None)
    if type(original).__module__.startswith("sqlite3"):
        return False  # SQLite commits in this process: an error means it did not
    return is_transient(error) and getattr(original, "sqlstate", None) is None


def start_writing_request():
    """Before a writing view runs, remember the browser's session, for a commit that fails (see below)."""
    if request.method in WRITING_METHODS:
        g.setdefault(_SESSION_BEFORE, copy.deepcopy(dict(session)))


def _forget_session_changes():
    """A failed commit leaves the browser's session as it was: no "booked" message over a 503, no signed-out cookie
    for a sign-out the database never recorded."""
    before = g.get(_SESSION_BEFORE)
    if before is not None:
        session.clear()
        session.update(before)


def commit_request():
    """Commit the request's one transaction; raise OutcomeUnknown if nobody can tell whether it was saved."""
    try:
        db.session.commit()
    except SQLAlchemyError as error:
        # Any failed commit (a refused constraint, a connection that died earlier in the transaction)
        # leaves the session as it was; only a driver error can leave the outcome unknown.
        rollback_quietly()
        _forget_session_changes()
        if isinstance(error, DBAPIError) and _commit_outcome_unknown(error):
            raise OutcomeUnknown from error
        raise


def finish_request(response):
    """Commit a writing request that succeeded (or kept its writes by name); roll back every other."""
    keep = g.pop(_KEEP_WRITES, False)
    if request.method not in WRITING_METHODS:
        return response  # reading requests end with the session, at teardown
    if response.status_code >= 400 and not keep:
        rollback_quietly()
        return response
    commit_request()
    return response


def end_session_quietly(error=None):
    """Give the session back at the end of every request, even when the connection under it has died.

    Flask-SQLAlchemy's own teardown rolls back too, outside every error handler: on a
    connection the database had just terminated, its exception reached gunicorn, which
    answered a bare 500 after the view had succeeded and logged the request's path (a
    patient's private link). Registered after Flask-SQLAlchemy, this runs first; the session
    it leaves is empty, so the second removal does nothing.
    """
    try:
        db.session.remove()
    except SQLAlchemyError as fault:
        db.session.registry.clear()
        current_app.logger.warning(
            "database connection lost at the end of a request: %s", type(getattr(fault, "orig", fault)).__name__
        )


class UnitOfWorkFlask(Flask):
    """Flask whose every view runs in one unit of work (see the module docstring)."""

    def dispatch_request(self):
        return finish_request(self.make_response(super().dispatch_request()))
