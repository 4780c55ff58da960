"""`flask audit verify`: check that nobody has changed or removed a row of the audit trail."""

import re

import click
from flask.cli import AppGroup

from kapclinic.audit import services

audit_cli = AppGroup("audit", help="The audit trail of who saw and changed patient records.")


def _hash_argument(context, parameter, value):
    if value is not None and not re.fullmatch(r"[0-9a-f]{64}", value.strip().lower()):
        raise click.BadParameter("a head hash is 64 hexadecimal characters, as `audit verify` prints it")
    return value.strip().lower() if value else None


@audit_cli.command("verify")
@click.option(
    "--expect-head",
    metavar="HASH",
    callback=_hash_argument,
    help="A head hash recorded earlier (with a backup, in a ticket): fail unless it is still in the chain.",
)
def verify_command(expect_head):
    """Recompute the keyed hash chain; exit 1 at the first row that does not match, or if a recorded head is gone.

    Rows are only ever added, so a head recorded earlier stays in the chain (it is the
    newest row's hash until the next row is written). If it is not there, the rows from
    it to the end were removed, which the chain alone cannot show.
    """
    result = services.verify(expect_head)
    if result.broken is not None:
        click.echo(
            f"Audit trail BROKEN at row {result.broken.row_id}: {result.broken.reason}. {result.rows} rows read.",
            err=True,
        )
        raise SystemExit(1)
    if expect_head and result.expected_head_row is None:
        click.echo(
            f"Audit trail CUT SHORT: no row has the recorded head hash {expect_head}; the newest rows were removed "
            f"({result.rows} rows now, the newest with hash {result.head}).",
            err=True,
        )
        raise SystemExit(1)
    click.echo(
        f"Audit trail intact: {result.rows} rows. Head hash {result.head} "
        "(keep it elsewhere to detect removal of the newest rows)."
    )
    if expect_head:
        click.echo(
            f"The recorded head is row {result.expected_head_row}; "
            f"{result.rows - result.expected_head_row} rows added since."
        )
