"""Opaque link tokens: 256 random bits, signed with a timestamp; only a SHA-256 hash is stored.

The signature lets a link expire and stops guessing before any database look-up;
the stored hash lets a link be revoked (replace the hash) and means a copy of the
database holds no working link.
"""

import hashlib
import hmac
import secrets
from datetime import timedelta

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from kapclinic.extensions import limiter

# What a link is for; a token made for one purpose is never accepted for another.
MANAGE_BOOKING = "manage-booking"
INTAKE = "intake"
GUARDIAN_CONSENT = "guardian-consent"
PASSWORD_RESET = "password-reset"  # and a new staff member's first password
LINK_PURPOSES = (MANAGE_BOOKING, INTAKE, GUARDIAN_CONSENT, PASSWORD_RESET)


def _link_refused(response):
    return response.status_code == 404


def _link_we_sent():
    """True when this request's link carries our signature and has not expired: it came from an email, not a guess."""
    token = (request.view_args or {}).get("token")
    return any(stored_hash(token, purpose) is not None for purpose in LINK_PURPOSES)


# Refused private links count against the visitor's network (one budget for manage,
# questionnaire, guardian and password-reset links). Over the budget a link is refused
# before any database look-up unless it carries our signature: a clinic's Wi-Fi or a
# carrier's NAT full of guessers never locks its patients out of the links we emailed
# them. Forging a signature means knowing SECRET_KEY, and guessing 256 random bits is
# hopeless anyway: this stops anyone trying at volume. A signed link that no longer works
# (replaced by a reschedule) costs nothing. Calendar feeds are left out: Google and others
# fetch every subscriber's feed from a few shared addresses, so one stale feed address
# would block everyone's.
link_guessing_limit = limiter.shared_limit(
    lambda: current_app.config["LINK_GUESS_RATE_LIMIT"],
    scope="private-links",
    deduct_when=_link_refused,
    exempt_when=_link_we_sent,
    error_message=(
        "Too many links that do not work were opened from your network. Please wait an hour and use "
        "the link in the most recent email from us, or call us."
    ),
)


def _serializer(purpose):
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"kapclinic.{purpose}")


def hash_secret(secret):
    # UTF-8, not ASCII: a link typed with other characters must simply match nothing (404).
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def keyed_digest(purpose, value):
    """An HMAC of `value` under SECRET_KEY, named for its purpose: rows can be matched, never read back.

    For what must be counted or looked up without being kept (an address asked for a reset
    link, a guardian's mailbox); the purpose keeps two uses from matching each other's digests.
    """
    message = f"kapclinic.{purpose}:{value}".encode()
    return hmac.new(current_app.config["SECRET_KEY"].encode("utf-8"), message, hashlib.sha256).hexdigest()


def issue(purpose):
    """Return (token for the link, hash to store)."""
    secret = secrets.token_urlsafe(32)
    return _serializer(purpose).dumps(secret), hash_secret(secret)


def stored_hash(token, purpose):
    """Return the hash to look up for a link token, or None if forged, malformed or expired."""
    max_age = timedelta(days=current_app.config["MANAGE_LINK_MAX_AGE_DAYS"])
    if not isinstance(token, str) or len(token) > 200:
        return None
    try:
        secret = _serializer(purpose).loads(token, max_age=int(max_age.total_seconds()))
    except BadSignature:  # includes SignatureExpired
        return None
    if not isinstance(secret, str) or not secret.isascii():
        return None
    return hash_secret(secret)
