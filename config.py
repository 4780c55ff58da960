"""Configuration classes, chosen by the KAPCLINIC_CONFIG environment variable.

Development is the default so that `make run` needs no setup: SQLite in the
instance folder, emails written as .eml files. Production refuses to start
without a real SECRET_KEY and DATABASE_URL.
"""

import os

import click

_MAIL_SETTINGS = (
    "MAIL_SERVER",
    "MAIL_PORT",
    "MAIL_USE_TLS",
    "MAIL_USE_SSL",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
    "MAIL_DEFAULT_SENDER",
)
_BOOLEAN_MAIL_SETTINGS = {"MAIL_USE_TLS", "MAIL_USE_SSL"}


def mail_settings_from_environment(environ=os.environ):
    """Read Flask-Mail's settings from environment variables of the same name."""
    settings = {}
    for name in _MAIL_SETTINGS:
        raw = environ.get(name)
        if raw is None or raw == "":
            continue
        if name in _BOOLEAN_MAIL_SETTINGS:
            settings[name] = raw.strip().lower() in {"1", "true", "yes", "on"}
        elif name == "MAIL_PORT":
            settings[name] = int(raw)
        else:
            settings[name] = raw
    return settings


class ConfigurationError(click.ClickException):
    """The environment does not describe a configuration the app can run with.

    A click exception, so `flask ...` commands (`flask db upgrade`, the first step of a deploy)
    print its one-line reason instead of a traceback.
    """


class BaseConfig:
    CLINIC_NAME = "Riverside KAP Clinic"
    CLINIC_EMAIL = "appointments@clinic.example.org"
    CLINIC_PHONE = "+1 555 0100"
    CLINIC_ADDRESS = "120 River Street, Springfield"
    CLINIC_TIMEZONE = "America/New_York"
    # ISO 3166 region whose national format staff pages show phone numbers in (links dial E.164).
    CLINIC_PHONE_REGION = "US"
    # ISO 4217: the currency of consultation fees shown to patients.
    CLINIC_CURRENCY = "USD"
    # Where a patient in crisis is pointed on every page (US defaults).
    CRISIS_LINE = "988"
    EMERGENCY_NUMBER = "911"
    # Public origin used in links inside emails and API answers.
    PUBLIC_BASE_URL = "http://127.0.0.1:5000"

    # Parameters are kept out of database error messages: they can be patient details.
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "hide_parameters": True}
    # Longest wait for a lock or a connection before a request answers 503 (kapclinic.core.db.engine_options).
    DATABASE_LOCK_TIMEOUT_SECONDS = 15.0
    # No form here needs more; larger bodies get 413 before they are parsed.
    MAX_CONTENT_LENGTH = 256 * 1024
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # Strict-Transport-Security max-age (0: not sent). Production serves HTTPS only.
    HSTS_SECONDS = 0

    MAIL_TIMEOUT_SECONDS = 10.0
    # Retries back off 30 s, 1, 2, 4 ... minutes up to 6 hours: 14 tries ride out about a day without mail.
    OUTBOX_MAX_ATTEMPTS = 14
    # Send a request's emails as it ends (one process, no worker). With `flask worker`
    # running, set it to false: requests answer sooner and the worker sends within seconds.
    OUTBOX_SEND_AFTER_REQUEST = True
    # A sender's lease on the message it is sending, renewed before each send; after it, a message not
    # marked sent is sent again. It must outlast the slowest send (a few MAIL_TIMEOUT_SECONDS).
    OUTBOX_CLAIM_LEASE_SECONDS = 60

    # Slots API answers are cached this long at most (0: not at all); a calendar change ends them at once.
    SLOT_CACHE_SECONDS = 60

    # JSON log lines on stderr at this level (one per request at INFO).
    LOG_LEVEL = "INFO"
    # Reminder emails: hours before the consultation; and the "intake not finished" one (0: none).
    REMINDER_HOURS = (24, 2)
    INTAKE_REMINDER_HOURS = 72
    # The background worker (`flask worker`): seconds it waits after a round that found nothing to do
    # (one that did is followed at once), messages per round.
    WORKER_INTERVAL_SECONDS = 1.0
    WORKER_BATCH = 100

    # Reverse proxies in front of the app (ProxyFix): client addresses for rate limits.
    PROXY_FIX_X_FOR = 0
    # Where the rate limits count (REDIS_URL in production). What happens while it is away, and
    # the headers, are the limiter's own arguments (kapclinic.extensions).
    RATELIMIT_STORAGE_URI = "memory://"
    BOOKING_RATE_LIMIT = "20 per hour"

    # Refused private links (manage, questionnaire, guardian, feed, password reset) one address may try.
    LINK_GUESS_RATE_LIMIT = "30 per hour"
    # Manage links (cancel / reschedule) stop working after this many days.
    MANAGE_LINK_MAX_AGE_DAYS = 180
    # Patients may cancel or reschedule online up to this many hours before.
    CANCELLATION_WINDOW_HOURS = 24

    # Fernet keys for intake answers at rest, newest first (KAPCLINIC_DATA_KEY,
    # comma-separated). Empty outside production: create_app keeps one in the
    # instance folder (development) or makes one per app (testing).
    DATA_KEYS = ()
    # Where urgent-intake alerts go (they carry a link, never patient details).
    FRONT_DESK_EMAIL = "frontdesk@clinic.example.org"
    # The treatment consent form in use: a course with dosing sessions opens only once the patient
    # (and a guardian, for an adolescent) has signed this version.
    TREATMENT_CONSENT_VERSION = "2026-12"
    # Ages in years at the consultation date.
    MINIMUM_ONLINE_AGE = 12
    ADULT_AGE = 18
    # PCL-5 total at or above which "probable PTSD" is flagged (NCPTSD: 31-33).
    PCL5_CUTOFF = 33
    # Whether a guardian's link shows the adolescent's answers (default: consent only).
    GUARDIAN_SEES_ANSWERS = False

    # What clinicians' calendar feeds and exports say about the patient: "initials" or "full".
    FEED_PATIENT_NAMES = "initials"
    # Cancelled consultations stay in feeds (as cancelled) for this many days.
    FEED_CANCELLED_DAYS = 30

    # Staff sessions end after this many idle minutes (a warning shows two minutes before).
    STAFF_IDLE_MINUTES = 15
    # Absolute limit on one staff session, however active.
    STAFF_SESSION_HOURS = 12
    PASSWORD_RESET_MINUTES = 60
    # argon2id parameters (argon2-cffi's PasswordHasher arguments) for staff passwords; empty: its
    # defaults (RFC 9106 low-memory profile). Only the testing configuration changes them.
    PASSWORD_HASH_PARAMETERS = {}
    LOGIN_RATE_LIMIT = "10 per 15 minutes"

    # Limits on the public booking path, against scripted abuse.
    # Active upcoming consultations one email address, or one phone number, may hold (web and API).
    MAX_ACTIVE_BOOKINGS_PER_PATIENT = 2
    # Minutes a public booking is held as pending until the patient confirms from the email (0: no hold).
    BOOKING_CONFIRMATION_MINUTES = 0
    # Slots API requests per client address: far above a patient clicking through the booking page.
    SLOTS_RATE_LIMIT = "120 per minute"
    # "Send me my links again" requests per network (each address is also held to 3 an hour).
    LINKS_AGAIN_RATE_LIMIT = "10 per hour"
    # "Wrong address?" corrections sent from one network (each booking may also be corrected only twice).
    EMAIL_CORRECTION_RATE_LIMIT = "10 per hour"
    # The admin's list of suspicious bursts: this many active bookings from one network or phone within the hours.
    BURST_MIN_BOOKINGS = 3
    BURST_WINDOW_HOURS = 24

    # Rate-limit storage and Redis: short timeouts, and what fails open or closed.
    # Every Redis client (rate limits, slots cache) gives up after this many seconds to connect or answer.
    REDIS_TIMEOUT_SECONDS = 0.25
    # A failing Redis is reported at most once per this many seconds per process, not per request.
    REDIS_WARNING_INTERVAL_SECONDS = 60.0
    # Most answers the slots cache holds at once; beyond it the oldest are evicted.
    SLOT_CACHE_MAX_ENTRIES = 1000

    # Which proxies are believed, and the key of the audit chain.
    # Peers whose X-Forwarded-* headers count (kapclinic.core.proxies), as gunicorn reads it:
    # comma-separated addresses or CIDR networks, "*" for any. From other peers they are ignored.
    FORWARDED_ALLOW_IPS = "127.0.0.1"
    # HMAC key of the audit hash chain, kept out of the database so its owner cannot re-sign an edited
    # trail. Empty outside production: create_app keeps one in the instance folder or makes one per test app.
    AUDIT_KEY = ""
    # The key of the blind indexes that let staff find a patient by name, email or phone
    # while those stay encrypted (32+ random characters of its own; changing it needs
    # `flask patients reindex`).
    INDEX_KEY = ""

    # How emails, invites and feeds present the clinic to other programs and on lock screens.
    # The name on invites, feeds, email subjects and the sender: seen on lock screens and in shared
    # calendars before anything is opened. Empty: the clinic's name.
    CLINIC_DISPLAY_NAME = ""


class DevelopmentConfig(BaseConfig):
    NAME = "development"
    SECRET_KEY = "development-only-not-secret"
    SQLALCHEMY_DATABASE_URI = None  # SQLite in the instance folder
    MAIL_FILE_FALLBACK = True


class TestingConfig(BaseConfig):
    NAME = "testing"
    TESTING = True
    SECRET_KEY = "testing-only-not-secret"
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    WTF_CSRF_ENABLED = False
    MAIL_FILE_FALLBACK = True
    MAIL_SUPPRESS_SEND = False  # tests talk to a real SMTP server on loopback
    RATELIMIT_ENABLED = False
    SLOT_CACHE_SECONDS = 0  # tests of the cache turn it on
    # Still argon2id, but in microseconds rather than a large fraction of a second and 64 MiB:
    # tests create and sign in staff thousands of times, and none is about the hash's cost.
    PASSWORD_HASH_PARAMETERS = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


class ProductionConfig(BaseConfig):
    NAME = "production"
    SECRET_KEY = None
    SQLALCHEMY_DATABASE_URI = None
    SESSION_COOKIE_SECURE = True
    HSTS_SECONDS = 2 * 365 * 24 * 3600
    MAIL_FILE_FALLBACK = False

    @staticmethod
    def check(settings):
        """Refuse a missing or guessable secret or audit key, and a missing database, data key or https address."""
        import math
        from collections import Counter
        from urllib.parse import urlsplit

        secret = settings.get("SECRET_KEY") or ""
        if len(secret) < 32:
            raise ConfigurationError("SECRET_KEY must be set to a random value of at least 32 characters in production")

        # Strength estimated from the secret's own characters: length times the Shannon entropy of their
        # frequencies. One repeated character scores 0, a short repeated pattern little; a random
        # 32-character hex key (128 bits) scores 95 or more, secrets.token_hex() about 245. A varied but
        # well-known phrase passes: this stops placeholders and repeated runs, not every weak choice.
        def estimated_bits(value):
            return sum(count * math.log2(len(value) / count) for count in Counter(value).values())

        if estimated_bits(secret) < 90:
            raise ConfigurationError(
                f"SECRET_KEY is too predictable (about {estimated_bits(secret):.0f} bits by its character counts, "
                "90 needed): make one with python -c 'import secrets; print(secrets.token_hex())'"
            )
        if not settings.get("SQLALCHEMY_DATABASE_URI"):
            raise ConfigurationError("DATABASE_URL must be set in production")
        public = urlsplit(settings.get("PUBLIC_BASE_URL") or "")
        if public.scheme != "https" or not public.hostname:
            raise ConfigurationError(
                "PUBLIC_BASE_URL must be set to the https:// address patients and staff use "
                "(links in emails are built from it)"
            )
        if not settings.get("DATA_KEYS"):
            raise ConfigurationError(
                "KAPCLINIC_DATA_KEY must be set in production (a Fernet key; comma-separate old keys after it)"
            )
        from cryptography.fernet import Fernet

        for key in settings["DATA_KEYS"]:
            try:
                Fernet(key)
            except ValueError:
                raise ConfigurationError(
                    "KAPCLINIC_DATA_KEY holds a value that is not a Fernet key (32 url-safe base64-encoded bytes)"
                ) from None
        keys_of_their_own = {secret}
        for name in ("AUDIT_KEY", "INDEX_KEY"):
            key = settings.get(name) or ""
            if len(key) < 32 or estimated_bits(key) < 90 or key in keys_of_their_own:
                raise ConfigurationError(
                    f"{name} must be set in production to its own random value (python -c 'import secrets; "
                    "print(secrets.token_hex())'), kept out of the database and its backups"
                )
            keys_of_their_own.add(key)


# Plain settings an operator may set by environment variable of the same name.
OVERRIDABLE_FROM_ENVIRONMENT = (
    "CLINIC_NAME",
    "CLINIC_EMAIL",
    "CLINIC_PHONE",
    "CLINIC_ADDRESS",
    "CLINIC_TIMEZONE",
    "CLINIC_PHONE_REGION",
    "CLINIC_CURRENCY",
    "CRISIS_LINE",
    "EMERGENCY_NUMBER",
    "PUBLIC_BASE_URL",
    "HSTS_SECONDS",
    "DATABASE_LOCK_TIMEOUT_SECONDS",
    "MAIL_TIMEOUT_SECONDS",
    "OUTBOX_MAX_ATTEMPTS",
    "OUTBOX_CLAIM_LEASE_SECONDS",
    "OUTBOX_SEND_AFTER_REQUEST",
    "LOG_LEVEL",
    "SLOT_CACHE_SECONDS",
    "REMINDER_HOURS",
    "INTAKE_REMINDER_HOURS",
    "WORKER_INTERVAL_SECONDS",
    "WORKER_BATCH",
    "RATELIMIT_STORAGE_URI",
    "PROXY_FIX_X_FOR",
    "BOOKING_RATE_LIMIT",
    "MANAGE_LINK_MAX_AGE_DAYS",
    "CANCELLATION_WINDOW_HOURS",
    "FRONT_DESK_EMAIL",
    "MINIMUM_ONLINE_AGE",
    "ADULT_AGE",
    "PCL5_CUTOFF",
    "STAFF_IDLE_MINUTES",
    "STAFF_SESSION_HOURS",
    "PASSWORD_RESET_MINUTES",
    "LOGIN_RATE_LIMIT",
    "LINK_GUESS_RATE_LIMIT",
    "FEED_PATIENT_NAMES",
    "FEED_CANCELLED_DAYS",
    # booking-path limits
    "MAX_ACTIVE_BOOKINGS_PER_PATIENT",
    "BOOKING_CONFIRMATION_MINUTES",
    "SLOTS_RATE_LIMIT",
    "LINKS_AGAIN_RATE_LIMIT",
    "EMAIL_CORRECTION_RATE_LIMIT",
    "BURST_MIN_BOOKINGS",
    "BURST_WINDOW_HOURS",
    # rate-limit storage and redis
    "REDIS_TIMEOUT_SECONDS",
    "REDIS_WARNING_INTERVAL_SECONDS",
    "SLOT_CACHE_MAX_ENTRIES",
    # proxies and audit
    "FORWARDED_ALLOW_IPS",
    "AUDIT_KEY",
    "INDEX_KEY",
    # presentation to other programs
    "CLINIC_DISPLAY_NAME",
    "TREATMENT_CONSENT_VERSION",
)

CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def _from_environment(key, default, raw):
    """Parse an environment value as the type of its default (a tuple takes comma-separated numbers)."""
    try:
        if isinstance(default, tuple):
            return tuple(int(part) for part in raw.split(",") if part.strip())
        if isinstance(default, bool):
            return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}[raw.strip().lower()]
        return type(default)(raw)
    except (KeyError, ValueError):
        raise ConfigurationError(f"{key}={raw!r} is not a valid {type(default).__name__}") from None


def load_settings(environ=os.environ):
    """Build the settings dict: the class named by KAPCLINIC_CONFIG plus the environment.

    Read at app creation, not at import, so one process can build differently
    configured apps (tests do).
    """
    name = environ.get("KAPCLINIC_CONFIG", "development")
    try:
        config_class = CONFIGS[name]
    except KeyError:
        raise ConfigurationError(f"KAPCLINIC_CONFIG={name!r} is not one of {', '.join(CONFIGS)}") from None
    settings = {key: getattr(config_class, key) for key in dir(config_class) if key.isupper()}
    for key in OVERRIDABLE_FROM_ENVIRONMENT:
        if environ.get(key):
            settings[key] = _from_environment(key, settings[key], environ[key])
    if environ.get("REDIS_URL") and not environ.get("RATELIMIT_STORAGE_URI"):
        # Rate limits shared by every app process (several gunicorn instances).
        settings["RATELIMIT_STORAGE_URI"] = environ["REDIS_URL"]
    if environ.get("SECRET_KEY"):
        settings["SECRET_KEY"] = environ["SECRET_KEY"]
    if environ.get("KAPCLINIC_DATA_KEY") and name != "testing":
        settings["DATA_KEYS"] = [key.strip() for key in environ["KAPCLINIC_DATA_KEY"].split(",") if key.strip()]
    if environ.get("DATABASE_URL") and name != "testing":
        settings["SQLALCHEMY_DATABASE_URI"] = environ["DATABASE_URL"]
    if name != "testing":
        settings.update(mail_settings_from_environment(environ))
    if not environ.get("MAIL_DEFAULT_SENDER"):
        settings["MAIL_DEFAULT_SENDER"] = settings["CLINIC_EMAIL"]
    check = getattr(config_class, "check", None)
    if check is not None:
        check(settings)
    return settings
