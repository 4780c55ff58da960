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

from cachelib import RedisCache, SimpleCache
from flask import current_app, has_app_context
from redis import Redis
from sqlalchemy import event
from sqlalchemy.orm import Session

from kapclinic.core.models import ClinicSettings
from kapclinic.scheduling.models import AvailabilityRule, Booking, Clinician, ConsultationType, DateOverride, TimeOff

CALENDAR_CLASSES = (AvailabilityRule, Booking, ClinicSettings, Clinician, ConsultationType, DateOverride, TimeOff)
_VERSION_KEY = "calendar-version"
_CHANGED = "kapclinic.calendar_changed"


def init_app(app):
    seconds = app.config["SLOT_CACHE_SECONDS"]
    storage = app.config["RATELIMIT_STORAGE_URI"]
    if not seconds:
        cache = None
    elif storage.startswith(("redis://", "rediss://")):
        cache = RedisCache(host=Redis.from_url(storage), default_timeout=seconds, key_prefix="kapclinic:calendar:")
    else:
        cache = SimpleCache(threshold=2000, default_timeout=seconds)
    app.extensions["kapclinic_calendar_cache"] = cache


def _cache():
    return current_app.extensions.get("kapclinic_calendar_cache")


def _key(query_parts):
    cache = _cache()
    version = cache.get(_VERSION_KEY) or 0
    return f"{version}|" + "|".join(str(part) for part in query_parts)


def cached(query_parts):
    """The stored answer for this question at the current calendar version, or None."""
    cache = _cache()
    return cache.get(_key(query_parts)) if cache is not None else None


def store(query_parts, body):
    cache = _cache()
    if cache is not None:
        cache.set(_key(query_parts), body)


@event.listens_for(Session, "after_flush")
def _note_calendar_changes(session, flush_context):
    if any(isinstance(item, CALENDAR_CLASSES) for item in (*session.new, *session.dirty, *session.deleted)):
        session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _move_version_on(session):
    if session.info.pop(_CHANGED, False) and has_app_context():
        cache = _cache()
        if cache is not None:
            cache.inc(_VERSION_KEY)


@event.listens_for(Session, "after_rollback")
def _forget_changes(session):
    session.info.pop(_CHANGED, None)
