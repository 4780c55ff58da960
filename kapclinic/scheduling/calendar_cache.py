"""Cached answers built from the calendars: the slots API and the clinicians' feeds.

A hit costs two cache reads instead of the slot engine and thousands of slots, or
icalendar and a year of events. An entry's key holds what was asked and the calendar
version. Every committed change to bookings, weekly hours, date overrides, time off,
clinicians, consultation types or clinic settings moves the version on (see
`_note_calendar_changes`), so the next request computes afresh; and entries live
SLOT_CACHE_SECONDS at most, so a start that has just fallen inside the minimum notice
drops out within that time (booking it in the meantime is refused with the usual
message). With several app processes the cache must be shared: Redis (REDIS_URL) in
production; one process may use its own memory.
"""

import threading

from cachelib import RedisCache, SimpleCache
from flask import current_app, has_app_context
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.orm import Session

from kapclinic.core.models import ClinicSettings
from kapclinic.scheduling.models import AvailabilityRule, Booking, Clinician, ConsultationType, DateOverride, TimeOff

CALENDAR_CLASSES = (AvailabilityRule, Booking, ClinicSettings, Clinician, ConsultationType, DateOverride, TimeOff)
_VERSION_KEY = "calendar-version"
_CHANGED = "kapclinic.calendar_changed"
_memory_version_lock = threading.Lock()


def init_app(app):
    """Redis when configured; this process's memory outside production; no cache for several unshared processes."""
    seconds = app.config["SLOT_CACHE_SECONDS"]
    storage = app.config["RATELIMIT_STORAGE_URI"]
    if not seconds:
        cache = None
    elif storage.startswith(("redis://", "rediss://")):
        cache = RedisCache(host=Redis.from_url(storage, socket_timeout=0.5), default_timeout=seconds, key_prefix="kapclinic:calendar:")
    elif app.config["NAME"] == "production":
        cache = None  # gunicorn's processes would each keep their own, and miss each other's changes
    else:
        cache = SimpleCache(threshold=2000, default_timeout=seconds)
    app.extensions["kapclinic_calendar_cache"] = cache


def _cache():
    return current_app.extensions.get("kapclinic_calendar_cache")


def _unavailable(error):
    # The cache is a shortcut: without it every answer is computed, never refused.
    current_app.logger.warning("calendar cache unavailable", extra={"fields": {"error": type(error).__name__}})


def lookup(question):
    """Return (key, stored answer or None). Store a computed answer under this key: the version read now.

    Reading the version before computing means an answer computed while another
    process committed a change is filed under the old version, never the new one.
    """
    cache = _cache()
    if cache is None:
        return None, None
    try:
        key = f"{cache.get(_VERSION_KEY) or 0}|" + "|".join(str(part) for part in question)
        return key, cache.get(key)
    except RedisError as error:
        _unavailable(error)
        return None, None


def store(key, answer):
    cache = _cache()
    if cache is None or key is None:
        return
    try:
        cache.set(key, answer)
    except RedisError as error:
        _unavailable(error)


def _move_version_on(cache):
    if isinstance(cache, RedisCache):
        cache.inc(_VERSION_KEY)  # INCR: atomic across processes, never expires
        return
    with _memory_version_lock:
        cache.set(_VERSION_KEY, (cache.get(_VERSION_KEY) or 0) + 1, timeout=0)


@event.listens_for(Session, "after_flush")
def _note_calendar_changes(session, flush_context):
    if any(isinstance(item, CALENDAR_CLASSES) for item in (*session.new, *session.dirty, *session.deleted)):
        session.info[_CHANGED] = True


@event.listens_for(Session, "do_orm_execute")
def _note_bulk_changes(orm_execute_state):
    """Bulk UPDATE and DELETE statements (clearing a clinician's weekly hours) bypass the flush."""
    mapper = orm_execute_state.bind_mapper
    if (orm_execute_state.is_update or orm_execute_state.is_delete) and mapper is not None:
        if issubclass(mapper.class_, CALENDAR_CLASSES):
            orm_execute_state.session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session):
    if session.in_nested_transaction():
        return  # a savepoint was released; the change is not committed yet
    if session.info.pop(_CHANGED, False) and has_app_context():
        cache = _cache()
        if cache is not None:
            try:
                _move_version_on(cache)
            except RedisError as error:
                # Cached answers expire within SLOT_CACHE_SECONDS; the commit itself stands.
                _unavailable(error)


@event.listens_for(Session, "after_rollback")
def _forget_changes(session):
    if not session.in_nested_transaction():  # a savepoint's rollback leaves the rest of the transaction
        session.info.pop(_CHANGED, None)
