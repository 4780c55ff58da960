"""`flask users ...`: create staff users (a clinician with their profile), set passwords, deactivate.

Passwords come from a prompt or stdin, never an argument; or the user chooses theirs from an emailed link.
"""

import click
from flask.cli import AppGroup
from sqlalchemy import select

from kapclinic.accounts import services
from kapclinic.accounts.models import Role
from kapclinic.core.errors import DomainError
from kapclinic.core.timezones import now_utc
from kapclinic.core.validation import IMAGE_MAX_BYTES, InvalidField, clean_image
from kapclinic.extensions import db
from kapclinic.scheduling.models import Clinician
from kapclinic.scheduling.profiles import ClinicianProfile
from kapclinic.scheduling.services import active_consultation_types

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
@click.option("--clinician-email", help="For --role clinician: an existing clinician profile this user acts for.")
@click.option("--timezone", help="For --role clinician: a new profile's IANA time zone, such as America/New_York.")
@click.option("--credentials", default="", help="For a new clinician profile: letters after the name (MD, LCSW).")
@click.option("--bio", default="", help="For a new clinician profile: plain text patients read.")
@click.option("--types", default="", help="For a new clinician profile: the consultation types offered, as slug,slug.")
@click.option("--photo", type=click.File("rb"), help="For a new clinician profile: a PNG, JPEG or WebP under 100 KB.")
@click.option("--invite", is_flag=True, help="Email a single-use link to choose a password instead of asking for one.")
def create_command(email, name, role, clinician_email, timezone, credentials, bio, types, photo, invite):
    """Create a staff user, and for a clinician a new profile (--timezone ...) or a link to one (--clinician-email).

    The password is asked for (or read from stdin), unless --invite emails them a link to choose it.
    """
    clinician = _clinician_by_email(clinician_email) if clinician_email else None
    profile = None
    if role == Role.CLINICIAN.value and clinician is None:
        if not timezone:
            raise click.UsageError("a clinician needs --timezone (for a new profile) or --clinician-email")
        profile = ClinicianProfile(
            timezone=timezone,
            credentials=credentials,
            bio=bio,
            consultation_type_ids=_type_ids(types),
            photo=_image(photo) if photo else None,
        )
    now = now_utc()
    try:
        if invite:
            user = services.invite_user(email, name, role, now, clinician=clinician, profile=profile)
        else:
            user = services.create_user(email, name, role, _read_password(), now, clinician=clinician, profile=profile)
    except DomainError as error:
        raise click.ClickException(f"{error.field}: {error}" if error.field else str(error)) from None
    db.session.commit()
    click.echo(f"created {user.role.value} {user.email}" + (", emailed a link to choose a password" if invite else ""))


def _clinician_by_email(email):
    clinician = db.session.scalar(select(Clinician).where(Clinician.email == email))
    if clinician is None:
        raise click.ClickException(f"no clinician with email {email}")
    return clinician


def _type_ids(slugs):
    """The ids of the consultation types named by slug; an unknown or inactive one is an error."""
    wanted = [slug.strip() for slug in slugs.split(",") if slug.strip()]
    found = {item.slug: item.id for item in active_consultation_types() if item.slug in wanted}
    unknown = [slug for slug in wanted if slug not in found]
    if unknown:
        raise click.ClickException(f"no active consultation type {', '.join(unknown)}")
    return tuple(found[slug] for slug in wanted)


def _image(file):
    try:
        return clean_image(file.read(IMAGE_MAX_BYTES + 1))
    except InvalidField as error:
        raise click.ClickException(f"photo: {error}") from None


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
