"""`flask intake reencrypt`: move every intake's encrypted data (and the staff notes on it) to the newest KAPCLINIC_DATA_KEY."""

import click
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.orm.attributes import flag_modified

from kapclinic.extensions import db
from kapclinic.frontdesk.models import IntakeNote
from kapclinic.intake.models import ENCRYPTED_FIELDS, Intake

intake_cli = AppGroup("intake", help="Intake questionnaires.")
BATCH = 200


def _reencrypt(model, fields):
    done = 0
    last_id = 0
    while True:
        batch = db.session.scalars(
            select(model).where(model.id > last_id).order_by(model.id).limit(BATCH).with_for_update()
        ).all()
        if not batch:
            return done
        for row in batch:
            # Loading decrypted with whichever key fits; writing encrypts with the newest.
            for field in fields:
                flag_modified(row, field)
            last_id = row.id
        db.session.commit()
        done += len(batch)


@intake_cli.command("reencrypt")
def reencrypt_command():
    """Re-encrypt intake answers and staff notes with the first key of KAPCLINIC_DATA_KEY (after adding a new key)."""
    intakes = _reencrypt(Intake, ENCRYPTED_FIELDS)
    notes = _reencrypt(IntakeNote, ("body",))
    click.echo(f"re-encrypted {intakes} intake(s) and {notes} staff note(s)")
