"""Audit chain keyed with a key the database does not hold

Rows written before this revision are chained with plain SHA-256, which anyone with
the database can recompute. No column changes: the upgrade first checks that plain
chain (and stops, naming the row, if it is broken: re-signing it would hide the
break), then re-signs every row in order with HMAC-SHA256 under the app's AUDIT_KEY,
so one keyed chain runs from the first row and `audit verify` has one rule. It prints
both heads: the old one to compare with heads recorded before, the new one to
record from now on. The triggers that refuse UPDATE and DELETE are lifted for the
re-signing only (this runs as the table's owner) and put back as they were.

Run it with the app stopped: a row written by an old process after the re-signing
would be hashed the old way and break the chain at that row. The downgrade does the
reverse (checks the keyed chain, re-signs with plain SHA-256).

Revision ID: 0012keyedauditchain
Revises: 0011bookingabuse
Create Date: 2026-12-06 03:45:00

"""
import hashlib
import hmac
import json

import sqlalchemy as sa
from alembic import op
from flask import current_app

from kapclinic.core.db import UTCDateTime

# revision identifiers, used by Alembic.
revision = '0012keyedauditchain'
down_revision = '0011bookingabuse'
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64
# Frozen copies (migrations must not change with the code): the hashed fields and their canonical form.
HASHED_FIELDS = ("id", "occurred_dt", "actor_id", "action", "intake_id", "booking_id", "subject_user_id", "detail", "remote_addr")
APPEND_ONLY_MESSAGE = "audit_events is append-only"
BATCH = 1000

audit_events = sa.table(
    "audit_events",
    sa.column("id", sa.Integer), sa.column("occurred_dt", UTCDateTime), sa.column("actor_id", sa.Integer),
    sa.column("action", sa.String), sa.column("intake_id", sa.Integer), sa.column("booking_id", sa.Integer),
    sa.column("subject_user_id", sa.Integer), sa.column("detail", sa.String), sa.column("remote_addr", sa.String),
    sa.column("prev_hash", sa.String), sa.column("row_hash", sa.String),
)


def _message(prev_hash, row):
    values = [row.occurred_dt.isoformat() if name == "occurred_dt" else getattr(row, name) for name in HASHED_FIELDS]
    return f"{prev_hash}\n{json.dumps(values, separators=(',', ':'), ensure_ascii=True)}".encode()


def _plain(prev_hash, row):
    return hashlib.sha256(_message(prev_hash, row)).hexdigest()


def _keyed(prev_hash, row):
    return hmac.new(current_app.config["AUDIT_KEY"].encode("utf-8"), _message(prev_hash, row), hashlib.sha256).hexdigest()


def _rows(connection):
    after = 0
    while True:
        batch = connection.execute(
            sa.select(audit_events).where(audit_events.c.id > after).order_by(audit_events.c.id).limit(BATCH)
        ).all()
        if not batch:
            return
        yield from batch
        after = batch[-1].id


def _resign(checked_with, signed_with, scheme):
    """Check every row under the old scheme, then give each its new hash; print both heads."""
    connection = op.get_bind()
    old_head = GENESIS_HASH
    for row in _rows(connection):  # all checked before anything changes, triggers included
        if row.prev_hash != old_head or checked_with(row.prev_hash, row) != row.row_hash:
            raise RuntimeError(
                f"audit trail broken at row {row.id} before re-signing it {scheme}: nothing was changed. "
                "Keep a copy of audit_events and find out what happened before upgrading."
            )
        old_head = row.row_hash
    if old_head == GENESIS_HASH:
        return
    new_head, count = GENESIS_HASH, 0
    _lift_triggers(connection)
    for row in _rows(connection):
        new_prev = new_head
        new_head = signed_with(new_prev, row)
        connection.execute(audit_events.update().where(audit_events.c.id == row.id).values(prev_hash=new_prev, row_hash=new_head))
        count += 1
    _restore_triggers(connection)
    print(f"audit trail: {count} rows re-signed {scheme}; old head {old_head}, new head {new_head}")


def _lift_triggers(connection):
    if connection.dialect.name == "postgresql":
        op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
    else:
        op.execute("DROP TRIGGER audit_events_no_update")


def _restore_triggers(connection):
    if connection.dialect.name == "postgresql":
        op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")
    else:
        op.execute(
            "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
            f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"
        )


def upgrade():
    _resign(_plain, _keyed, "with HMAC-SHA256 under AUDIT_KEY")


def downgrade():
    _resign(_keyed, _plain, "with plain SHA-256")
