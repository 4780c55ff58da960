"""Write audit rows in the request's transaction, and check the chain."""

from dataclasses import dataclass

from flask import has_request_context, request
from sqlalchemy import select, text

from kapclinic.audit.chain import first_break, row_hash
from kapclinic.audit.keys import audit_key
from kapclinic.audit.models import GENESIS_HASH, AuditEvent
from kapclinic.core.proxies import valid_ip_or_empty
from kapclinic.extensions import db

_AUDIT_LOCK_SPACE = 4243
VERIFY_BATCH = 1000


def _serialise_writers():
    """One writer at a time extends the chain. SQLite's writing transactions are already serial (core.db)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:space, 0)"), {"space": _AUDIT_LOCK_SPACE})


def _fields(event):
    return {
        "id": event.id,
        "occurred_dt": event.occurred_dt.isoformat(),
        "actor_id": event.actor_id,
        "action": str(event.action),
        "intake_id": event.intake_id,
        "booking_id": event.booking_id,
        "subject_user_id": event.subject_user_id,
        "detail": event.detail,
        "remote_addr": event.remote_addr,
    }


def record(actor, action, now, intake=None, booking=None, subject_user=None, detail=""):
    """Append one row for what `actor` did; it commits (or rolls back) with the change it describes."""
    _serialise_writers()
    last = db.session.execute(
        select(AuditEvent.id, AuditEvent.row_hash).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    if booking is None and intake is not None:
        booking = intake.booking
    event = AuditEvent(
        id=(last.id + 1) if last else 1,
        occurred_dt=now.replace(microsecond=0),
        actor_id=actor.id,
        action=action,
        intake_id=intake.id if intake is not None else None,
        booking_id=booking.id if booking is not None else None,
        subject_user_id=subject_user.id if subject_user is not None else None,
        detail=detail[:255],
        remote_addr=valid_ip_or_empty(request.remote_addr) if has_request_context() else "",
        prev_hash=last.row_hash if last else GENESIS_HASH,
    )
    event.row_hash = row_hash(audit_key(), event.prev_hash, _fields(event))
    db.session.add(event)
    db.session.flush()
    return event


def _rows():
    after = 0
    while True:
        batch = db.session.scalars(
            select(AuditEvent).where(AuditEvent.id > after).order_by(AuditEvent.id).limit(VERIFY_BATCH)
        ).all()
        if not batch:
            return
        for event in batch:
            yield {**_fields(event), "prev_hash": event.prev_hash, "row_hash": event.row_hash}
        after = batch[-1].id


@dataclass(frozen=True)
class Verification:
    rows: int
    head: str
    broken: object  # the first ChainBreak, or None
    expected_head_row: int | None  # the id of the row whose hash is the expected head, if any is


def verify(expected_head=None):
    """Walk the whole chain with the key; note where `expected_head` (a head recorded earlier) sits in it."""
    # The head of an empty trail is the genesis hash: a head recorded then is "before row 1".
    count, head, found = 0, GENESIS_HASH, 0 if expected_head == GENESIS_HASH else None

    def counted():
        nonlocal count, head, found
        for row in _rows():
            count += 1
            head = row["row_hash"]
            if row["row_hash"] == expected_head:
                found = row["id"]
            yield row

    broken = first_break(counted(), GENESIS_HASH, audit_key())
    return Verification(count, head, broken, found)


def events_for(*conditions, limit=500):
    return db.session.scalars(select(AuditEvent).where(*conditions).order_by(AuditEvent.id.desc()).limit(limit)).all()
