"""Admin changes to consultation types (staff users go through accounts.services)."""

from sqlalchemy import select

from kapclinic.accounts.models import StaffUser
from kapclinic.extensions import db
from kapclinic.scheduling.models import Clinician, ConsultationType, Modality

TYPE_FIELDS = (
    "name", "description", "duration_minutes", "buffer_before_minutes", "buffer_after_minutes",
    "min_notice_minutes", "horizon_days", "slot_step_minutes", "location", "video_link", "is_active",
)


class SlugTaken(ValueError):
    """Another consultation type already uses that short name."""


def staff_users():
    return db.session.scalars(select(StaffUser).order_by(StaffUser.is_active.desc(), StaffUser.name)).all()


def unlinked_clinicians():
    """Clinician profiles no staff user acts for yet."""
    linked = select(StaffUser.clinician_id).where(StaffUser.clinician_id.is_not(None))
    return db.session.scalars(select(Clinician).where(Clinician.id.not_in(linked)).order_by(Clinician.name)).all()


def all_consultation_types():
    return db.session.scalars(select(ConsultationType).order_by(ConsultationType.id)).all()


def save_consultation_type(consultation_type, data, clinician_ids):
    """Create (consultation_type None) or update a type from validated form data."""
    if consultation_type is None:
        if db.session.scalar(select(ConsultationType.id).where(ConsultationType.slug == data["slug"])):
            raise SlugTaken("Another consultation type already uses that short name.")
        consultation_type = ConsultationType(slug=data["slug"])
        db.session.add(consultation_type)
    for field in TYPE_FIELDS:
        setattr(consultation_type, field, data[field])
    consultation_type.modality = Modality(data["modality"])
    consultation_type.clinicians = db.session.scalars(
        select(Clinician).where(Clinician.id.in_(clinician_ids)).order_by(Clinician.id)
    ).all()
    db.session.flush()
    return consultation_type
