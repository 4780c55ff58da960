"""The schema comes from migrations only, and matches the models; configuration refuses unsafe production."""

import os
import re
import secrets
import subprocess
import sys
import warnings

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from cryptography.fernet import Fernet
from sqlalchemy import CheckConstraint, func, inspect, select, text

from config import ConfigurationError, load_settings
from kapclinic.core.db import engine_options
from kapclinic.extensions import db


def _differences(app):
    with app.app_context(), db.engine.connect() as connection, warnings.catch_warnings():
        if connection.dialect.name == "sqlite":
            # The index on lower(patient_email) is PostgreSQL's only (see Booking): SQLite
            # cannot reflect one, so alembic says it skips it. PostgreSQL compares it.
            warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index")
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
        if connection.dialect.name == "sqlite":
            # SQLite cannot add a NOT NULL reference without rebuilding bookings (migration 0024).
            differences = [
                change for change in differences if change[0][:4] != ("modify_nullable", None, "bookings", "patient_id")
            ]
        return differences


@pytest.mark.both_databases
def test_migrations_build_exactly_the_models_schema(make_app, database_url):
    app = make_app(database_url)
    assert _differences(app) == []
    with app.app_context():
        inspector = inspect(db.engine)
        tables = set(inspector.get_table_names())
        # Alembic's comparison skips CHECK constraints: compare their names directly.
        for table in db.metadata.sorted_tables:
            expected = {
                constraint.name
                for constraint in table.constraints
                if isinstance(constraint, CheckConstraint) and constraint.name
            }
            assert {check["name"] for check in inspector.get_check_constraints(table.name)} >= expected, table.name
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as connection:
                exclusions = (
                    connection.execute(
                        text(
                            "SELECT conname FROM pg_constraint WHERE contype = 'x' AND conrelid = 'bookings'::regclass"
                        )
                    )
                    .scalars()
                    .all()
                )
            assert sorted(exclusions) == ["ex_bookings_no_overlap", "ex_bookings_patient_no_overlap"]
    assert {"clinicians", "consultation_types", "bookings", "outbox_messages", "intakes", "alembic_version"} <= tables


def test_demo_data_is_idempotent_and_yields_slots(make_app, sqlite_url):
    app = make_app(sqlite_url)
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo-data"])
    second = runner.invoke(args=["demo-data"])
    assert first.exit_code == second.exit_code == 0, first.output
    assert "3 clinicians" in first.output and "0 new bookings" in second.output
    assert "2 submitted intakes" in first.output and "0 submitted intakes" in second.output
    client = app.test_client()
    from kapclinic.demo import DEMO_PASSWORD

    sign_in = client.post("/staff/login", data={"email": "frontdesk@example.org", "password": DEMO_PASSWORD})
    assert sign_in.status_code == 302
    queue = client.get("/staff/intakes?from=").text
    assert queue.index("Sam Example") < queue.index("Alex Demo"), "the demo's urgent intake leads the queue"
    types = client.get("/api/v1/consultation-types").json
    assert len(types) == 3
    clinician_zones = {clinician["timezone"] for clinician in client.get("/api/v1/clinicians").json}
    assert len(clinician_zones) == 3
    from datetime import date, timedelta

    start = date.today() + timedelta(days=1)
    slots = client.get(
        "/api/v1/slots",
        query_string={
            "type": "initial-video",
            "start": start.isoformat(),
            "end": (start + timedelta(days=13)).isoformat(),
            "tz": "UTC",
        },
    ).json["slots"]
    assert len(slots) > 20


def test_demo_data_is_refused_in_production(make_app, sqlite_url):
    app = make_app(sqlite_url, NAME="production")
    result = app.test_cli_runner().invoke(args=["demo-data"])
    assert result.exit_code != 0
    assert "development only" in result.output


@pytest.mark.postgres
def test_demo_data_plants_no_known_password_in_a_server_database_under_the_development_config(make_app, postgres_url):
    """KAPCLINIC_CONFIG=development with DATABASE_URL naming the clinic's PostgreSQL: refused, nothing written."""
    from kapclinic.accounts.models import StaffUser

    app = make_app(postgres_url, NAME="development")
    result = app.test_cli_runner().invoke(args=["demo-data"])
    assert result.exit_code != 0
    assert "refused on a postgresql database" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(StaffUser)) == 0


STRONG_SECRET = secrets.token_hex()
READY = {
    "KAPCLINIC_CONFIG": "production",
    "SECRET_KEY": STRONG_SECRET,
    "DATABASE_URL": "postgresql://db/kap",
    "PUBLIC_BASE_URL": "https://book.clinic.example",
    "AUDIT_KEY": secrets.token_hex(),
    "INDEX_KEY": secrets.token_hex(),
}


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"KAPCLINIC_CONFIG": "production", "DATABASE_URL": "postgresql://db/kap"}, "SECRET_KEY"),
        (
            {"KAPCLINIC_CONFIG": "production", "SECRET_KEY": "short", "DATABASE_URL": "postgresql://db/kap"},
            "SECRET_KEY",
        ),
        ({**READY, "SECRET_KEY": "x" * 40}, "SECRET_KEY is too predictable"),
        ({**READY, "SECRET_KEY": "ab" * 32}, "SECRET_KEY is too predictable"),
        ({**READY, "SECRET_KEY": "abcd" * 10}, "SECRET_KEY is too predictable"),
        ({"KAPCLINIC_CONFIG": "production", "SECRET_KEY": STRONG_SECRET}, "DATABASE_URL"),
        (
            {key: value for key, value in READY.items() if key != "PUBLIC_BASE_URL"},
            "PUBLIC_BASE_URL must be set to the https://",
        ),
        ({**READY, "PUBLIC_BASE_URL": "http://book.clinic.example"}, "PUBLIC_BASE_URL must be set to the https://"),
        ({**READY, "PUBLIC_BASE_URL": "https://"}, "PUBLIC_BASE_URL must be set to the https://"),
        (READY, "KAPCLINIC_DATA_KEY"),
        ({**READY, "KAPCLINIC_DATA_KEY": "not-a-fernet-key"}, "not a Fernet key"),
        ({**READY, "KAPCLINIC_DATA_KEY": Fernet.generate_key().decode(), "AUDIT_KEY": ""}, "AUDIT_KEY must be set"),
        (
            {**READY, "KAPCLINIC_DATA_KEY": Fernet.generate_key().decode(), "AUDIT_KEY": "a" * 64},
            "AUDIT_KEY must be set",
        ),
        (
            {**READY, "KAPCLINIC_DATA_KEY": Fernet.generate_key().decode(), "AUDIT_KEY": STRONG_SECRET},
            "AUDIT_KEY must be set",
        ),
        ({**READY, "KAPCLINIC_DATA_KEY": Fernet.generate_key().decode(), "INDEX_KEY": ""}, "INDEX_KEY must be set"),
        (
            {**READY, "KAPCLINIC_DATA_KEY": Fernet.generate_key().decode(), "INDEX_KEY": READY["AUDIT_KEY"]},
            "INDEX_KEY must be set",
        ),
        ({"KAPCLINIC_CONFIG": "staging"}, "KAPCLINIC_CONFIG"),
    ],
)
def test_production_refuses_to_start_without_real_secrets(environ, message):
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        load_settings(environ)


def test_a_deploy_with_a_guessable_secret_stops_with_one_line_saying_why():
    """`flask db upgrade` is a deploy's first step: the operator reads the reason, not a traceback."""
    environ = {**os.environ, **READY, "SECRET_KEY": "a" * 40, "KAPCLINIC_DATA_KEY": NEW_KEY}
    run = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "kapclinic", "db", "upgrade"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode != 0
    assert run.stderr.strip().splitlines() == [
        "Error: SECRET_KEY is too predictable (about 0 bits by its character counts, 90 needed): make one with "
        "python -c 'import secrets; print(secrets.token_hex())'"
    ]


# Drawn in the test, not at collection: every xdist worker must collect the same test ids.
@pytest.mark.parametrize(
    "generate",
    [lambda: secrets.token_hex(16), secrets.token_hex, lambda: secrets.token_urlsafe(32)],
    ids=["token_hex(16)", "token_hex()", "token_urlsafe(32)"],
)
def test_production_accepts_the_random_secrets_people_generate(generate):
    for _ in range(50):
        secret = generate()
        assert load_settings({**READY, "SECRET_KEY": secret, "KAPCLINIC_DATA_KEY": NEW_KEY})["SECRET_KEY"] == secret


NEW_KEY, OLD_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def test_settings_come_from_the_environment():
    settings = load_settings(
        {
            "KAPCLINIC_CONFIG": "production",
            "SECRET_KEY": STRONG_SECRET,
            "PUBLIC_BASE_URL": "https://book.clinic.example",
            "AUDIT_KEY": READY["AUDIT_KEY"],
            "INDEX_KEY": READY["INDEX_KEY"],
            "DATABASE_URL": "postgresql+psycopg://db/kap",
            "MAIL_SERVER": "smtp.example.org",
            "MAIL_PORT": "587",
            "MAIL_USE_TLS": "true",
            "MAIL_USERNAME": "clinic",
            "MAIL_PASSWORD": "pw",
            "MAIL_DEFAULT_SENDER": "front@clinic.example.org",
            "CANCELLATION_WINDOW_HOURS": "48",
            "KAPCLINIC_DATA_KEY": f"{NEW_KEY}, {OLD_KEY}",
            "REDIS_URL": "redis://cache:6379/2",
            "REMINDER_HOURS": "48, 3",
            "OUTBOX_SEND_AFTER_REQUEST": "false",
        }
    )
    assert settings["OUTBOX_SEND_AFTER_REQUEST"] is False
    assert settings["RATELIMIT_STORAGE_URI"] == "redis://cache:6379/2"
    assert settings["REMINDER_HOURS"] == (48, 3)
    assert settings["DATA_KEYS"] == [NEW_KEY, OLD_KEY]
    assert settings["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://db/kap"
    assert (settings["MAIL_SERVER"], settings["MAIL_PORT"], settings["MAIL_USE_TLS"]) == ("smtp.example.org", 587, True)
    assert settings["MAIL_DEFAULT_SENDER"] == "front@clinic.example.org"
    assert settings["CANCELLATION_WINDOW_HOURS"] == 48
    assert settings["SESSION_COOKIE_SECURE"] is True


def test_a_malformed_number_in_the_environment_is_named():
    with pytest.raises(ConfigurationError, match="REMINDER_HOURS='soon'"):
        load_settings({"KAPCLINIC_CONFIG": "development", "REMINDER_HOURS": "soon"})
    with pytest.raises(ConfigurationError, match="OUTBOX_SEND_AFTER_REQUEST='maybe'"):
        load_settings({"KAPCLINIC_CONFIG": "development", "OUTBOX_SEND_AFTER_REQUEST": "maybe"})


def test_development_defaults_to_sqlite_in_the_instance_folder():
    settings = load_settings({})
    assert settings["NAME"] == "development"
    assert settings["SQLALCHEMY_DATABASE_URI"] is None  # create_app puts it in instance/


def test_outbox_send_command_reports_what_it_sent(make_app, sqlite_url):
    app = make_app(sqlite_url)
    result = app.test_cli_runner().invoke(args=["outbox", "send"])
    assert result.output.strip() == "sent 0 message(s)"


def test_upgrading_to_the_front_desk_copies_flag_codes_out_of_existing_intakes(make_app, sqlite_url, mailbox):
    """Intakes answered before migration 0007 appear under the right flag filters afterwards.

    0007 copied the flag codes out of the encrypted results; 0013 turns them into the queue's markers.
    """
    from flask_migrate import downgrade, upgrade

    from kapclinic.intake.models import Intake
    from tests.helpers import seed_offering
    from tests.intake_answers import ADULT_STEPS, book_for_intake, complete_steps, post_step

    app = make_app(sqlite_url)
    offering = seed_offering(app, "upgrade")
    patient = app.test_client()
    intake_url = book_for_intake(patient, offering, mailbox)
    complete_steps(patient, intake_url, ADULT_STEPS[:6], psychiatric={"psychosis": "yes"})
    post_step(patient, intake_url, "phq9", phq9_9="1")
    markers = select(Intake.is_urgent, Intake.needs_review, Intake.has_info_flags, Intake.is_adolescent)
    with app.app_context():
        before = db.session.execute(markers).one()
        db.session.rollback()
        assert before == (True, True, False, False)
        db.engine.dispose()
        downgrade(revision="18d9fc3849c2")
        upgrade()
        db.engine.dispose()
        assert db.session.execute(markers).one() == before
        db.session.rollback()


def test_the_lock_timeout_joins_options_the_database_url_already_has():
    settings = load_settings(
        {
            **READY,
            "KAPCLINIC_DATA_KEY": NEW_KEY,
            "DATABASE_URL": "postgresql+psycopg://db/kap?options=-c%20search_path%3Dclinic",
        }
    )
    connect = engine_options(settings)["connect_args"]
    assert connect["options"] == "-c search_path=clinic -c lock_timeout=15000"
    assert engine_options({**settings, "DATABASE_LOCK_TIMEOUT_SECONDS": 0}).get("connect_args") is None  # drivers' own
    sqlite = engine_options(
        {**settings, "SQLALCHEMY_DATABASE_URI": "sqlite:///x.sqlite3", "DATABASE_LOCK_TIMEOUT_SECONDS": 2.5}
    )
    assert sqlite["connect_args"] == {"timeout": 2.5} and "pool_timeout" not in sqlite
