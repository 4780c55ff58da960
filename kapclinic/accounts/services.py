"""Staff account rules: passwords (argon2id), sessions that end for real, password reset."""

import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context
from sqlalchemy import delete, select, update

from kapclinic.accounts.models import (
    PasswordReset,
    PasswordResetRequest,
    Role,
    SignedInUser,
    StaffSession,
    StaffUser,
)
from kapclinic.audit import services as audit
from kapclinic.audit.models import AuditAction
from kapclinic.core import tokens, validation
from kapclinic.core.errors import DomainError
from kapclinic.core.tokens import hash_secret
from kapclinic.core.urls import public_url
from kapclinic.extensions import db
from kapclinic.notifications.services import queue_email
from kapclinic.scheduling import profiles

# argon2-cffi's defaults are argon2id with the RFC 9106 low-memory profile: PASSWORD_HASH_PARAMETERS
# is empty in every configuration but testing's (config.py), whose cheap hash leaves a test's sign-in
# to be about the sign-in. Each hasher comes with a dummy hash of its own parameters, checked when the
# email is unknown, so a wrong email costs as long as a wrong password.
_HASHERS = {}


def _hasher_and_dummy(parameters=None):
    if parameters is None:
        parameters = current_app.config.get("PASSWORD_HASH_PARAMETERS") if has_app_context() else None
    key = tuple(sorted((parameters or {}).items()))
    if key not in _HASHERS:
        hasher = PasswordHasher(**dict(key))
        _HASHERS[key] = (hasher, hasher.hash(secrets.token_urlsafe(16)))
    return _HASHERS[key]


_hasher_and_dummy({})  # the production hasher and its dummy hash, made at import as before
PASSWORD_MIN = 12
PASSWORD_MAX = 128
LAST_SEEN_RESOLUTION = timedelta(minutes=1)


class AccountError(DomainError):
    """A rule about accounts was not met; str() is the message, `field` the input at fault."""


def check_new_password(password, email=""):
    """Return the password if it is acceptable, else raise AccountError for the field."""
    if not isinstance(password, str) or len(password) < PASSWORD_MIN:
        raise AccountError(f"Use at least {PASSWORD_MIN} characters.", "password")
    if len(password) > PASSWORD_MAX:
        raise AccountError(f"Use at most {PASSWORD_MAX} characters.", "password")
    if email and password.strip().lower() == email.strip().lower():
        raise AccountError("Your password cannot be your email address.", "password")
    if len(set(password)) < 4:
        raise AccountError("Use a less repetitive password.", "password")
    return password


def hash_password(password):
    hasher, _ = _hasher_and_dummy()
    return hasher.hash(password)


def _password_matches(stored_hash, password):
    hasher, _ = _hasher_and_dummy()
    try:
        return hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _staff_email(email):
    """Staff addresses compare without case: Bob.Smith@ and bob.smith@ are one account."""
    return validation.clean_email(email).lower()


def user_by_email(email):
    try:
        email = _staff_email(email)
    except validation.InvalidField:
        return None
    return db.session.scalar(select(StaffUser).where(StaffUser.email == email))


def authenticate(email, password):
    """Return the active user with these credentials, or None; unknown and known emails take as long."""
    user = user_by_email(email)
    if user is None or not user.is_active:
        _password_matches(_hasher_and_dummy()[1], password or "")
        return None
    if not _password_matches(user.password_hash, password or ""):
        return None
    if _hasher_and_dummy()[0].check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


# --- sessions ---------------------------------------------------------------------


def start_session(user, now):
    """Begin a new session for a fresh login; return the token for the (signed) session cookie."""
    token = secrets.token_urlsafe(32)
    db.session.add(StaffSession(token_hash=hash_secret(token), user=user, created_dt=now, last_seen_dt=now))
    db.session.flush()
    return token


def _idle_limit():
    return timedelta(minutes=current_app.config["STAFF_IDLE_MINUTES"])


def load_session(token, now):
    """Return the signed-in user for a session token, or None if it ended, idled out or expired."""
    if not isinstance(token, str) or len(token) > 100:
        return None
    token_hash = hash_secret(token)
    row = db.session.execute(
        select(StaffSession.id, StaffSession.created_dt, StaffSession.last_seen_dt, StaffSession.user_id)
        .join(StaffUser)
        .where(StaffSession.token_hash == token_hash, StaffSession.ended_dt.is_(None), StaffUser.is_active)
    ).first()
    if row is None:
        return None
    too_old = now - row.created_dt > timedelta(hours=current_app.config["STAFF_SESSION_HOURS"])
    idle = now - row.last_seen_dt > _idle_limit()
    if too_old or idle or now - row.last_seen_dt >= LAST_SEEN_RESOLUTION:
        # End the read first and write in a transaction of its own: on SQLite a write
        # after a read in one transaction can fail when another writer got in between.
        db.session.commit()
        values = {"ended_dt": now} if too_old or idle else {"last_seen_dt": now}
        db.session.execute(update(StaffSession).where(StaffSession.id == row.id).values(**values))
        db.session.commit()
        if too_old or idle:
            return None
    return SignedInUser(db.session.get(StaffUser, row.user_id), token)


def session_expires_at(token):
    session = db.session.scalar(select(StaffSession).where(StaffSession.token_hash == hash_secret(token)))
    return session.last_seen_dt + _idle_limit()


def end_session(token, now):
    db.session.execute(
        update(StaffSession)
        .where(StaffSession.token_hash == hash_secret(token), StaffSession.ended_dt.is_(None))
        .values(ended_dt=now)
    )


def end_all_sessions(user, now):
    """End every session of the user: a copied cookie stops working at once."""
    db.session.execute(
        update(StaffSession)
        .where(StaffSession.user_id == user.id, StaffSession.ended_dt.is_(None))
        .values(ended_dt=now)
    )


# --- passwords -----------------------------------------------------------------------


def set_password(user, password, now):
    """Set a new password and end every session of the user."""
    check_new_password(password, user.email)
    user.password_hash = hash_password(password)
    user.password_changed_dt = now
    end_all_sessions(user, now)
    db.session.flush()


def change_password(user, current_password, new_password, now):
    if not _password_matches(user.password_hash, current_password or ""):
        raise AccountError("That is not your current password.", "current_password")
    set_password(user, new_password, now)


def _reset_address_digest(email):
    return tokens.keyed_digest("password-reset-request", email)


def request_password_reset(email, now):
    """Record a request for a reset link, the same one row whether or not the address is a staff account's.

    Looking the user up here and writing their link and email only for staff made a known
    address answer measurably slower than an unknown one; the worker does that part
    (issue_requested_password_resets). Raises AccountError for an address that is not one.
    """
    try:
        email = _staff_email(email)
    except validation.InvalidField as error:
        raise AccountError(str(error), "email") from None
    db.session.add(PasswordResetRequest(address_digest=_reset_address_digest(email), requested_dt=now))
    db.session.flush()


def issue_requested_password_resets(now, limit):
    """Email a reset link for each of up to `limit` requests naming an active user; delete every request taken.

    Taken by DELETE ... RETURNING over rows locked with SKIP LOCKED, in the transaction that
    queues the links: another worker passes over them, and a round that fails leaves them
    whole for the next. A link lives PASSWORD_RESET_MINUTES from the request, as the page
    promised, so a request older than that (the worker was down) gets none. Returns
    (requests taken, links queued).
    """
    taken = (
        select(PasswordResetRequest.id).order_by(PasswordResetRequest.id).limit(limit).with_for_update(skip_locked=True)
    )
    requests = db.session.execute(
        delete(PasswordResetRequest)
        .where(PasswordResetRequest.id.in_(taken))
        .returning(PasswordResetRequest.address_digest, PasswordResetRequest.requested_dt),
        execution_options={"synchronize_session": False},
    ).all()
    if not requests:
        return 0, 0
    # Digests only match, never reveal: compute every active user's and look each request up.
    active = db.session.scalars(select(StaffUser).where(StaffUser.is_active))
    staff = {_reset_address_digest(user.email): user for user in active}
    minutes = current_app.config["PASSWORD_RESET_MINUTES"]
    links = 0
    for asked in requests:
        user = staff.get(asked.address_digest)
        if user is not None and now < asked.requested_dt + timedelta(minutes=minutes):
            _send_password_link(user, asked.requested_dt, "password_reset", minutes)
            links += 1
    return len(requests), links


WELCOME_LINK_MINUTES = 72 * 60


def invite_user(email, name, role, now, clinician=None, profile=None, by=None):
    """Create a staff user who chooses their own password from an emailed single-use link (see create_user)."""
    user = create_user(email, name, role, secrets.token_urlsafe(32), now, clinician=clinician, profile=profile)
    _send_password_link(user, now, "staff_welcome", WELCOME_LINK_MINUTES)
    _audited(by, AuditAction.STAFF_INVITED, user, now, f"role: {user.role.value}")
    return user


def _keep_an_admin(user):
    """Refuse to take away the clinic's last active admin, or nobody could manage staff."""
    if user.role is not Role.ADMIN or not user.is_active:
        return
    # Locked: two admins deactivating (or demoting) each other at once must not both succeed.
    other_admins = db.session.scalars(
        select(StaffUser.id)
        .where(StaffUser.role == Role.ADMIN, StaffUser.is_active, StaffUser.id != user.id)
        .with_for_update()
    ).all()
    if not other_admins:
        raise AccountError("This is the only active admin. Make another admin first.", "role")


def set_active(user, active, now, by=None):
    """Activate or deactivate a user; the clinic's last active admin stays.

    A deactivated clinician is no longer bookable (Clinician.is_bookable) and their cached
    times end with the commit (scheduling.calendar_cache); their bookings stay for staff to move.
    """
    if not active:
        _keep_an_admin(user)
    if user.is_active == active:
        return
    user.is_active = active
    if not active:
        end_all_sessions(user, now)
        if user.clinician is not None:
            user.clinician.feed_token_hash = None  # their calendar feed stops too
    db.session.flush()
    _audited(by, AuditAction.STAFF_ACTIVATED if active else AuditAction.STAFF_DEACTIVATED, user, now)


def _send_password_link(user, now, template, minutes):
    """Add a single-use link that lives `minutes` from `now` and queue its email (reset, or a new user's welcome)."""
    # Signed like patients' links, so a link we sent opens even from a network over the guessing limit.
    token, token_hash = tokens.issue(tokens.PASSWORD_RESET)
    db.session.add(
        PasswordReset(token_hash=token_hash, user=user, created_dt=now, expires_dt=now + timedelta(minutes=minutes))
    )
    queue_email(
        user.email,
        template,
        {"name": user.name, "reset_url": public_url("accounts.reset_password", token=token), "minutes": minutes},
    )
    db.session.flush()


def reset_for_token(token, now):
    """Return the unused, unexpired reset a link points to, or None."""
    token_hash = tokens.stored_hash(token, tokens.PASSWORD_RESET)
    if token_hash is None:
        return None
    reset = db.session.scalar(select(PasswordReset).where(PasswordReset.token_hash == token_hash))
    if reset is None or reset.used_dt is not None or reset.expires_dt <= now or not reset.user.is_active:
        return None
    return reset


def complete_password_reset(reset, new_password, now):
    set_password(reset.user, new_password, now)
    reset.used_dt = now
    # Any other outstanding link for this user dies too.
    db.session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == reset.user_id, PasswordReset.used_dt.is_(None))
        .values(used_dt=now)
    )
    db.session.flush()


# --- administration -----------------------------------------------------------------


def create_user(email, name, role, password, now, clinician=None, profile=None):
    """Create a staff user; a clinician acts for `clinician`, or for a new profile made from `profile`.

    `profile` is a scheduling.profiles.ClinicianProfile; the new profile takes the user's name and email.
    """
    email = _staff_email(email)
    name = validation.clean_name(name)
    role = Role(role)
    if user_by_email(email) is not None:
        raise AccountError("A staff user with that email already exists.", "email")
    if role is Role.CLINICIAN and clinician is None and profile is None:
        raise AccountError("A clinician user needs the clinician profile it acts for.", "clinician")
    check_new_password(password, email)
    if role is Role.CLINICIAN and clinician is None:
        clinician = profiles.save_profile(None, name, email, profile)
    user = StaffUser(
        email=email,
        name=name,
        role=role,
        password_hash=hash_password(password),
        clinician=clinician if role is Role.CLINICIAN else None,
        created_dt=now,
        password_changed_dt=now,
    )
    db.session.add(user)
    db.session.flush()
    return user


def update_user(user, name, email, role, now, profile=None, by=None):
    """Change a staff user's name, email and role, and a clinician's profile (`profile`, required for them).

    A clinician's profile takes the account's name and email. The role moves between admin and
    front desk only: a clinician's account is their profile's, which their bookings name.
    """
    email = _staff_email(email)
    role = Role(role)
    other = user_by_email(email)
    if other is not None and other.id != user.id:
        raise AccountError("A staff user with that email already exists.", "email")
    if (role is Role.CLINICIAN) != (user.role is Role.CLINICIAN):
        raise AccountError(
            "A clinician's account stays a clinician's, and other accounts cannot become one: add a new user instead.",
            "role",
        )
    if role is not Role.ADMIN:
        _keep_an_admin(user)
    before = _facts(user)
    user.name = validation.clean_name(name)
    user.email = email
    user.role = role
    if user.clinician is not None:
        profiles.save_profile(user.clinician, user.name, email, profile)
    db.session.flush()
    after = _facts(user)
    changed = [fact for fact in before if before[fact] != after[fact]]
    if changed:
        _audited(by, AuditAction.STAFF_UPDATED, user, now, f"changed: {', '.join(changed)}")
    return changed


def _facts(user):
    """What an admin may change of a user, compared before and after to name the changes in the audit row."""
    facts = {"name": user.name, "email": user.email, "role": user.role}
    if user.clinician is not None:
        facts |= profiles.facts(user.clinician)
    return facts


def _audited(by, action, user, now, detail=""):
    """Record an admin's change to `user` (the command line acts as nobody, and records nothing)."""
    if by is not None:
        audit.record(by, action, now, subject_user=user, detail=detail)


def deactivate(user, now):
    set_active(user, False, now)
