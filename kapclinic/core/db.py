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
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.types import TypeDecorator
from werkzeug.routing import IntegerConverter

from kapclinic.extensions import db

WRITING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def engine_options(config):
    """The engine options, with a limit on waiting for a lock or a connection.

    A database that is busy (a lock held too long) or unreachable then raises an
    OperationalError within DATABASE_LOCK_TIMEOUT_SECONDS, which the app answers with
    503, instead of holding the request until the server kills it.
    """
    options = dict(config["SQLALCHEMY_ENGINE_OPTIONS"])
    seconds = config["DATABASE_LOCK_TIMEOUT_SECONDS"]
    backend = make_url(config["SQLALCHEMY_DATABASE_URI"]).get_backend_name()
    if backend == "sqlite":
        limits = {"timeout": seconds}  # SQLite's busy timeout
    elif backend == "postgresql":
        limits = {"options": f"-c lock_timeout={int(seconds * 1000)}", "connect_timeout": max(1, round(seconds))}
    else:
        limits = {}
    options["connect_args"] = {**limits, **options.get("connect_args", {})}
    return options


def string_enum(enum_class, length=16):
    """A Python enum stored as its values in a VARCHAR: readable, and portable to any database."""
    return Enum(enum_class, native_enum=False, length=length, values_callable=lambda members: [m.value for m in members])


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
    """Apply `change` and flush inside a savepoint; return False if a concurrent writer won (a constraint refused it)."""
    try:
        with db.session.begin_nested():
            change()
            db.session.flush()
    except DBAPIError as error:
        if not _lost_race(error):
            raise
        return False
    return True
