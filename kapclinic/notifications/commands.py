"""`flask outbox send`: retry emails that could not be delivered right away."""

import click
from flask.cli import AppGroup

from kapclinic.notifications.services import deliver_due

outbox_cli = AppGroup("outbox", help="The email outbox.")


@outbox_cli.command("send")
@click.option("--limit", default=100, show_default=True, help="Most messages to send in this run.")
def send_command(limit):
    """Send pending emails that are due."""
    sent = deliver_due(limit=limit)
    click.echo(f"sent {sent} message(s)")
