"""The clinic's own details, as the admin set them (or the configuration's defaults)."""

from dataclasses import dataclass, replace

from flask import current_app, g, has_request_context, request
from sqlalchemy.exc import SQLAlchemyError

from kapclinic.core.db import WRITING_METHODS, rollback_quietly
from kapclinic.core.models import ClinicSettings
from kapclinic.core.money import format_money
from kapclinic.core.timezones import get_zone, zone_in_words
from kapclinic.extensions import db

EDITABLE = (
    "name",
    "address",
    "phone",
    "crisis_line",
    "emergency_number",
    "timezone",
    "cancellation_window_hours",
    "accent_colour",
)


@dataclass(frozen=True)
class ClinicProfile:
    name: str
    address: str
    phone: str
    email: str
    crisis_line: str
    emergency_number: str
    timezone: str
    cancellation_window_hours: int
    # What other programs show before anything is opened (invite titles, email subjects, the
    # sender, feed names): lock screens and shared calendars. CLINIC_DISPLAY_NAME, or the name.
    display_name: str
    # The brand: an accent colour ("" for the stylesheet's own) and whether a logo was uploaded;
    # brand_version changes with every save, so browsers fetch the new ones.
    accent_colour: str = ""
    has_logo: bool = False
    brand_version: int = 0

    @property
    def zone(self):
        """The clinic's time zone, for its own calendar: the day sheet, the queue, deadlines."""
        return get_zone(self.timezone)


def clinic_from_config(config):
    """The profile from the configuration alone: for pages shown while the database is away."""
    return ClinicProfile(
        name=config["CLINIC_NAME"],
        address=config["CLINIC_ADDRESS"],
        phone=config["CLINIC_PHONE"],
        email=config["CLINIC_EMAIL"],
        crisis_line=config["CRISIS_LINE"],
        emergency_number=config["EMERGENCY_NUMBER"],
        timezone=config["CLINIC_TIMEZONE"],
        cancellation_window_hours=config["CANCELLATION_WINDOW_HOURS"],
        display_name=config["CLINIC_DISPLAY_NAME"] or config["CLINIC_NAME"],
    )


def clinic():
    """Return the clinic's profile, read once per app context."""
    if "clinic_profile" in g:
        return g.clinic_profile
    profile = clinic_from_config(current_app.config)
    # Read without flushing: a request that just queued its writes sends them once, at its commit.
    with db.session.no_autoflush:
        saved = db.session.get(ClinicSettings, 1)
    if saved is not None:
        profile = replace(profile, **{field: getattr(saved, field) for field in EDITABLE})
        profile = replace(
            profile,
            display_name=current_app.config["CLINIC_DISPLAY_NAME"] or profile.name,
            accent_colour=saved.accent_colour,
            has_logo=saved.logo_type is not None,
            brand_version=int(saved.updated_dt.timestamp()),
        )
    g.clinic_profile = profile
    return profile


def save(values, now, logo=None, remove_logo=False):
    """Store the admin's settings (already validated) and forget the cached profile.

    `logo` is (image bytes, media type) for a new logo; without one the logo stays unless removed.
    """
    saved = db.session.get(ClinicSettings, 1) or ClinicSettings(id=1)
    for field in EDITABLE:
        setattr(saved, field, values[field])
    if logo is not None:
        saved.logo, saved.logo_type = logo
    elif remove_logo:
        saved.logo, saved.logo_type = None, None
    saved.updated_dt = now
    db.session.add(saved)
    db.session.flush()
    g.pop("clinic_profile", None)


_ERROR_PAGE = "kapclinic_drawing_error_page"


def drawing_error_page():
    """Mark the page being drawn as an error page: it may show the configuration's details if the database is away."""
    g.setdefault(_ERROR_PAGE, True)


def register_template_context(app):
    app.add_template_global(zone_in_words)

    @app.context_processor
    def clinic_details():
        try:
            profile = clinic()
        except SQLAlchemyError:
            if has_request_context() and request.method in WRITING_METHODS and not g.get(_ERROR_PAGE):
                # A page after a change: rolling back here would drop the change under a page
                # that says it was made. The database fault's own handler answers instead.
                raise
            # An error page drawn while the database is away: the configuration's details, so
            # the clinic's phone number still shows.
            rollback_quietly()
            profile = clinic_from_config(current_app.config)
        return {
            "clinic_name": profile.name,
            "clinic_address": profile.address,
            "clinic_phone": profile.phone,
            "clinic_email": profile.email,
            "crisis_line": profile.crisis_line,
            "emergency_number": profile.emergency_number,
            "clinic_brand": profile,
            "clinic_currency": current_app.config["CLINIC_CURRENCY"],
            "format_money": format_money,
        }
