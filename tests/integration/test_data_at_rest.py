"""Clinical content is encrypted at rest: a copy of the database files shows none of it.

Every column that can hold clinical content is filled with something recognisable (answers,
scores, screening flags and the answers that raised them, the guardian's consent, the review
reason, staff notes, the contact log, a patient's cancellation reason), then the raw SQLite
file, or every PostgreSQL row as text, is searched. What stays in clear is the booking's
contact details, statuses, times and the queue's markers (urgent, needs review, information
flags, adolescent).
"""

import re
import sqlite3
from pathlib import Path

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text

from kapclinic.accounts.models import Role
from kapclinic.extensions import db
from kapclinic.intake.models import Intake
from kapclinic.scheduling.models import Booking
from tests.helpers import booked_by, seed_offering, sign_in
from tests.intake_answers import ADULT_STEPS, book_for_intake, born_years_ago, complete_steps, post_step

pytestmark = pytest.mark.both_databases

FIFTEEN = born_years_ago(15)
ADOLESCENT_STEPS = ADULT_STEPS[:-1] + ["guardian", "consent"]

# Typed by the patient, the guardian and the staff: each must be found nowhere in the files.
TYPED = {
    "reasons": {"hopes": "Qzx hope to sleep again"},
    "history": {"psychotherapy": "Qzx therapy with Dr Vole"},
    "medications": {"medication_list": "Qzx-medicine 5 mg"},
    "guardian": {"guardian_relationship": "Qzx aunt"},
}
GUARDIAN_SIGNATURE = "Quintessa Zxguardian"
CANCELLATION_REASON = "Qzx started lithium instead"
STAFF_TEXT = {
    "urgent": "Qzx called back, safety plan agreed",
    "note": "Qzx note on ketamine dose history",
    "contact": "Qzx left voicemail about results",
    "reason": "Qzx wants inpatient care first",
}
# Answers that raise flags: suicide risk on PHQ-9 and ASQ, psychosis, pregnancy, under 18.
FLAG_RAISING = {
    "about": {"date_of_birth": FIFTEEN},
    "medical": {"pregnancy": "pregnant"},
    "psychiatric": {"psychosis": "yes"},
    "phq9": {"phq9_9": "2"},
}
# What the flags, reasons and scores look like inside the results: none may be readable.
CLINICAL_WORDS = [
    "suicide_risk",
    "psychosis",
    "pregnan",
    "under_18",
    "level:",
    "clinician-review",
    "Thoughts of death",
    "ASQ positive",
    "severity",
    '"total"',
    "subscores",
    "PHQ-9 item 9",
    "Age 15 at the consultation",
]


def _answered_flagged_reviewed(app, mailbox, create_staff):
    """An adolescent answers with flag-raising and recognisable answers, the guardian signs, the desk works it."""
    offering = seed_offering(app, "at-rest")
    patient = app.test_client()
    intake_url = book_for_intake(patient, offering, mailbox, date_of_birth=FIFTEEN)
    changes = {key: {**TYPED.get(key, {}), **FLAG_RAISING.get(key, {})} for key in ADOLESCENT_STEPS}
    complete_steps(patient, intake_url, ADOLESCENT_STEPS[:7], **changes)
    assert post_step(patient, intake_url, "asq", asq_1="true", asq_5="false").status_code == 302
    complete_steps(patient, intake_url, ADOLESCENT_STEPS[8:], **changes)
    assert patient.post(f"{intake_url}/review").status_code == 302
    guardian_path = next(
        line
        for message in mailbox.messages
        if message["To"] == "grace@example.com"
        for line in message.get_body(("plain",)).get_content().split()
        if "/intake/guardian/" in line
    ).removeprefix("https://clinic.example.org")
    signed = app.test_client().post(
        guardian_path, data={"signature": GUARDIAN_SIGNATURE, "relationship": "Mother", "agree": "yes"}
    )
    assert signed.status_code == 200

    with app.app_context():
        intake_id = db.session.scalar(select(Intake.id))
        db.session.rollback()
    desk = app.test_client()
    sign_in(desk, create_staff(Role.FRONT_DESK).email)
    record = f"/staff/intakes/{intake_id}"
    assert desk.post(f"{record}/urgent", data={"action_taken": STAFF_TEXT["urgent"]}).status_code == 302
    assert desk.post(f"{record}/notes", data={"kind": "note", "body": STAFF_TEXT["note"]}).status_code == 302
    assert desk.post(f"{record}/notes", data={"kind": "left_message", "body": STAFF_TEXT["contact"]}).status_code == 302
    assert (
        desk.post(f"{record}/status", data={"status": "not_a_fit", "reason": STAFF_TEXT["reason"]}).status_code == 302
    )

    # Another patient cancels, saying why.
    book_for_intake(patient, offering, mailbox, slot=2, name="Bo Other", email="bo@example.com", phone="+12125550177")
    manage_path = re.search(
        r"https://clinic\.example\.org(/manage/\S+)", mailbox.messages[-1].get_body(("plain",)).get_content()
    ).group(1)
    assert patient.post(f"{manage_path}/cancel", data={"reason": CANCELLATION_REASON}).status_code == 302
    return intake_id, desk.get(record).text


def _stored_bytes(app):
    """The SQLite files as they lie on disk, or every PostgreSQL row as text."""
    with app.app_context():
        db.session.remove()
        if db.engine.dialect.name == "sqlite":
            path = Path(db.engine.url.database)
            with sqlite3.connect(path) as connection:
                connection.execute("PRAGMA wal_checkpoint(FULL)")
            return b"".join(file.read_bytes() for file in path.parent.glob(f"{path.name}*"))
        with db.engine.connect() as connection:
            rows = [
                value
                for table in db.metadata.sorted_tables
                for value in connection.execute(text(f'SELECT CAST(t AS text) FROM "{table.name}" AS t')).scalars()
            ]
        return "\n".join(rows).encode("utf-8")


def test_a_copy_of_the_database_shows_no_answer_score_flag_consent_or_staff_note(app, mailbox, create_staff):
    intake_id, record = _answered_flagged_reviewed(app, mailbox, create_staff)
    typed = [value for step in TYPED.values() for value in step.values()] + [GUARDIAN_SIGNATURE, *STAFF_TEXT.values()]
    # Stored, not lost: the staff read it all back, and the guardian's signature is on the intake.
    for value in [*typed, "Psychosis or schizophrenia", "Pregnant, breastfeeding", "Thoughts of death"]:
        assert value == GUARDIAN_SIGNATURE or value in record, value
    with app.app_context():
        assert db.session.get(Intake, intake_id).guardian_consent["signature"] == GUARDIAN_SIGNATURE
        assert (
            db.session.scalar(select(Booking.cancellation_reason).where(booked_by("bo@example.com")))
            == CANCELLATION_REASON
        )
        db.session.rollback()
    typed.append(CANCELLATION_REASON)

    stored = _stored_bytes(app)
    found = [value for value in [*typed, *CLINICAL_WORDS] if value.encode("utf-8") in stored]
    assert not found, f"readable in the database: {found}"


def test_upgrading_moves_the_queue_onto_markers_and_drops_the_clear_flag_codes(app, mailbox, create_staff):
    """Intakes flagged before migration 0013 keep their queue filters; no flag code stays in clear."""
    intake_id, _ = _answered_flagged_reviewed(app, mailbox, create_staff)
    markers = select(Intake.is_urgent, Intake.needs_review, Intake.has_info_flags, Intake.is_adolescent).where(
        Intake.id == intake_id
    )
    with app.app_context():
        before = db.session.execute(markers).one()
        db.session.rollback()
        db.engine.dispose()
        downgrade(revision="0012keyedauditchain")
        with db.engine.connect() as connection:
            codes = connection.execute(
                text("SELECT flag_codes FROM intakes WHERE id = :id"), {"id": intake_id}
            ).scalar()
        assert {"suicide_risk_phq9", "psychosis", "under_18", "level:clinician-review"} <= set(codes.split())
        upgrade()
        db.engine.dispose()
        assert db.session.execute(markers).one() == before == (True, True, False, True)
        db.session.rollback()
        columns = {column["name"] for column in db.inspect(db.engine).get_columns("intakes")}
    assert "flag_codes" not in columns
