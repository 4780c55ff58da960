"""Database helpers: UTC datetime column type and SQLite's write lock.

SQLite is the embedded default. It allows one writer at a time; taking the
write lock when a writing transaction begins (BEGIN IMMEDIATE) turns "check for
an overlapping booking, then insert" into one serial step, so two concurrent
requests cannot both pass the check, and a writer never fails half-way when
another commits first. Writing transactions are those of POST/PUT/PATCH/DELETE
requests and every transaction outside a request (commands, workers); GET
requests read without the lock. PostgreSQL does not need this: an exclusion
constraint there rejects overlapping bookings.
"""

from datetime import UTC

from flask import g, has_request_context, request
from sqlalchemy import DateTime, Enum, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, PendingRollbackError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.types import TypeDecorator
from werkzeug.routing import IntegerConverter

from kapclinic.extensions import db

WRITING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def engine_options(config):
    """The engine options, with a limit on waiting for a lock or a connection.

    A database that is busy (a lock held too long) or unreachable then raises within
    DATABASE_LOCK_TIMEOUT_SECONDS, which the app answers with 503 (see is_transient),
    instead of holding the request until the server kills it. 0 leaves the drivers'
    own behaviour (on PostgreSQL: wait without limit, e.g. behind a PgBouncer that
    refuses startup options; set lock_timeout on the role instead).
    """
    options = dict(config["SQLALCHEMY_ENGINE_OPTIONS"])
    seconds = config["DATABASE_LOCK_TIMEOUT_SECONDS"]
    url = make_url(config["SQLALCHEMY_DATABASE_URI"])
    backend = url.get_backend_name()
    if seconds <= 0 or backend not in ("sqlite", "postgresql"):
        return options
    if backend == "sqlite":
        limits = {"timeout": seconds}  # SQLite's busy timeout
    else:
        # Added to any options the URL already carries (a search_path, a provider's endpoint).
        startup = " ".join(
            part for part in (url.query.get("options", ""), f"-c lock_timeout={int(seconds * 1000)}") if part
        )
        limits = {"options": startup, "connect_timeout": max(1, round(seconds))}
        options.setdefault("pool_timeout", seconds)  # waiting for a free connection in the pool
    options["connect_args"] = {**limits, **options.get("connect_args", {})}
    return options


# Faults that pass: the server unreachable or restarting, a lock or a connection slot not
# free in time, a deadlock or serialisation victim. SQLSTATE classes and codes from
# https://www.postgresql.org/docs/current/errcodes-appendix.html; psycopg leaves the code
# empty when no server answered at all.
_TRANSIENT_SQLSTATES = frozenset({"53300", "55P03", "57014", "57P01", "57P02", "57P03", "40P01", "40001"})
_TRANSIENT_SQLITE_MESSAGES = ("database is locked", "database table is locked", "unable to open database file")


def rollback_quietly():
    """Roll back after a failure; the connection may be gone too, and the session is discarded at teardown anyway."""
    try:
        db.session.rollback()
    except SQLAlchemyError:
        pass


def is_transient(error):
    """Whether a database error means "try again shortly" (503), not a fault in the app (500)."""
    if isinstance(error, PoolTimeout | PendingRollbackError) or getattr(error, "connection_invalidated", False):
        # PendingRollbackError: the connection died earlier in this transaction (rolling back to
        # a savepoint on it raises this instead of the fault), so nothing of it was saved.
        return True
    original = getattr(error, "orig", None)
    if type(original).__module__.startswith("sqlite3"):
        return str(original).startswith(_TRANSIENT_SQLITE_MESSAGES)
    sqlstate = getattr(original, "sqlstate", None)
    if isinstance(error, OperationalError) and sqlstate is None:
        return True  # psycopg: no server answered (refused, timed out, gone)
    return sqlstate is not None and (sqlstate.startswith("08") or sqlstate in _TRANSIENT_SQLSTATES)


def string_enum(enum_class, length=16):
    """A Python enum stored as its values in a VARCHAR: readable, and portable to any database."""
    return Enum(
        enum_class, native_enum=False, length=length, values_callable=lambda members: [m.value for m in members]
    )


class RowIdConverter(IntegerConverter):
    """URL part for a row id: a positive 32-bit integer, so larger numbers are 404, not an overflow."""

    def __init__(self, map):
        super().__init__(map, min=1, max=2**31 - 1)


class UTCDateTime(TypeDecorator):
    """A timestamp column that accepts only aware datetimes and returns aware UTC ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        # SQLite has no zone-aware type: store naive UTC text.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def take_write_lock_next():
    """In a reading request, make the next transaction take SQLite's write lock at BEGIN.

    A page that records that it was shown renders from a read transaction first, then
    writes its audit row in a short transaction of its own: no writer waits on a render.
    """
    g.kapclinic_takes_write_lock = True


def _may_write():
    if not has_request_context() or request.method in WRITING_METHODS:
        return True
    return g.get("kapclinic_takes_write_lock", False)


def _unicode_lower(value):
    return value.lower() if isinstance(value, str) else value


@event.listens_for(Engine, "connect")
def _configure_sqlite_connection(dbapi_connection, connection_record):
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    # Let SQLAlchemy's "begin" event below emit BEGIN itself (pysqlite's own
    # transaction handling would defer it and ignore IMMEDIATE).
    dbapi_connection.isolation_level = None
    # SQLite's own lower() only knows ASCII; PostgreSQL's knows "É". Searches must agree on both.
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _begin_sqlite_transaction(connection):
    if connection.dialect.name != "sqlite":
        return
    connection.exec_driver_sql("BEGIN IMMEDIATE" if _may_write() else "BEGIN")


# PostgreSQL: concurrent inserts that wait on each other's rows (under a unique or an
# exclusion constraint) can deadlock; the one chosen as victim lost the same race.
_LOST_RACE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure


def _lost_race(error):
    return isinstance(error, IntegrityError) or getattr(error.orig, "sqlstate", None) in _LOST_RACE_SQLSTATES


def flush_in_savepoint(change):
    """Apply `change` and flush in a savepoint; return False if a concurrent writer won (a constraint refused it)."""
    try:
        with db.session.begin_nested():
            change()
            db.session.flush()
    except DBAPIError as error:
        if not _lost_race(error):
            raise
        return False
    return True
