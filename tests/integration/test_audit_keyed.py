"""The audit trail holds against the database's owner: a keyed chain, a recorded head, an app role unable to edit it."""

import hashlib
import json
import re
import secrets
import uuid

import pytest
from alembic import command
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from kapclinic.accounts.models import Role
from kapclinic.audit.chain import HASHED_FIELDS
from kapclinic.audit.models import AuditAction, AuditEvent
from kapclinic.extensions import db
from tests.helpers import seed_offering, sign_in
from tests.intake_answers import submit_intake

pytestmark = pytest.mark.both_databases

GENESIS = "0" * 64


@pytest.fixture
def intake_id(app, mailbox):
    return submit_intake(app, seed_offering(app, "keyed"), mailbox, 0, "Kim Keyed", "kim@example.com")


@pytest.fixture
def desk_client(app, create_staff):
    desk = create_staff(Role.FRONT_DESK, email="desk.keyed@clinic.example.org")
    client = app.test_client()
    sign_in(client, desk.email)
    return client


def _as_owner(app, *statements):
    """Statements as the database owner, around the triggers that refuse UPDATE and DELETE (put back after)."""
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
        db.session.execute(
            text(
                "ALTER TABLE audit_events DISABLE TRIGGER USER"
                if postgres
                else "DROP TRIGGER IF EXISTS audit_events_no_update"
            )
        )
        if not postgres:
            db.session.execute(text("DROP TRIGGER IF EXISTS audit_events_no_delete"))
        for statement in statements:
            statement() if callable(statement) else db.session.execute(text(statement))
        if postgres:
            db.session.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
        else:
            for event in ("UPDATE", "DELETE"):
                db.session.execute(
                    text(
                        f"CREATE TRIGGER audit_events_no_{event.lower()} BEFORE {event} ON audit_events "
                        "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
                    )
                )
        db.session.commit()


def _sha256(prev_hash, row):
    canonical = json.dumps([row[name] for name in HASHED_FIELDS], separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def _rechain_from(first_id):
    """What the owner could do before the chain was keyed: recompute every hash from a row on."""
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    previous = GENESIS
    for event in events:
        if event.id >= first_id:
            fields = {name: getattr(event, name) for name in HASHED_FIELDS}
            fields["occurred_dt"], fields["action"] = event.occurred_dt.isoformat(), str(event.action)
            event.prev_hash, event.row_hash = previous, _sha256(previous, fields)
        previous = event.row_hash
    db.session.flush()


def _verify(app, *arguments):
    return app.test_cli_runner().invoke(args=["audit", "verify", *arguments])


def test_the_database_owner_cannot_remove_or_edit_rows_and_recompute_the_chain(app, desk_client, intake_id):
    for _ in range(4):
        desk_client.get(f"/staff/intakes/{intake_id}")
    assert "intact: 4 rows" in _verify(app).output
    _as_owner(
        app,
        "DELETE FROM audit_events WHERE id = 2",
        "UPDATE audit_events SET remote_addr = '10.0.0.9' WHERE id = 3",
        lambda: _rechain_from(3),
    )
    result = _verify(app)
    assert result.exit_code == 1 and "BROKEN at row 3" in result.output and "AUDIT_KEY" in result.output


def _head(output):
    return re.search(r"Head hash ([0-9a-f]{64})", output).group(1)


def test_verify_against_a_recorded_head_notices_the_newest_rows_removed(app, desk_client, intake_id):
    assert _verify(app, "--expect-head", GENESIS).exit_code == 0  # the head of the empty trail
    for _ in range(2):
        desk_client.get(f"/staff/intakes/{intake_id}")
    recorded = _head(_verify(app).output)
    same = _verify(app, "--expect-head", recorded)
    assert same.exit_code == 0 and "recorded head is row 2; 0 rows added since" in same.output
    for _ in range(2):
        desk_client.get(f"/staff/intakes/{intake_id}")
    grown = _verify(app, "--expect-head", recorded.upper())
    assert grown.exit_code == 0 and "2 rows added since" in grown.output

    _as_owner(app, "DELETE FROM audit_events WHERE id >= 2")
    assert _verify(app).exit_code == 0  # what is left still chains: only the recorded head shows the cut
    cut = _verify(app, "--expect-head", recorded)
    assert cut.exit_code == 1
    assert cut.output.strip().count("\n") == 0 and f"no row has the recorded head hash {recorded}" in cut.output
    assert _verify(app, "--expect-head", "not-a-hash").exit_code == 2


def test_upgrading_re_signs_the_plain_chain_with_the_key_and_refuses_a_broken_one(
    make_app, database_url, mailbox, create_staff_on
):
    app = make_app(database_url)
    intake = submit_intake(app, seed_offering(app, "upgrade"), mailbox, 0, "Uma Upgrade", "uma@example.com")
    create_staff_on(app, Role.FRONT_DESK, "desk.upgrade@clinic.example.org")
    client = app.test_client()
    sign_in(client, "desk.upgrade@clinic.example.org")
    for _ in range(3):
        client.get(f"/staff/intakes/{intake}")

    def chain():
        rows = [
            (event.id, event.prev_hash, event.row_hash)
            for event in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]
        db.session.rollback()  # outside a request every SQLite transaction holds the write lock
        return rows

    with app.app_context():
        keyed = chain()
        db.engine.dispose()
        downgrade(revision="0011bookingabuse")
        plain = chain()
        # Below 0012 the rows carry the plain SHA-256 chain the old code wrote and checked.
        previous = GENESIS
        for event in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
            fields = {name: getattr(event, name) for name in HASHED_FIELDS}
            fields["occurred_dt"], fields["action"] = event.occurred_dt.isoformat(), str(event.action)
            assert (event.prev_hash, event.row_hash) == (previous, _sha256(previous, fields))
            previous = event.row_hash
        db.session.rollback()
        db.engine.dispose()
        upgrade()
        assert chain() == keyed != plain
        db.engine.dispose()
    assert "intact: 3 rows" in _verify(app).output

    with app.app_context():
        downgrade(revision="0011bookingabuse")
        db.engine.dispose()
    _as_owner(app, "UPDATE audit_events SET detail = 'rewritten' WHERE id = 2")
    with app.app_context():
        # Alembic itself, as `flask db upgrade` runs it (Flask-Migrate turns the error into a logged exit 1).
        with pytest.raises(RuntimeError, match="audit trail broken at row 2 before re-signing"):
            command.upgrade(app.extensions["migrate"].migrate.get_config(), "head")
        db.session.rollback()
        assert db.session.scalar(select(AuditEvent.detail).where(AuditEvent.id == 2)) == "rewritten"
        db.session.rollback()
        with pytest.raises(Exception, match="append-only"):  # the triggers stand
            db.session.execute(text("UPDATE audit_events SET detail = 'again' WHERE id = 2"))
        db.session.rollback()
        db.engine.dispose()


@pytest.fixture
def create_staff_on():
    from kapclinic.accounts import services as accounts
    from kapclinic.core.timezones import now_utc
    from tests.helpers import STAFF_PASSWORD

    def create(app, role, email):
        with app.app_context():
            accounts.create_user(email, "Staff", role, STAFF_PASSWORD, now_utc(), None)
            db.session.commit()

    return create


# --- the app as a role that may only add to the trail (PostgreSQL) ------------------------

# The grants README's deployment section names: everything the app does, except changing the trail.
APP_ROLE_GRANTS = (
    'GRANT CONNECT ON DATABASE "{database}" TO {role}',
    "GRANT USAGE ON SCHEMA public TO {role}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
    "REVOKE UPDATE, DELETE ON audit_events FROM {role}",
    "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
)


@pytest.fixture
def app_role_url(postgres_url, postgres_server):
    """A login role with the grants above on the test database; its URL. Dropped afterwards."""
    role = f"kapclinic_app_{uuid.uuid4().hex[:8]}"
    url = make_url(postgres_url)
    owner = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with owner.connect() as connection:
        connection.execute(text(f"CREATE ROLE {role} LOGIN"))
        for grant in APP_ROLE_GRANTS:
            connection.execute(text(grant.format(database=url.database, role=role)))
    yield url.set(username=role).render_as_string(hide_password=False)
    with owner.connect() as connection:
        connection.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"))
        connection.execute(text(f"DROP OWNED BY {role}"))
        connection.execute(text(f"DROP ROLE {role}"))
    owner.dispose()


@pytest.mark.postgres
def test_the_app_runs_as_a_role_that_can_add_to_the_trail_but_never_change_it(
    make_app, postgres_url, app_role_url, mailbox, create_staff_on
):
    shared = {"AUDIT_KEY": secrets.token_hex(32)}
    setup = make_app(postgres_url, **shared)  # the owner, as `flask db upgrade` runs
    offering = seed_offering(setup, "role")
    create_staff_on(setup, Role.FRONT_DESK, "desk.role@clinic.example.org")

    app = make_app(app_role_url, **shared)  # the web app, as the restricted role
    intake = submit_intake(app, offering, mailbox, 0, "Rae Role", "rae@example.com")
    client = app.test_client()
    assert sign_in(client, "desk.role@clinic.example.org").status_code == 302
    assert client.get(f"/staff/intakes/{intake}").status_code == 200
    assert client.post(f"/staff/intakes/{intake}/status", data={"status": "in_review"}).status_code == 302
    assert (
        client.post(f"/staff/intakes/{intake}/notes", data={"kind": "called", "body": "Left a message"}).status_code
        == 302
    )
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        db.session.rollback()
    assert {AuditAction.INTAKE_VIEWED, AuditAction.STATUS_CHANGED, AuditAction.CONTACT_LOGGED} <= set(actions)
    assert "intact" in _verify(app).output

    role_engine = create_engine(app_role_url)
    try:
        for statement, refusal in [
            ("UPDATE audit_events SET detail = 'edited'", "permission denied"),
            ("DELETE FROM audit_events", "permission denied"),
            ("TRUNCATE audit_events", "permission denied"),
            ("ALTER TABLE audit_events DISABLE TRIGGER USER", "must be owner"),
            ("DROP TRIGGER audit_events_append_only ON audit_events", "must be owner"),
        ]:
            with role_engine.connect() as connection, pytest.raises(ProgrammingError, match=refusal):
                connection.execute(text(statement))
    finally:
        role_engine.dispose()
        with app.app_context():
            db.engine.dispose()
