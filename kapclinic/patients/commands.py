"""`flask patients reindex`: rebuild the blind indexes under the current INDEX_KEY (after changing it)."""

import click
from flask.cli import AppGroup
from sqlalchemy import select

from kapclinic.extensions import db
from kapclinic.patients.models import Patient

patients_cli = AppGroup("patients", help="Patient records.")


@patients_cli.command("reindex")
def reindex_command():
    """Recompute every patient's search digests from their (decrypted) details with INDEX_KEY."""
    count = 0
    for patient in db.session.scalars(select(Patient).execution_options(yield_per=500)):
        patient.set_contact(patient.name, patient.email, patient.phone, patient.date_of_birth)
        count += 1
    db.session.commit()
    click.echo(f"reindexed {count} patient record(s)")
