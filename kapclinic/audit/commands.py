"""`flask audit verify`: check that nobody has changed or removed a row of the audit trail."""

import click
from flask.cli import AppGroup

from kapclinic.audit import services

audit_cli = AppGroup("audit", help="The audit trail of who saw and changed patient records.")


@audit_cli.command("verify")
def verify_command():
    """Recompute the hash chain; exit 1 at the first row that does not match."""
    count, head, broken = services.verify()
    if broken is not None:
        click.echo(f"Audit trail BROKEN at row {broken.row_id}: {broken.reason}. {count} rows read.", err=True)
        raise SystemExit(1)
    click.echo(f"Audit trail intact: {count} rows. Head hash {head} (keep it elsewhere to detect removal of the newest rows).")
