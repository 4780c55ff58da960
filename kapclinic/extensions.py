"""Unbound Flask extensions; bound to the app in create_app. Imports nothing of the app but a pure helper."""

import flask_limiter
from flask import request
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry
from sqlalchemy import MetaData

from kapclinic.core.networks import network_of

# Constraint names are fixed so that migrations can refer to them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
UNPARSABLE_ADDRESS = "unparsable-address"


def client_network():
    """Every rate limit's key. Anything unparsable shares one key: a budget, never a way around
    it (an empty key would skip the limit altogether)."""
    return network_of(request.remote_addr) or UNPARSABLE_ADDRESS


def fail_fast_redis_options(seconds):
    """redis-py client options for a Redis that stops or hangs: give up after `seconds`, never wait longer.

    redis-py's defaults (5 s socket timeouts, then ten retries on a timeout) made every
    rate-limited request wait out a frozen Redis. One retry is kept for a dropped
    connection (Redis restarted), which reconnects at once; a timeout is never repeated.
    """
    return {
        "socket_timeout": seconds,
        "socket_connect_timeout": seconds,
        "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
    }


class Limiter(flask_limiter.Limiter):
    """Flask-Limiter with fail-fast Redis clients, and a way to tell when limits are counted only here."""

    def init_app(self, app):
        app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", fail_fast_redis_options(app.config["REDIS_TIMEOUT_SECONDS"]))
        # A new app starts on its own storage, not on the fallback an earlier app fell to.
        self._storage_dead = False
        super().init_app(app)

    @property
    def counting_locally(self):
        """True while the shared storage is away and limits count in this process's memory only."""
        return bool(self.enabled and self.initialized and self.limiter.storage is not self.storage)


db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))
migrate = Migrate()
csrf = CSRFProtect()
mail = Mail()
# While Redis is away every limit keeps counting in each process's memory (Flask-Limiter's
# in-memory fallback; it checks for Redis again after 1, 2, 4 ... 32 s), so an outage is never
# a free-for-all; a view that must not run on such counts refuses instead (counting_locally).
# Only a 429 speaks of a limit (kapclinic.core.error_pages): with Flask-Limiter's headers on, its
# window replaced a 503's Retry-After and every 201 carried one.
limiter = Limiter(
    key_func=client_network,
    in_memory_fallback_enabled=True,
    swallow_errors=True,  # an error after the view ran (counting a refused link) never turns its answer into a 500
    headers_enabled=False,
)
login_manager = LoginManager()
