"""kapclinic: consultation scheduling and intake for a ketamine-assisted psychotherapy clinic."""

from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from kapclinic.audit.keys import ensure_audit_key
from kapclinic.core.crypto import ensure_data_keys, ensure_index_key
from kapclinic.core.db import engine_options, rollback_quietly
from kapclinic.core.proxies import TrustedProxies
from kapclinic.core.unit_of_work import UnitOfWorkFlask, end_session_quietly, start_writing_request
from kapclinic.extensions import csrf, db, limiter, login_manager, mail, migrate
from kapclinic.ops.logging import register_logging

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(settings=None):
    """Build the app. `settings` (a dict) overrides the configuration chosen by the environment."""
    app = UnitOfWorkFlask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        instance_relative_config=True,
    )
    register_config(app, settings)
    register_logging(app)
    register_extensions(app)
    register_blueprints(app)
    register_hooks(app)
    register_commands(app)
    return app


def register_config(app, settings):
    from config import load_settings

    app.config.update(load_settings())
    if settings:
        app.config.update(settings)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{Path(app.instance_path) / 'kapclinic.sqlite3'}"
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config)
    ensure_data_keys(app)
    ensure_audit_key(app)
    ensure_index_key(app)
    if app.config["PROXY_FIX_X_FOR"]:
        app.wsgi_app = TrustedProxies(app.wsgi_app, app.config["FORWARDED_ALLOW_IPS"], app.config["PROXY_FIX_X_FOR"])


def register_extensions(app):
    # Imported for their side effects: engine events, and every model on the metadata.
    from kapclinic.accounts import models as _account_models  # noqa: F401
    from kapclinic.audit import models as _audit_models  # noqa: F401
    from kapclinic.core import db as _sqlite_setup  # noqa: F401
    from kapclinic.core import models as _core_models  # noqa: F401
    from kapclinic.courses import models as _course_models  # noqa: F401
    from kapclinic.frontdesk import models as _frontdesk_models  # noqa: F401
    from kapclinic.intake import models as _intake_models  # noqa: F401
    from kapclinic.notifications import models as _notification_models  # noqa: F401
    from kapclinic.patients import models as _patient_models  # noqa: F401
    from kapclinic.reminders import models as _reminder_models  # noqa: F401
    from kapclinic.scheduling import models as _scheduling_models  # noqa: F401

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    csrf.init_app(app)
    mail.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "Please sign in to see that page."
    from kapclinic.scheduling import calendar_cache

    calendar_cache.init_app(app)


def register_blueprints(app):
    from kapclinic.core.db import RowIdConverter

    app.url_map.converters["id"] = RowIdConverter
    from kapclinic.accounts.views import blueprint as accounts_blueprint
    from kapclinic.admin.brand import blueprint as brand_blueprint
    from kapclinic.admin.course_views import blueprint as course_templates_blueprint
    from kapclinic.admin.views import blueprint as admin_blueprint
    from kapclinic.api.views import blueprint as api_blueprint
    from kapclinic.frontdesk.caller_views import blueprint as callers_blueprint
    from kapclinic.frontdesk.course_views import blueprint as courses_blueprint
    from kapclinic.frontdesk.patient_views import blueprint as patients_blueprint
    from kapclinic.frontdesk.views import blueprint as frontdesk_blueprint
    from kapclinic.intake.views import blueprint as intake_blueprint
    from kapclinic.ops.health import blueprint as ops_blueprint
    from kapclinic.scheduling.views import blueprint as scheduling_blueprint
    from kapclinic.workspace.feeds import blueprint as feeds_blueprint
    from kapclinic.workspace.views import blueprint as workspace_blueprint

    app.register_blueprint(ops_blueprint)
    app.register_blueprint(scheduling_blueprint)
    app.register_blueprint(intake_blueprint)
    app.register_blueprint(accounts_blueprint)
    app.register_blueprint(workspace_blueprint)
    app.register_blueprint(feeds_blueprint)
    app.register_blueprint(admin_blueprint)
    app.register_blueprint(course_templates_blueprint)
    app.register_blueprint(brand_blueprint)
    app.register_blueprint(frontdesk_blueprint)
    app.register_blueprint(callers_blueprint)
    app.register_blueprint(patients_blueprint)
    app.register_blueprint(courses_blueprint)
    app.register_blueprint(api_blueprint, url_prefix="/api/v1")
    csrf.exempt(api_blueprint)
    csrf.exempt(intake_blueprint)  # checks CSRF itself, keeping what the patient typed


def register_hooks(app):
    from kapclinic.core.clinic import register_template_context
    from kapclinic.core.error_pages import register_error_pages
    from kapclinic.core.headers import security_headers
    from kapclinic.notifications.services import deliver_committed

    register_error_pages(app)
    app.before_request(start_writing_request)
    app.teardown_appcontext(end_session_quietly)
    register_template_context(app)
    app.after_request(security_headers)

    if app.config["OUTBOX_SEND_AFTER_REQUEST"]:

        @app.after_request
        def deliver_emails_after_commit(response):
            # The request's own work is committed; if the database fails now, the emails
            # are still in the outbox and the worker (or the next request) sends them.
            try:
                deliver_committed()
            except SQLAlchemyError as error:
                rollback_quietly()
                app.logger.warning("emails left to the worker: %s", type(getattr(error, "orig", error)).__name__)
            return response


def register_commands(app):
    from kapclinic.accounts.commands import users_cli
    from kapclinic.audit.commands import audit_cli
    from kapclinic.cli import intake_cli
    from kapclinic.demo import demo_data_command
    from kapclinic.notifications.commands import outbox_cli
    from kapclinic.ops.worker import worker_command
    from kapclinic.patients.commands import patients_cli

    app.cli.add_command(audit_cli)
    app.cli.add_command(demo_data_command)
    app.cli.add_command(intake_cli)
    app.cli.add_command(outbox_cli)
    app.cli.add_command(patients_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(worker_command)
