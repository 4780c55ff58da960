"""Health checks for load balancers: `/healthz` (the process answers) and `/readyz` (it can serve)."""

from functools import cache

from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from kapclinic.extensions import db, limiter

blueprint = Blueprint("ops", __name__)


@cache
def _revisions(migrations_directory):
    """This code's newest migration, and every migration before it."""
    script = ScriptDirectory(migrations_directory)
    return script.get_current_head(), frozenset(revision.revision for revision in script.walk_revisions())


@blueprint.get("/healthz")
@limiter.exempt
def healthz():
    return jsonify(status="ok")


@blueprint.get("/readyz")
@limiter.exempt
def readyz():
    """Ready when the database answers and its schema is at least this code's newest migration.

    Deploys migrate first: processes of the previous release keep serving while the
    schema is already one step ahead (a revision they do not know), and stop being
    ready only if the schema is behind them.
    """
    try:
        current = db.session.scalar(text("SELECT version_num FROM alembic_version"))
    except SQLAlchemyError as error:
        db.session.rollback()
        # The fault's type is for operators, in the log; anyone may ask this endpoint.
        current_app.logger.warning(
            "not ready: database unavailable", extra={"fields": {"error": type(getattr(error, "orig", error)).__name__}}
        )
        return jsonify(status="unavailable"), 503
    db.session.rollback()
    head, known = _revisions(current_app.extensions["migrate"].directory)
    if current != head and current in known:
        return jsonify(status="unavailable", reason="database schema is behind this release's newest migration"), 503
    return jsonify(status="ok")
