"""The keyed audit hash chain notices a changed, removed or inserted row, and cannot be rebuilt without the key."""

import hashlib
import json

import pytest

from kapclinic.audit.chain import HASHED_FIELDS, first_break, row_hash

GENESIS = "0" * 64
KEY = b"the audit key, which the database never holds"


def _chain(count, key=KEY):
    rows, previous = [], GENESIS
    for number in range(1, count + 1):
        row = {
            "id": number,
            "occurred_dt": f"2026-11-25T12:00:0{number}+00:00",
            "actor_id": 1,
            "action": "intake.viewed",
            "intake_id": 7,
            "booking_id": 7,
            "subject_user_id": None,
            "detail": "",
            "remote_addr": "127.0.0.1",
        }
        row["prev_hash"] = previous
        row["row_hash"] = previous = row_hash(key, previous, row)
        rows.append(row)
    return rows


def test_an_untouched_chain_has_no_break():
    assert first_break(_chain(5), GENESIS, KEY) is None


@pytest.mark.parametrize("field", ["actor_id", "action", "detail", "remote_addr", "occurred_dt", "intake_id"])
def test_changing_any_field_breaks_the_chain_at_that_row(field):
    rows = _chain(5)
    rows[2][field] = "tampered"
    broken = first_break(rows, GENESIS, KEY)
    assert broken.row_id == 3 and "changed" in broken.reason


def test_removing_a_row_breaks_the_chain_at_the_next_one():
    rows = _chain(5)
    del rows[1]
    broken = first_break(rows, GENESIS, KEY)
    assert broken.row_id == 3 and "removed" in broken.reason


def test_recomputing_one_rows_hash_still_breaks_the_chain_after_it():
    rows = _chain(5)
    rows[1]["detail"] = "tampered"
    rows[1]["row_hash"] = row_hash(KEY, rows[1]["prev_hash"], rows[1])
    assert first_break(rows, GENESIS, KEY).row_id == 3


def _sha256_chain(rows):
    """What someone without the key can do: rebuild every hash after an edit with plain SHA-256."""
    previous = GENESIS
    for row in rows:
        canonical = json.dumps([row[name] for name in HASHED_FIELDS], separators=(",", ":"), ensure_ascii=True)
        row["prev_hash"] = previous
        row["row_hash"] = previous = hashlib.sha256(f"{previous}\n{canonical}".encode()).hexdigest()
    return rows


def test_a_chain_rebuilt_without_the_key_after_an_edit_is_caught():
    rows = _chain(5)
    rows[2]["detail"] = "nothing to see"
    del rows[3]
    broken = first_break(_sha256_chain(rows), GENESIS, KEY)
    assert broken.row_id == 1 and "AUDIT_KEY" in broken.reason


def test_a_chain_rebuilt_with_a_guessed_key_is_caught():
    assert first_break(_chain(3, key=b"guess"), GENESIS, KEY).row_id == 1
