"""`flask users ...`: create staff users, set passwords, deactivate. Passwords come from a prompt or stdin."""

import click
from flask.cli import AppGroup
from sqlalchemy import select

from kapclinic.accounts import services
from kapclinic.accounts.models import Role
from kapclinic.core.timezones import now_utc
from kapclinic.core.validation import InvalidField
from kapclinic.extensions import db
from kapclinic.scheduling.models import Clinician

users_cli = AppGroup("users", help="Staff users.")


def _read_password():
    # click reads a terminal without echo, or a line of stdin when piped; never an argument.
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _user_or_fail(email):
    user = services.user_by_email(email)
    if user is None:
        raise click.ClickException(f"no staff user with email {email}")
    return user


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice([role.value for role in Role]))
@click.option("--clinician-email", help="For --role clinician: the clinician profile this user acts for.")
def create_command(email, name, role, clinician_email):
    """Create a staff user; the password is asked for (or read from stdin)."""
    clinician = None
    if clinician_email:
        clinician = db.session.scalar(select(Clinician).where(Clinician.email == clinician_email))
        if clinician is None:
            raise click.ClickException(f"no clinician with email {clinician_email}")
    password = _read_password()
    try:
        user = services.create_user(email, name, role, password, now_utc(), clinician=clinician)
    except (services.AccountError, InvalidField) as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(f"created {user.role.value} {user.email}")


@users_cli.command("set-password")
@click.option("--email", required=True)
def set_password_command(email):
    """Set a user's password (ends all their sessions)."""
    user = _user_or_fail(email)
    try:
        services.set_password(user, _read_password(), now_utc())
    except services.AccountError as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(f"password set for {user.email}; their sessions have ended")


@users_cli.command("deactivate")
@click.option("--email", required=True)
def deactivate_command(email):
    """Deactivate a user: they cannot sign in and their sessions end at once."""
    user = _user_or_fail(email)
    try:
        services.deactivate(user, now_utc())
    except services.AccountError as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    click.echo(f"deactivated {user.email}")
