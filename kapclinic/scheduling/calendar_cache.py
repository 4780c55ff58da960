"""Cached answers built from the calendars: the slots API and the clinicians' feeds.

A hit costs one round trip to the cache instead of the slot engine and thousands of
slots, or icalendar and a year of events. Every answer remembers the versions it was
computed from: the clinic-wide one, and one per clinician it covers (the clinician of a
feed or a one-clinician question; every clinician linked to the type, bookable or not,
for "any clinician"). A committed change moves on the version of each clinician it
touches (bookings, weekly hours, date overrides, time off, the clinician's row), or the
clinic-wide one when it may touch any answer (consultation types, clinic settings, bulk
statements not limited to named clinicians), or the clinician of a staff account activated or
deactivated; see `_note_calendar_changes`. An answer is served only while all its
versions are current, so a booking with one clinician leaves the others' answers cached
and ends, at once, every answer that could show the slot just taken. The versions are
read before computing, so an answer computed while another process committed a change
is filed under the old versions and never served. Entries also live SLOT_CACHE_SECONDS
at most, so a start that has just fallen inside the minimum notice drops out within that
time (booking it in the meantime is refused with the usual message).

A missing answer is computed once: `answer` lets one request compute it while the others
asking the same question wait for it (in a process, behind a lock per question; across
processes, behind a short Redis lock, SET NX PX, polling for the answer). A waiter that
sees no answer within a few seconds, or whose Redis is away, computes it itself.

With several app processes the cache must be shared: Redis (REDIS_URL) in production;
one process may use its own memory. Redis is a shortcut, never a dependency: every
client gives up after REDIS_TIMEOUT_SECONDS, after a failure the cache is left alone for
a few seconds (a frozen Redis would otherwise cost every request a timeout), and the
failure is logged once per REDIS_WARNING_INTERVAL_SECONDS. Each distinct question stores
an answer (about 150 KB of JSON for a month of five clinicians, a tenth of that
compressed), so at most SLOT_CACHE_MAX_ENTRIES are kept: a script asking thousands of
questions evicts the oldest instead of filling the shared Redis.
"""

import pickle
import secrets
import threading
import time
import zlib
from contextlib import contextmanager
from typing import NamedTuple

from cachelib import SimpleCache
from flask import current_app, has_app_context
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, BooleanClauseList

from kapclinic.accounts.models import StaffUser
from kapclinic.core.log_throttle import OncePerInterval
from kapclinic.core.models import ClinicSettings
from kapclinic.extensions import fail_fast_redis_options
from kapclinic.scheduling.models import AvailabilityRule, Booking, Clinician, ConsultationType, DateOverride, TimeOff

CALENDAR_CLASSES = (AvailabilityRule, Booking, ClinicSettings, Clinician, ConsultationType, DateOverride, TimeOff)
# Rows that belong to one clinician's calendar (the rest may change any answer).
_ONE_CLINICIANS = (AvailabilityRule, Booking, DateOverride, TimeOff)
_EVERYONE = None  # among the clinicians a change touches: it may touch any answer
_CHANGED = "kapclinic.calendar_changed"  # session.info: the clinician ids (or _EVERYONE) changed in this transaction
_PREFIX = "kapclinic:calendar:"
_VERSION_KEY = "calendar-version"  # the clinic-wide version (INCR)
_CLINICIAN_VERSIONS_KEY = "calendar-version:clinicians"  # a hash: clinician id -> version (HINCRBY)
_INDEX_KEY = "answers"  # a sorted set of the stored answers' keys, by when they were stored
# After Redis fails, lookups and stores leave it alone this long (invalidations still try).
_PAUSE_AFTER_FAILURE_SECONDS = 5.0
# Single flight: a process computing an answer holds its question this long at most (so one
# that dies frees it), and the others look for the answer this often, for this long.
_CLAIM_MILLISECONDS = 3000
_POLL_SECONDS = 0.02
_WAIT_SECONDS = 3.0


class Versions(NamedTuple):
    """The clinic-wide version, and each clinician's whose calendar has changed (absent: 0)."""

    everyone: int
    clinicians: dict

    def seen_by(self, clinician_ids):
        """The versions an answer covering these clinicians depends on (None: every clinician)."""
        if clinician_ids is None:
            return self.everyone, dict(self.clinicians)
        return self.everyone, {clinician_id: self.clinicians.get(clinician_id, 0) for clinician_id in clinician_ids}


class _Entry(NamedTuple):
    clinician_ids: tuple | None
    seen: tuple
    answer: object

    def is_current(self, versions):
        return versions.seen_by(self.clinician_ids) == self.seen


class _RedisStore:
    """Answers, versions and claims in Redis, shared by every process; at most `max_entries` answers."""

    def __init__(self, client, seconds, max_entries):
        self.client, self.seconds, self.max_entries = client, seconds, max_entries

    def read(self, key):
        """Return (versions, entry or None, whether another process is computing it): one round trip."""
        pipeline = self.client.pipeline(transaction=False)
        pipeline.get(_PREFIX + _VERSION_KEY)
        pipeline.hgetall(_PREFIX + _CLINICIAN_VERSIONS_KEY)
        pipeline.get(_PREFIX + "answer|" + key)
        pipeline.exists(_PREFIX + "computing|" + key)
        everyone, clinicians, stored, computing = pipeline.execute()
        versions = Versions(int(everyone or 0), {int(name): int(value) for name, value in clinicians.items()})
        return versions, pickle.loads(zlib.decompress(stored)) if stored else None, bool(computing)

    def write(self, key, entry):
        name, index, now = _PREFIX + "answer|" + key, _PREFIX + _INDEX_KEY, time.time()
        # One MULTI/EXEC: each evicted key is handed to exactly one of the processes storing at once.
        pipeline = self.client.pipeline()
        pipeline.set(name, zlib.compress(pickle.dumps(entry, pickle.HIGHEST_PROTOCOL)), ex=self.seconds)
        pipeline.zadd(index, {name: now})
        pipeline.zremrangebyscore(index, "-inf", now - self.seconds)  # expired by themselves
        pipeline.zrange(index, 0, -self.max_entries - 1)
        pipeline.zremrangebyrank(index, 0, -self.max_entries - 1)
        pipeline.expire(index, self.seconds)
        evicted = pipeline.execute()[3]
        if evicted:
            self.client.delete(*evicted)

    def move_on(self, clinician_ids):
        if _EVERYONE in clinician_ids:
            self.client.incr(_PREFIX + _VERSION_KEY)  # atomic across processes, never expires
            return
        pipeline = self.client.pipeline()
        for clinician_id in clinician_ids:
            pipeline.hincrby(_PREFIX + _CLINICIAN_VERSIONS_KEY, str(clinician_id), 1)
        pipeline.execute()

    def claim(self, key):
        """Return a token if this process may compute the answer now, else None (another one is)."""
        token = secrets.token_hex(8)
        claimed = self.client.set(_PREFIX + "computing|" + key, token, nx=True, px=_CLAIM_MILLISECONDS)
        return token if claimed else None

    def release(self, key, token):
        # Only our own claim: one that outlived _CLAIM_MILLISECONDS may be someone else's now.
        self.client.eval(_RELEASE_SCRIPT, 1, _PREFIX + "computing|" + key, token)


_RELEASE_SCRIPT = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class _MemoryStore:
    """This process's own answers and versions (development and tests), bounded like Redis."""

    def __init__(self, seconds, max_entries):
        self.answers = SimpleCache(threshold=max_entries, default_timeout=seconds)
        self.everyone, self.clinicians = 0, {}
        self.lock = threading.Lock()

    def read(self, key):
        with self.lock:
            versions = Versions(self.everyone, dict(self.clinicians))
        return versions, self.answers.get(key), False  # threads of this process wait on a lock instead

    def write(self, key, entry):
        self.answers.set(key, entry)

    def move_on(self, clinician_ids):
        with self.lock:
            if _EVERYONE in clinician_ids:
                self.everyone += 1
                return
            for clinician_id in clinician_ids:
                self.clinicians[clinician_id] = self.clinicians.get(clinician_id, 0) + 1

    def claim(self, key):
        return "this process"  # the lock per question already let only this thread through

    def release(self, key, token):
        pass


class _Flights:
    """One lock per question being computed in this process, dropped when nobody holds or waits for it."""

    def __init__(self):
        self._guard = threading.Lock()
        self._locks = {}  # key -> [lock, threads holding or waiting]

    @contextmanager
    def one_at_a_time(self, key):
        """Enter after any other thread computing `key` (or after _WAIT_SECONDS: compute alongside it)."""
        with self._guard:
            flight = self._locks.setdefault(key, [threading.Lock(), 0])
            flight[1] += 1
        acquired = flight[0].acquire(timeout=_WAIT_SECONDS)
        try:
            yield
        finally:
            if acquired:
                flight[0].release()
            with self._guard:
                flight[1] -= 1
                if not flight[1]:
                    del self._locks[key]


class _Health:
    """When Redis last failed, and its warnings held to one per interval."""

    def __init__(self, warning_interval):
        self.paused_until = 0.0
        self.warnings = OncePerInterval(warning_interval)


def init_app(app):
    """Redis when configured; this process's memory outside production; no cache for several unshared processes."""
    seconds = app.config["SLOT_CACHE_SECONDS"]
    storage = app.config["RATELIMIT_STORAGE_URI"]
    max_entries = app.config["SLOT_CACHE_MAX_ENTRIES"]
    if not seconds:
        store = None
    elif storage.startswith(("redis://", "rediss://")):
        client = Redis.from_url(storage, **fail_fast_redis_options(app.config["REDIS_TIMEOUT_SECONDS"]))
        store = _RedisStore(client, seconds, max_entries)
    elif app.config["NAME"] == "production":
        store = None  # gunicorn's processes would each keep their own, and miss each other's changes
    else:
        store = _MemoryStore(seconds, max_entries)
    app.extensions["kapclinic_calendar_cache"] = store
    app.extensions["kapclinic_calendar_cache_health"] = _Health(app.config["REDIS_WARNING_INTERVAL_SECONDS"])
    app.extensions["kapclinic_calendar_cache_flights"] = _Flights()


def _store(even_if_paused=False):
    store = current_app.extensions.get("kapclinic_calendar_cache")
    if not even_if_paused and time.monotonic() < current_app.extensions["kapclinic_calendar_cache_health"].paused_until:
        return None
    return store


def _unavailable(error):
    # The cache is a shortcut: without it every answer is computed, never refused.
    health = current_app.extensions["kapclinic_calendar_cache_health"]
    health.paused_until = time.monotonic() + _PAUSE_AFTER_FAILURE_SECONDS
    held_back = health.warnings.due("calendar cache unavailable")
    if held_back is not None:
        current_app.logger.warning(
            "calendar cache unavailable", extra={"fields": {"error": type(error).__name__, "held_back": held_back}}
        )


def _key(question):
    return "|".join(str(part) for part in question)


def _read(cache, key):
    """Return (versions, current answer or None, whether another process is computing it); raises RedisError."""
    versions, entry, computing = cache.read(key)
    if entry is not None and entry.is_current(versions):
        return versions, entry.answer, computing
    return versions, None, computing


def lookup(question):
    """Return (ticket, cached answer or None). Store a computed answer with this ticket: the versions read now.

    Reading the versions before computing means an answer computed while another
    process committed a change is filed under the old versions, never the new ones.
    `answer` does this and computes each missing answer once; this pair is for callers
    that cannot pass a function.
    """
    cache, key = _store(), _key(question)
    if cache is None:
        return None, None
    try:
        versions, found, _ = _read(cache, key)
    except RedisError as error:
        _unavailable(error)
        return None, None
    return (key, versions), found


def store(ticket, answer, clinician_ids=None):
    """Keep `answer` under `ticket` (from lookup), as depending on these clinicians' calendars (None: everyone's)."""
    cache = _store()
    if cache is None or ticket is None:
        return
    key, versions = ticket
    ids = None if clinician_ids is None else tuple(sorted(set(clinician_ids)))
    try:
        cache.write(key, _Entry(ids, versions.seen_by(ids), answer))
    except RedisError as error:
        _unavailable(error)


def answer(question, compute):
    """Return the answer to `question`: cached, or computed by `compute` once while concurrent askers wait.

    `compute()` returns (answer, clinician ids): the ids of every clinician whose
    calendar the answer may depend on, or None for all of them. For "any clinician"
    that is every clinician linked to the type, bookable or not: one who becomes
    bookable changes the answer. Without a cache it is simply called.
    """
    ticket, found = lookup(question)
    if found is not None:
        return found
    if ticket is None:
        return compute()[0]
    with current_app.extensions["kapclinic_calendar_cache_flights"].one_at_a_time(ticket[0]):
        return _answer_once(question, compute)


def _answer_once(question, compute):
    """Compute and store the answer here, unless another process already is: then wait for its answer, briefly."""
    cache, key = _store(), _key(question)
    if cache is None:
        return compute()[0]
    deadline, token = time.monotonic() + _WAIT_SECONDS, None
    try:
        while True:
            versions, found, _ = _read(cache, key)  # a thread or process before us may have stored it
            if found is not None:
                return found
            token = cache.claim(key)
            if token is not None or not _wait_for(cache, key, deadline):
                break
    except RedisError as error:
        _unavailable(error)
        return compute()[0]
    try:
        return _compute_and_store(compute, (key, versions))
    finally:
        if token is not None:
            _release(cache, key, token)


def _wait_for(cache, key, deadline):
    """Poll until the answer is stored or the other process lets go of the question; False once past the deadline."""
    while time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
        _, found, computing = _read(cache, key)
        if found is not None or not computing:
            return True
    return False


def _compute_and_store(compute, ticket):
    found, clinician_ids = compute()
    store(ticket, found, clinician_ids)
    return found


def _release(cache, key, token):
    try:
        cache.release(key, token)
    except RedisError as error:
        _unavailable(error)  # the claim expires by itself within _CLAIM_MILLISECONDS


# --- invalidation: each committed change moves on the versions it touches --------------


def _clinicians_touched(item):
    """The clinician ids a changed row touches, before and after the change, or {_EVERYONE}."""
    if isinstance(item, StaffUser):
        # Whether a clinician is bookable follows their staff account's (Clinician.is_bookable).
        if not inspect(item).attrs.is_active.history.has_changes():
            return set()
        return {item.clinician_id} - {None}
    if isinstance(item, Clinician):
        return {item.id} if item.id is not None else {_EVERYONE}
    if not isinstance(item, _ONE_CLINICIANS):
        return {_EVERYONE}
    history = inspect(item).attrs.clinician_id.history  # without loading: an unloaded value is no history
    ids = {*history.added, *history.unchanged, *history.deleted} - {None}
    return ids or {_EVERYONE}


@event.listens_for(Session, "after_flush")
def _note_calendar_changes(session, flush_context):
    touched = session.info.setdefault(_CHANGED, set())
    for item in (*session.new, *session.dirty, *session.deleted):
        if isinstance(item, (*CALENDAR_CLASSES, StaffUser)):
            touched |= _clinicians_touched(item)
    if not touched:
        del session.info[_CHANGED]


@event.listens_for(Session, "do_orm_execute")
def _note_bulk_changes(orm_execute_state):
    """Bulk statements (clearing a clinician's weekly hours, releasing holds, a booking's INSERT) bypass the flush.

    UPDATE and DELETE run here to see how many rows they changed: the worker releases
    expired holds every round, and a round that finds none must not end every cached
    answer. An INSERT names its clinicians in its parameters.
    """
    mapper = orm_execute_state.bind_mapper
    if mapper is None or not issubclass(mapper.class_, CALENDAR_CLASSES):
        return None
    if orm_execute_state.is_insert:
        touched = _clinicians_inserted(orm_execute_state.parameters, mapper.class_)
        orm_execute_state.session.info.setdefault(_CHANGED, set()).update(touched)
        return None
    if not (orm_execute_state.is_update or orm_execute_state.is_delete):
        return None
    result = orm_execute_state.invoke_statement()
    if result.rowcount:
        touched = _clinicians_named(orm_execute_state.statement, mapper.class_)
        orm_execute_state.session.info.setdefault(_CHANGED, set()).update(touched)
    return result


def _clinicians_inserted(parameters, row_class):
    rows = parameters if isinstance(parameters, list) else [parameters or {}]
    if not issubclass(row_class, _ONE_CLINICIANS) or any(row.get("clinician_id") is None for row in rows):
        return {_EVERYONE}
    return {row["clinician_id"] for row in rows}


def _clinicians_named(statement, row_class):
    """The clinician ids a bulk statement is limited to (`clinician_id == x` or `.in_(...)`, AND-ed), or {_EVERYONE}."""
    if not issubclass(row_class, _ONE_CLINICIANS) or statement.whereclause is None:
        return {_EVERYONE}
    conditions, named = [statement.whereclause], None
    while conditions:
        condition = conditions.pop()
        if isinstance(condition, BooleanClauseList) and condition.operator is operators.and_:
            conditions.extend(condition.clauses)
        elif _is_clinician_condition(condition, row_class):
            value = condition.right.value
            ids = set(value) if condition.operator is operators.in_op else {value}
            named = ids if named is None else named & ids
    return {_EVERYONE} if named is None or None in named else named


def _is_clinician_condition(condition, row_class):
    return (
        isinstance(condition, BinaryExpression)
        and condition.left.compare(row_class.__table__.c.clinician_id)
        and condition.operator in (operators.eq, operators.in_op)
        and isinstance(condition.right, BindParameter)
        and condition.right.callable is None
    )


@event.listens_for(Session, "after_commit")
def _after_commit(session):
    if session.in_nested_transaction():
        return  # a savepoint was released; the change is not committed yet
    touched = session.info.pop(_CHANGED, None)
    if touched and has_app_context():
        store = _store(even_if_paused=True)  # a change must end cached answers whenever Redis can hear it
        if store is not None:
            try:
                store.move_on(touched)
            except RedisError as error:
                # Cached answers expire within SLOT_CACHE_SECONDS; the commit itself stands.
                _unavailable(error)


@event.listens_for(Session, "after_rollback")
def _forget_changes(session):
    if not session.in_nested_transaction():  # a savepoint's rollback leaves the rest of the transaction
        session.info.pop(_CHANGED, None)
