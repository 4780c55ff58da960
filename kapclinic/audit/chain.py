"""The keyed hash chain over audit rows. Pure: no Flask, no database.

Each row's hash is an HMAC-SHA256, under a key the database does not hold
(AUDIT_KEY), of its own fields and the previous row's hash. Editing, inserting or
removing a row anywhere but the end changes every hash after it, and nobody without
the key can compute the new ones: not even the database's owner, who can get round
the triggers that refuse UPDATE and DELETE. Removing rows from the end is only
visible against a head hash kept elsewhere, which is why `flask audit verify`
prints the head and checks one with `--expect-head`.
"""

import hashlib
import hmac
import json
from dataclasses import dataclass

HASHED_FIELDS = (
    "id",
    "occurred_dt",
    "actor_id",
    "action",
    "intake_id",
    "booking_id",
    "subject_user_id",
    "detail",
    "remote_addr",
)


def row_hash(key, prev_hash, fields):
    """HMAC-SHA256 with `key` (bytes) over the previous hash and the row's fields as canonical JSON."""
    canonical = json.dumps([fields[name] for name in HASHED_FIELDS], separators=(",", ":"), ensure_ascii=True)
    return hmac.new(key, f"{prev_hash}\n{canonical}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    row_id: int
    reason: str


def first_break(rows, genesis, key):
    """Walk rows (dicts with HASHED_FIELDS, prev_hash and row_hash) in id order; return the first break or None."""
    expected_prev = genesis
    for row in rows:
        if row["prev_hash"] != expected_prev:
            return ChainBreak(row["id"], "does not follow the row before it (a row was removed or inserted)")
        if not hmac.compare_digest(row_hash(key, row["prev_hash"], row), row["row_hash"]):
            return ChainBreak(
                row["id"],
                "its contents no longer match its hash (the row was changed, or AUDIT_KEY is not the key it was "
                "written with)",
            )
        expected_prev = row["row_hash"]
    return None
