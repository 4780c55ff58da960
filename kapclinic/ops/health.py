"""Health checks for load balancers: `/healthz` (the process answers) and `/readyz` (it can serve)."""

from functools import cache

from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from kapclinic.extensions import db, limiter

blueprint = Blueprint("ops", __name__)


@cache
def _head_revision(migrations_directory):
    return ScriptDirectory(migrations_directory).get_current_head()


@blueprint.get("/healthz")
@limiter.exempt
def healthz():
    return jsonify(status="ok")


@blueprint.get("/readyz")
@limiter.exempt
def readyz():
    """Ready when the database answers and its schema is at the newest migration (deploys migrate first)."""
    try:
        current = db.session.scalar(text("SELECT version_num FROM alembic_version"))
    except SQLAlchemyError as error:
        db.session.rollback()
        return jsonify(status="unavailable", reason=f"database: {type(error).__name__}"), 503
    db.session.rollback()
    head = _head_revision(current_app.extensions["migrate"].directory)
    if current != head:
        return jsonify(status="unavailable", reason="database schema is not at the newest migration"), 503
    return jsonify(status="ok")
