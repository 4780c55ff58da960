"""Commands that work across every domain's tables. `flask intake reencrypt`: move every encrypted value in the
database to the newest KAPCLINIC_DATA_KEY.

The command keeps the name it has always had (operators' runbooks and old error messages name
it), though it sits here, above the domains, because it reads every model's metadata.

Every column of an encrypted type counts (intake answers, staff notes, queued email
bodies, cancellation reasons...), found from the models' metadata rather than listed
here, so a column encrypted later is rotated too. Once this has run cleanly the old
key can be dropped; an email body it missed would otherwise stop the outbox.
"""

import click
from flask.cli import AppGroup
from sqlalchemy import Text, select, type_coerce, update

from kapclinic.core.crypto import UnreadableData, encrypted_columns, rotate
from kapclinic.extensions import db

intake_cli = AppGroup("intake", help="Intake questionnaires.")
BATCH = 200


def _reencrypt_table(table, columns):
    """Re-encrypt one table's encrypted columns, row by row; return (rows done, ids of rows no key opens).

    The tokens are read and written as stored text (no decrypting to Python values):
    Fernet's rotate re-encrypts each under the newest key. A row holding a value no
    configured key opens is left as it is and reported; the others go on.
    """
    (key,) = table.primary_key.columns
    stored = [type_coerce(column, Text).label(column.name) for column in columns]
    done, unreadable, last = 0, [], None
    while True:
        query = select(key, *stored).order_by(key).limit(BATCH).with_for_update()
        if last is not None:
            query = query.where(key > last)
        rows = db.session.execute(query).all()
        if not rows:
            return done, unreadable
        for row in rows:
            last = row[0]
            try:
                values = {
                    name: rotate(token)
                    for name, token in row._mapping.items()
                    if name != key.name and token is not None
                }
            except UnreadableData:
                unreadable.append(last)
                continue
            if values:
                # Typed as plain text, the new tokens are written as they are, not encrypted again.
                tokens = {table.c[name]: type_coerce(token, Text) for name, token in values.items()}
                db.session.execute(update(table).where(key == last).values(tokens))
                done += 1
        db.session.commit()


@intake_cli.command("reencrypt")
def reencrypt_command():
    """Re-encrypt every encrypted value with the first key of KAPCLINIC_DATA_KEY (after adding a new key in front)."""
    unreadable_total = 0
    for table, columns in encrypted_columns(db.metadata):
        done, unreadable = _reencrypt_table(table, columns)
        click.echo(f"{table.name}: re-encrypted {done} row(s)")
        if unreadable:
            unreadable_total += len(unreadable)
            click.echo(
                f"{table.name}: {len(unreadable)} row(s) cannot be read with the current data keys "
                f"(ids {', '.join(str(row_id) for row_id in unreadable)})",
                err=True,
            )
    if unreadable_total:
        click.echo(
            f"{unreadable_total} row(s) left as they were: they need a key that is not in KAPCLINIC_DATA_KEY",
            err=True,
        )
        raise SystemExit(1)
