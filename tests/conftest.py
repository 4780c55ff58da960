"""Shared fixtures, as flaskr's: `app` (no app context held), `client`, the databases, a real SMTP server, factories.

`app` runs on a migrated SQLite file; a test or module marked `both_databases` runs once on
SQLite and once on PostgreSQL (that run is marked `postgres`, so `-m "not postgres"` leaves
it out). A test that reads the database between requests asks for `app_context`. The plain
helpers tests call themselves are in tests/helpers.py.
"""

import os
import shutil
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import time
from pathlib import Path
from time import sleep

import pytest
from hypothesis import settings

os.environ["KAPCLINIC_CONFIG"] = "testing"

from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from kapclinic import create_app
from kapclinic.extensions import db
from kapclinic.scheduling.models import AvailabilityRule, Clinician, ConsultationType, Modality

# patient_json, seed_offering and sign_in are here only for tests/intake_answers.py, test_email.py and
# test_admin_outbox.py (edited elsewhere today): drop them from this import once those import them
# from tests.helpers.
from tests.helpers import (
    AXE,
    EVERY_DAY,
    POSTGRES_URL,
    RUNNING_IN_CI,
    STAFF_PASSWORD,
    Mailbox,
    running_smtp,
    skip_or_fail_without,
)

# CI draws a fixed sample of examples, so whether `main` lands never depends on the draw;
# local runs keep exploring new ones (and keep the failures they find in .hypothesis/).
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if RUNNING_IN_CI:
    settings.load_profile("ci")

BOTH_DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


# Test modules whose tests share a module-scoped server stack (tests/deployed): under `--dist loadgroup`
# (pyproject.toml) each such module goes to one worker, not to both, which would start two stacks.
ONE_WORKER_PER_MODULE = ("tests/deployed/",)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's loadgroup, grouping by path: pytest 9.2 ignores the `@group` suffix that the
    xdist_group mark adds to node ids (xdist 3.8 sets `item._nodeid`), so that mark groups nothing.
    Groups are handed out largest first, so the deployed journeys start at once; every other test
    is its own unit, handed to whichever worker is free."""
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class GroupedByPath(LoadGroupScheduling):
        def _split_scope(self, nodeid):
            if nodeid.startswith(ONE_WORKER_PER_MODULE):
                return nodeid.split("::", 1)[0]
            return super()._split_scope(nodeid)

    return GroupedByPath(config, log)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "both_databases: run the test on SQLite and on PostgreSQL (the `app` and `database_url` fixtures)"
    )


def _parametrizes(metafunc, name):
    """Whether the test itself parametrizes `name` (say, to run on SQLite only)."""
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0]
        if name in ([part.strip() for part in names.split(",")] if isinstance(names, str) else names):
            return True
    return False


def pytest_generate_tests(metafunc):
    """Run a `both_databases` test once per database, through the `database_url` it depends on."""
    wanted = metafunc.definition.get_closest_marker("both_databases")
    if wanted and "database_url" in metafunc.fixturenames and not _parametrizes(metafunc, "database_url"):
        metafunc.parametrize("database_url", BOTH_DATABASES, indirect=True)


# --- mail ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def smtp_server():
    mailbox = Mailbox()
    with running_smtp(mailbox) as controller:
        yield controller, mailbox


@pytest.fixture
def mailbox(smtp_server):
    _, box = smtp_server
    box.clear()
    yield box
    box.clear()


# --- databases ------------------------------------------------------------------------


def _settings(database_url, smtp_server, **overrides):
    controller, _ = smtp_server
    return {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": controller.port,
        "MAIL_TIMEOUT_SECONDS": 5.0,
        "PUBLIC_BASE_URL": "https://clinic.example.org",
        "CLINIC_TIMEZONE": "America/New_York",
        **overrides,
    }


def _migrate(database_url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        upgrade()
        db.engine.dispose()


SHARED_MEMORY = Path("/dev/shm")


@pytest.fixture(scope="session")
def sqlite_folder(tmp_path_factory):
    """Where the SQLite files go: in memory (tmpfs) where the system has one, else the test's temporary folder.

    SQLite in WAL mode syncs the log to disk at every commit; on this machine's disk that is 0.5-3 ms
    each, hundreds of times in some tests. The files behave the same in either place.
    """
    if SHARED_MEMORY.is_dir() and os.access(SHARED_MEMORY, os.W_OK):
        with tempfile.TemporaryDirectory(prefix="kapclinic-tests-", dir=SHARED_MEMORY) as folder:
            yield Path(folder)
    else:
        yield tmp_path_factory.mktemp("databases")


@pytest.fixture(scope="session")
def migrated_sqlite_template(sqlite_folder):
    """One SQLite file migrated to head per test process; each test copies it."""
    path = sqlite_folder / "template.sqlite3"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(migrated_sqlite_template, sqlite_folder):
    """A copy of the migrated file for one test (its name its own), removed afterwards with its -wal and -shm."""
    path = sqlite_folder / f"kapclinic-{uuid.uuid4().hex[:12]}.sqlite3"
    shutil.copy(migrated_sqlite_template, path)
    yield f"sqlite:///{path}"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _postgres_admin_engine():
    return create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def postgres_server():
    """Skip (or fail, in CI) when the PostgreSQL named by KAPCLINIC_TEST_POSTGRES_URL is not there."""
    engine = _postgres_admin_engine()
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - any failure to connect means "no server"
        engine.dispose()
        message = f"PostgreSQL not reachable at {POSTGRES_URL}: {type(error).__name__}"
        if RUNNING_IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    yield engine
    engine.dispose()


def _postgres_database_url(name):
    return POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"


def _create_postgres_database(server, name, template=None):
    """CREATE DATABASE, as a copy of `template` if given (a file copy: far cheaper than migrating)."""
    statement = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
    for attempt in range(50):
        try:
            with server.connect() as connection:
                connection.execute(text(statement))
            return
        except OperationalError as error:
            # The template's last connection may still be closing on the server's side.
            if "is being accessed by other users" not in str(error) or attempt == 49:
                raise
            sleep(0.1)


def _drop_postgres_database(server, name):
    with server.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_dropper(postgres_server):
    """Drop a finished test's database in the background: a DROP DATABASE waits for a checkpoint
    (a second or more here), which the next test need not wait for. All are dropped by the session's end."""
    drops = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="drop-database") as dropper:
        yield lambda name: drops.append(dropper.submit(_drop_postgres_database, postgres_server, name))
    for drop in drops:
        drop.result()  # a database that could not be dropped is an error of the session, as it was of the test


@pytest.fixture(scope="session")
def migrated_postgres_template(postgres_server, postgres_dropper):
    """One PostgreSQL database migrated to head per test process; each test gets a copy of it.

    As for SQLite: the migrations still build every test's schema, once. Nothing connects to
    it after that, so PostgreSQL may copy it (CREATE DATABASE ... TEMPLATE).
    """
    name = f"kapclinic_template_{uuid.uuid4().hex[:12]}"
    _create_postgres_database(postgres_server, name)
    try:
        _migrate(_postgres_database_url(name))
        yield name
    finally:
        postgres_dropper(name)


@pytest.fixture
def postgres_url(postgres_server, migrated_postgres_template, postgres_dropper):
    """A new PostgreSQL database at the migrations' head for one test; dropped afterwards."""
    name = f"kapclinic_test_{uuid.uuid4().hex[:12]}"
    _create_postgres_database(postgres_server, name, template=migrated_postgres_template)
    with postgres_server.connect() as connection:
        # A commit returns before its log reaches the disk (4-8 ms a commit here, 1.5 ms without the
        # wait). Only a crash of the server could tell: what each connection sees is unchanged.
        connection.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    yield _postgres_database_url(name)
    postgres_dropper(name)


@pytest.fixture
def database_url(request):
    """The database a test runs on: SQLite, or each of SQLite and PostgreSQL when it is marked `both_databases`."""
    database = getattr(request, "param", "sqlite")
    return request.getfixturevalue("sqlite_url" if database == "sqlite" else "postgres_url")


# --- app --------------------------------------------------------------------------------


def _app(database_url, smtp_server, **overrides):
    app = create_app(_settings(database_url, smtp_server, **overrides))
    app.config["KAPCLINIC_TEST_DATABASE"] = database_url
    return app


@pytest.fixture
def make_app(smtp_server):
    """Return a factory for apps on a given database with config overrides."""
    apps = []

    def factory(database_url, **overrides):
        app = _app(database_url, smtp_server, **overrides)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def app(make_app, database_url):
    """The app, holding no app context: each request gets its own, as in production.

    Flask-Login keeps the signed-in user in `g`; a context shared with the test would
    carry it from one request to the next and hide a session that has ended.
    """
    return make_app(database_url)


@pytest.fixture
def app_context(app):
    """Hold an app context for the whole test, for a test that reads or writes the database itself."""
    with app.app_context():
        yield


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def in_app(app):
    """Run a function inside a fresh app context, commit, and return its result."""

    def run(function):
        with app.app_context():
            result = function()
            db.session.commit()
            return result

    return run


# --- factories ---------------------------------------------------------------------------


@pytest.fixture
def create_clinician(app_context):
    """Return a factory: a clinician working 09:00-17:00 every day in their zone unless told otherwise.

    The clinician stays a live ORM object, so the test holds an app context (`app_context`).
    """
    counter = iter(range(1, 10_000))

    def factory(hours=((time(9), time(17)),), weekdays=EVERY_DAY, **overrides):
        number = next(counter)
        values = {
            "name": f"Clinician {number}",
            "credentials": "MD",
            "email": f"clinician{number}-{uuid.uuid4().hex[:6]}@clinic.example.org",
            "timezone": "America/New_York",
        }
        values.update(overrides)
        clinician = Clinician(**values)
        for weekday in weekdays:
            for start, end in hours:
                clinician.availability_rules.append(AvailabilityRule(weekday=weekday, start_time=start, end_time=end))
        db.session.add(clinician)
        db.session.commit()
        return clinician

    return factory


@pytest.fixture
def create_consultation_type(app_context):
    """Return a factory: a 60-minute video consultation, bookable from now, for the given clinicians."""
    counter = iter(range(1, 10_000))

    def factory(clinicians=(), **overrides):
        number = next(counter)
        values = {
            "slug": f"consultation-{number}",
            "name": f"Consultation {number}",
            "duration_minutes": 60,
            "min_notice_minutes": 0,
            "horizon_days": 60,
            "slot_step_minutes": 30,
            "modality": Modality.VIDEO,
            "video_link": "https://video.clinic.example.org/room",
        }
        values.update(overrides)
        consultation_type = ConsultationType(**values)
        consultation_type.clinicians = list(clinicians)
        db.session.add(consultation_type)
        db.session.commit()
        return consultation_type

    return factory


# --- staff ---------------------------------------------------------------------------------


@pytest.fixture
def create_staff(in_app):
    """Return a factory for staff users with STAFF_PASSWORD; it returns plain details.

    A clinician user gets a clinician profile working 09:00-17:00 every day in `timezone`.
    """
    from types import SimpleNamespace

    from kapclinic.accounts import services as accounts
    from kapclinic.accounts.models import Role, StaffUser
    from kapclinic.core.timezones import now_utc

    def factory(role=Role.FRONT_DESK, email=None, name="Sam Staff", timezone="America/New_York"):
        def create():
            number = db.session.query(StaffUser).count() + 1
            clinician = None
            if role is Role.CLINICIAN:
                clinician = Clinician(
                    name=name, email=f"profile{number}-{uuid.uuid4().hex[:6]}@clinic.example.org", timezone=timezone
                )
                clinician.availability_rules = [
                    AvailabilityRule(weekday=day, start_time=time(9), end_time=time(17)) for day in EVERY_DAY
                ]
                db.session.add(clinician)
            user = accounts.create_user(
                email or f"{role.value}-{number}@clinic.example.org", name, role, STAFF_PASSWORD, now_utc(), clinician
            )
            return SimpleNamespace(
                id=user.id, email=user.email, password_hash=user.password_hash, clinician_id=user.clinician_id
            )

        return in_app(create)

    return factory


@pytest.fixture
def create_staff_for_clinician(in_app):
    """Return a factory: a clinician's staff account for an existing profile (one from seed_offering, say).

    create_staff makes a new profile; tests that book through seed_offering need the
    account of the clinician who holds those bookings.
    """
    from types import SimpleNamespace

    from kapclinic.accounts import services as accounts
    from kapclinic.accounts.models import Role
    from kapclinic.core.timezones import now_utc

    def factory(clinician_id, email=None):
        def create():
            clinician = db.session.get(Clinician, clinician_id)
            address = email or f"clinician-{clinician_id}-{uuid.uuid4().hex[:6]}@clinic.example.org"
            user = accounts.create_user(address, clinician.name, Role.CLINICIAN, STAFF_PASSWORD, now_utc(), clinician)
            return SimpleNamespace(id=user.id, email=user.email, clinician_id=clinician_id)

        return in_app(create)

    return factory


# --- browser ----------------------------------------------------------------------------------
# Here rather than in tests/e2e/conftest.py because tests/deployed drives it too: Playwright's sync
# API runs once per process, and a session fixture defined in two conftests would start it twice.

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium through Playwright (its own browser download cannot work here)."""
    if not CHROMIUM.exists():
        skip_or_fail_without("Debian's chromium", "apt-get install chromium")
    if not AXE.exists():
        skip_or_fail_without("axe-core", "make install-test runs npm ci in tests/e2e")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()
