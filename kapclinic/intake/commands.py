"""`flask intake reencrypt`: move every intake's encrypted data to the newest KAPCLINIC_DATA_KEY."""

import click
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.orm.attributes import flag_modified

from kapclinic.extensions import db
from kapclinic.intake.models import ENCRYPTED_FIELDS, Intake

intake_cli = AppGroup("intake", help="Intake questionnaires.")
BATCH = 200


@intake_cli.command("reencrypt")
def reencrypt_command():
    """Re-encrypt intake answers with the first key of KAPCLINIC_DATA_KEY (after adding a new key)."""
    done = 0
    last_id = 0
    while True:
        batch = db.session.scalars(
            select(Intake).where(Intake.id > last_id).order_by(Intake.id).limit(BATCH).with_for_update()
        ).all()
        if not batch:
            break
        for intake in batch:
            # Loading decrypted with whichever key fits; writing encrypts with the newest.
            for field in ENCRYPTED_FIELDS:
                flag_modified(intake, field)
            last_id = intake.id
        db.session.commit()
        done += len(batch)
    click.echo(f"re-encrypted {done} intake(s)")
