"""Course templates for admins: the list, each template's history, and saving a template, audited.

A save never changes a version: it adds the next one, so a course opened from a version
keeps it (courses.models). A save that leaves the course's shape and session types as
they are adds none; the name and whether staff may open new courses are the template's
own, not a version's.
"""

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from kapclinic.accounts.models import StaffUser
from kapclinic.audit import services as audit
from kapclinic.audit.models import AuditAction
from kapclinic.core.errors import DomainError
from kapclinic.courses.models import KINDS, CourseTemplate, CourseTemplateVersion
from kapclinic.courses.plan import DOSING, INTEGRATION, PREPARATION, CourseShape, expand
from kapclinic.extensions import db
from kapclinic.scheduling.models import ConsultationType

# What makes one version differ from another, in the order the form asks.
SHAPE_FIELDS = (
    "preparation_count",
    "cycles",
    "integration_min_days",
    "integration_max_days",
    "min_days_between_dosing",
    "min_days_after_preparation",
)
TYPE_FIELDS = {PREPARATION: "preparation_type_id", DOSING: "dosing_type_id", INTEGRATION: "integration_type_id"}


@dataclass(frozen=True)
class TemplateValues:
    """What the form says, already checked for type and range: the template's name and a version's contents."""

    name: str
    is_active: bool
    shape: CourseShape
    type_ids: dict  # kind -> chosen consultation type id, or None


@dataclass(frozen=True)
class Saved:
    template: CourseTemplate
    new_version: bool
    changes: list = field(default_factory=list)  # in words, for the audit row and the flash


class SlugTaken(DomainError):
    """Another course template already uses that short name."""

    default_field = "slug"


class TemplateOutdated(DomainError):
    """Someone saved the template after this page was drawn: saving now would undo their version unseen."""


class TemplateRefused(DomainError):
    """The shape or the session types do not make a course; `errors` names each field at fault."""

    def __init__(self, errors):
        field_name, message = next(iter(errors.items()))
        super().__init__(message, field_name)
        self.errors = errors


# --- reading ------------------------------------------------------------------------------


def all_templates():
    """Every template with its versions, active ones first, by name."""
    return db.session.scalars(
        select(CourseTemplate)
        .options(selectinload(CourseTemplate.versions))
        .order_by(CourseTemplate.is_active.desc(), CourseTemplate.name, CourseTemplate.id)
    ).all()


def template_by_id(template_id, for_update=False):
    """The template, or None; `for_update` locks its row so two saves number their versions one after the other."""
    query = select(CourseTemplate).where(CourseTemplate.id == template_id)
    return db.session.scalars(query.with_for_update() if for_update else query).first()


def session_type_choices(template=None):
    """Types a template may use: the active ones, course-only first, and those its current version already uses."""
    kept = [type_id for type_id in _version_type_ids(template.current if template else None).values() if type_id]
    offered = ConsultationType.is_active | ConsultationType.id.in_(kept) if kept else ConsultationType.is_active
    return db.session.scalars(
        select(ConsultationType)
        .where(offered)
        .order_by(ConsultationType.course_only.desc(), ConsultationType.name, ConsultationType.id)
    ).all()


@dataclass(frozen=True)
class VersionRow:
    number: int
    created_dt: object
    created_by: str


def version_history(template):
    """Each version, newest first, with who saved it ("" when nobody did, as for demo data)."""
    rows = db.session.execute(
        select(CourseTemplateVersion.number, CourseTemplateVersion.created_dt, StaffUser.name)
        .outerjoin(StaffUser, StaffUser.id == CourseTemplateVersion.created_by_id)
        .where(CourseTemplateVersion.template_id == template.id)
        .order_by(CourseTemplateVersion.number.desc())
    ).all()
    return [VersionRow(number, created_dt, name or "") for number, created_dt, name in rows]


def form_values(template):
    """The form's starting values: the template's, and its current version's."""
    version = template.current
    values = {"name": template.name, "slug": template.slug, "is_active": template.is_active}
    if version is not None:
        values |= {name: getattr(version, name) for name in SHAPE_FIELDS}
        values |= {TYPE_FIELDS[kind]: type_id for kind, type_id in _version_type_ids(version).items()}
        values["based_on"] = str(version.number)
    return values


# --- in words -----------------------------------------------------------------------------


def _days(count):
    return f"{count} day{'' if count == 1 else 's'}"


def _sessions(count, kind):
    return f"{count} {kind} session{'' if count == 1 else 's'}"


def _integration_window(shape):
    low, high = shape.integration_min_days, shape.integration_max_days
    if high == 0:
        return "the same day"
    if low == high:
        return f"{_days(high)} later"
    if low == 0:
        return f"the same day to {_days(high)} later"
    return f"{low}–{high} days later"


def describe(shape):
    """A shape in plain words: "2 preparation sessions, then 3 × [dosing, then integration 1–3 days later]; ..."."""
    parts = []
    if shape.preparation_count:
        parts.append(_sessions(shape.preparation_count, "preparation"))
    if shape.cycles:
        cycle = f"dosing, then integration {_integration_window(shape)}"
        parts.append(cycle if shape.cycles == 1 else f"{shape.cycles} × [{cycle}]")
    rules = []
    if shape.cycles > 1:
        rules.append(f"at least {_days(shape.min_days_between_dosing)} between dosing sessions")
    if shape.preparation_count and (shape.preparation_count > 1 or shape.cycles):
        after = shape.min_days_after_preparation
        rules.append(
            f"at least {_days(after)} after each preparation session"
            if after
            else "the session after a preparation session may be on the same day"
        )
    text = "; ".join([", then ".join(parts), *rules])
    return text[:1].upper() + text[1:]


# --- saving -------------------------------------------------------------------------------


def _version_type_ids(version):
    if version is None:
        return dict.fromkeys(KINDS)
    return {kind: getattr(version, name) for kind, name in TYPE_FIELDS.items()}


def _kinds_used(shape):
    return {PREPARATION: shape.preparation_count > 0, DOSING: shape.cycles > 0, INTEGRATION: shape.cycles > 0}


def _shape_field(shape):
    """The form field a planner refusal is about."""
    if shape.preparation_count + shape.cycles == 0:
        return "preparation_count"
    if shape.integration_min_days > shape.integration_max_days:
        return "integration_min_days"
    return None


def _checked_type_ids(values, allowed_ids):
    """Each kind's type id (None for a kind the counts do not use), or TemplateRefused naming every field at fault.

    The shape is checked by the planner's own expand(), so the form refuses exactly what
    a course could not be planned from.
    """
    errors, type_ids, rules = {}, {}, {}
    for kind, used in _kinds_used(values.shape).items():
        type_id = values.type_ids.get(kind) if used else None
        type_ids[kind] = type_id
        if not used:
            continue
        consultation_type = db.session.get(ConsultationType, type_id) if type_id else None
        if type_id is None:
            errors[TYPE_FIELDS[kind]] = f"Choose the {kind} session type: this course has {kind} sessions."
        elif consultation_type is None or type_id not in allowed_ids:
            errors[TYPE_FIELDS[kind]] = "Choose one of the session types listed."
        else:
            rules[kind] = consultation_type.slot_rules
    try:
        # A kind whose type is missing is reported above; a stand-in lets expand() still judge the shape.
        expand(values.shape, {**dict.fromkeys(KINDS), **rules})
    except ValueError as refusal:
        errors.setdefault(_shape_field(values.shape) or "", str(refusal))
    if errors:
        raise TemplateRefused(dict(sorted(errors.items(), key=lambda item: _FIELD_ORDER.get(item[0], -1))))
    return type_ids


_FIELD_ORDER = {
    name: index
    for index, name in enumerate(
        (
            "preparation_count",
            "preparation_type_id",
            "min_days_after_preparation",
            "cycles",
            "dosing_type_id",
            "integration_type_id",
            "integration_min_days",
            "integration_max_days",
            "min_days_between_dosing",
        )
    )
}


def _version_values(shape, type_ids):
    return {
        **{name: getattr(shape, name) for name in SHAPE_FIELDS},
        **{TYPE_FIELDS[kind]: type_id for kind, type_id in type_ids.items()},
    }


def save_template(actor, template, values, now, slug=None, based_on=None):
    """Add a template (template None, named by `slug`) or save one; return Saved. Any change is audited.

    A change to the shape or the session types adds the next version; the versions
    before it stay as they were. `based_on` is the version number the admin's page
    showed: if another save came after it, TemplateOutdated, and nothing is written.
    Load `template` with template_by_id(..., for_update=True).
    """
    if template is None:
        if db.session.scalar(select(CourseTemplate.id).where(CourseTemplate.slug == slug)):
            raise SlugTaken("Another course template already uses that short name.")
        current = None
    else:
        current = template.current
        if current is not None and based_on != current.number:
            raise TemplateOutdated(
                f"Someone saved this template (version {current.number}) after you opened it, so nothing was saved. "
                "Their version is below; check the form and save again to replace it."
            )
    allowed = {item.id for item in session_type_choices(template)}
    new_values = _version_values(values.shape, _checked_type_ids(values, allowed))
    changes = []
    if template is None:
        template = CourseTemplate(slug=slug, name=values.name, is_active=values.is_active, created_dt=now)
        db.session.add(template)
        changes.append("added")
    else:
        if template.name != values.name:
            changes.append("name changed")
        if template.is_active != values.is_active:
            changes.append("opened to new courses" if values.is_active else "closed to new courses")
        template.name, template.is_active = values.name, values.is_active
    old_values = _version_values(current.shape, _version_type_ids(current)) if current else None
    new_version = new_values != old_values
    if new_version:
        template.versions.append(
            CourseTemplateVersion(
                number=current.number + 1 if current else 1, created_dt=now, created_by_id=actor.id, **new_values
            )
        )
        if current is not None:
            changes.append("new version")
    db.session.flush()
    if changes:
        detail = f"template {template.slug} version {template.current.number}: {', '.join(changes)}"
        audit.record(actor, AuditAction.COURSE_TEMPLATE_SAVED, now, detail=detail)
    return Saved(template, new_version, changes)
