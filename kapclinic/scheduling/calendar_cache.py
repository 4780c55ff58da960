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

Redis is a shortcut, never a dependency: every client gives up after REDIS_TIMEOUT_SECONDS,
after a failure the cache is left alone for a few seconds (a frozen Redis would otherwise
cost every request a timeout), and the failure is logged once per
REDIS_WARNING_INTERVAL_SECONDS. Each distinct question stores an answer (about 150 KB of
JSON for a month of five clinicians, a tenth of that compressed), so at most
SLOT_CACHE_MAX_ENTRIES are kept: a script asking thousands of questions evicts the oldest
instead of filling the shared Redis.
"""

import pickle
import threading
import time
import zlib

from cachelib import RedisCache, SimpleCache
from cachelib.serializers import RedisSerializer
from flask import current_app, has_app_context
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.orm import Session

from kapclinic.core.models import ClinicSettings
from kapclinic.extensions import fail_fast_redis_options
from kapclinic.ops.logging import OncePerInterval
from kapclinic.scheduling.models import AvailabilityRule, Booking, Clinician, ConsultationType, DateOverride, TimeOff

CALENDAR_CLASSES = (AvailabilityRule, Booking, ClinicSettings, Clinician, ConsultationType, DateOverride, TimeOff)
_VERSION_KEY = "calendar-version"
_CHANGED = "kapclinic.calendar_changed"
_INDEX_KEY = "answers"  # a sorted set of the stored answers' keys, by when they were stored
_memory_version_lock = threading.Lock()
# After Redis fails, lookups and stores leave it alone this long (invalidations still try).
_PAUSE_AFTER_FAILURE_SECONDS = 5.0


class _CompressingSerializer(RedisSerializer):
    """cachelib's pickles, compressed; integers stay plain so that INCR still works on the version."""

    def dumps(self, value, protocol=pickle.HIGHEST_PROTOCOL):
        dumped = super().dumps(value, protocol)
        return dumped if isinstance(value, int) else b"z" + zlib.compress(dumped)

    def loads(self, value):
        if value is not None and value.startswith(b"z"):
            value = zlib.decompress(value[1:])
        return super().loads(value)


class _BoundedRedisCache(RedisCache):
    """A RedisCache holding at most `max_entries` answers: storing one evicts the oldest beyond that."""

    serializer = _CompressingSerializer()

    def __init__(self, client, seconds, max_entries):
        super().__init__(host=client, default_timeout=seconds, key_prefix="kapclinic:calendar:")
        self.max_entries = max_entries

    def set(self, key, value, timeout=None):
        name, index, now = self._get_prefix() + key, self._get_prefix() + _INDEX_KEY, time.time()
        # One MULTI/EXEC: each evicted key is handed to exactly one of the processes storing at once.
        pipeline = self._write_client.pipeline()
        expires = self._normalize_timeout(timeout)  # as RedisCache.set: -1 means never
        pipeline.set(name, self.serializer.dumps(value), ex=expires if expires != -1 else None)
        pipeline.zadd(index, {name: now})
        pipeline.zremrangebyscore(index, "-inf", now - self.default_timeout)  # expired by themselves
        pipeline.zrange(index, 0, -self.max_entries - 1)
        pipeline.zremrangebyrank(index, 0, -self.max_entries - 1)
        pipeline.expire(index, self.default_timeout)
        evicted = pipeline.execute()[3]
        if evicted:
            self._write_client.delete(*evicted)
        return True


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
        cache = None
    elif storage.startswith(("redis://", "rediss://")):
        client = Redis.from_url(storage, **fail_fast_redis_options(app.config["REDIS_TIMEOUT_SECONDS"]))
        cache = _BoundedRedisCache(client, seconds, max_entries)
    elif app.config["NAME"] == "production":
        cache = None  # gunicorn's processes would each keep their own, and miss each other's changes
    else:
        cache = SimpleCache(threshold=max_entries, default_timeout=seconds)
    app.extensions["kapclinic_calendar_cache"] = cache
    app.extensions["kapclinic_calendar_cache_health"] = _Health(app.config["REDIS_WARNING_INTERVAL_SECONDS"])


def _cache(even_if_paused=False):
    cache = current_app.extensions.get("kapclinic_calendar_cache")
    if not even_if_paused and time.monotonic() < current_app.extensions["kapclinic_calendar_cache_health"].paused_until:
        return None
    return cache


def _unavailable(error):
    # The cache is a shortcut: without it every answer is computed, never refused.
    health = current_app.extensions["kapclinic_calendar_cache_health"]
    health.paused_until = time.monotonic() + _PAUSE_AFTER_FAILURE_SECONDS
    held_back = health.warnings.due("calendar cache unavailable")
    if held_back is not None:
        current_app.logger.warning(
            "calendar cache unavailable", extra={"fields": {"error": type(error).__name__, "held_back": held_back}}
        )


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
        cache = _cache(even_if_paused=True)  # a change must end cached answers whenever Redis can hear it
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
