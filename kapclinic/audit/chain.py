"""The hash chain over audit rows. Pure: no Flask, no database.

Each row's hash covers its own fields and the previous row's hash, so editing,
inserting or removing a row anywhere but the end changes every hash after it.
Removing rows from the end is only visible against a head hash kept elsewhere,
which is why `flask audit verify` prints the head.
"""

import hashlib
import json
from dataclasses import dataclass

HASHED_FIELDS = ("id", "occurred_dt", "actor_id", "action", "intake_id", "booking_id", "subject_user_id", "detail", "remote_addr")


def row_hash(prev_hash, fields):
    """SHA-256 over the previous hash and the row's fields as canonical JSON."""
    canonical = json.dumps([fields[name] for name in HASHED_FIELDS], separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    row_id: int
    reason: str


def first_break(rows, genesis):
    """Walk rows (dicts with HASHED_FIELDS, prev_hash and row_hash) in id order; return the first break or None."""
    expected_prev = genesis
    for row in rows:
        if row["prev_hash"] != expected_prev:
            return ChainBreak(row["id"], "does not follow the row before it (a row was removed or inserted)")
        if row_hash(row["prev_hash"], row) != row["row_hash"]:
            return ChainBreak(row["id"], "its contents no longer match its hash (the row was changed)")
        expected_prev = row["row_hash"]
    return None
