"""Clinician profiles as admins set them: what patients see of a clinician, and the consultation types they offer.

The staff account acting for a profile is accounts' (accounts.services creates both together).
"""

from dataclasses import dataclass

from sqlalchemy import select

from kapclinic.core import validation
from kapclinic.core.errors import DomainError
from kapclinic.extensions import db
from kapclinic.scheduling.models import Clinician, ConsultationType


class ProfileRefused(DomainError):
    """The profile cannot be saved as asked; `field` names the input at fault."""


@dataclass(frozen=True)
class ClinicianProfile:
    """What an admin sets of a clinician besides their name and email (which are their staff account's).

    `photo` is (image bytes, media type) for a new photo; without one the photo stays unless `remove_photo`.
    """

    timezone: str
    credentials: str = ""
    bio: str = ""
    consultation_type_ids: tuple = ()
    photo: tuple | None = None
    remove_photo: bool = False


def _cleaned(field, clean, value):
    try:
        return clean(value)
    except validation.InvalidField as error:
        raise ProfileRefused(str(error), field) from None


def _offered_types(ids):
    """The active consultation types with these ids; any other id is refused (the form lists only these)."""
    wanted = set(ids)
    found = db.session.scalars(
        select(ConsultationType).where(ConsultationType.id.in_(wanted), ConsultationType.is_active)
    ).all()
    if len(found) != len(wanted):
        raise ProfileRefused("Choose from the consultation types listed.", "consultation_types")
    return found


def save_profile(clinician, name, email, profile):
    """Create (clinician None) or update a clinician's profile from an admin's values; return it.

    Types no longer active stay offered: the admin was not shown them, so did not untick them.
    """
    email = _cleaned("email", validation.clean_email, email).lower()
    taken = select(Clinician.id).where(Clinician.email == email)
    if clinician is not None:
        taken = taken.where(Clinician.id != clinician.id)
    if db.session.scalar(taken) is not None:
        raise ProfileRefused("Another clinician profile already uses that email.", "email")
    values = {
        "name": _cleaned("name", validation.clean_name, name),
        "email": email,
        "credentials": _cleaned("credentials", validation.clean_credentials, profile.credentials),
        "bio": _cleaned("bio", validation.clean_bio, profile.bio),
        "timezone": _cleaned("timezone", validation.clean_place_zone, profile.timezone),
    }
    offered = _offered_types(profile.consultation_type_ids)
    if clinician is None:
        clinician = Clinician(**values)
        db.session.add(clinician)
    else:
        for field, value in values.items():
            setattr(clinician, field, value)
    inactive_kept = [item for item in clinician.consultation_types if not item.is_active]
    clinician.consultation_types = sorted({*inactive_kept, *offered}, key=lambda item: item.id)
    if profile.photo is not None:
        clinician.photo, clinician.photo_type = profile.photo
        clinician.photo_version = (clinician.photo_version or 0) + 1
    elif profile.remove_photo and clinician.has_photo:
        clinician.photo, clinician.photo_type = None, None
    db.session.flush()
    return clinician


def facts(clinician):
    """What an admin sets of a profile, as comparable values (the photo by its version)."""
    return {
        "credentials": clinician.credentials,
        "bio": clinician.bio,
        "timezone": clinician.timezone,
        "photo": (clinician.photo_type, clinician.photo_version),
        "consultation_types": tuple(item.id for item in clinician.consultation_types),
    }
