"""The staff navigation: the sections the signed-in role may open, with the one in use marked.

Sections name other domains' pages by endpoint only, so accounts imports none of them.
"""

from dataclasses import dataclass

from flask import request, url_for

from kapclinic.accounts.models import Role


@dataclass(frozen=True)
class Section:
    label: str
    url: str
    current: bool


def _sections(user):
    """(label, url, covers) for each section `user` may open; covers: its pages' endpoints or "blueprint." prefixes."""
    clinician = user.role is Role.CLINICIAN
    desk = user.can_change_bookings
    own_clinician = user.clinician_id if clinician else None
    rows = [
        (
            "My intakes" if clinician else "Intakes",
            url_for("frontdesk.queue"),
            (
                "frontdesk.queue",
                "frontdesk.queue_csv",
                "frontdesk.intake",
                "frontdesk.reschedule",
                "frontdesk.patient_trail",
            ),
        ),
    ]
    if desk:
        rows += [
            ("Patients", url_for("patients.find_patient"), ("patients.",)),
            ("Day sheet", url_for("frontdesk.day_sheet"), ("frontdesk.day_sheet",)),
            ("Book for a caller", url_for("callers.choose_type"), ("callers.",)),
        ]
    if user.has_workspace:
        rows += [
            (
                "My schedule" if clinician else "Schedules",
                url_for("workspace.my_schedule"),
                ("workspace.my_schedule", "workspace.schedule", "workspace.cancel_booking"),
            ),
            (
                "My hours" if clinician else "Hours",
                url_for("workspace.my_availability"),
                ("workspace.my_availability", "workspace.availability", "workspace.weekly_hours"),
            ),
        ]
    if own_clinician is not None:
        rows.append(
            ("Calendar feed", url_for("workspace.feed_settings", clinician_id=own_clinician), ("workspace.feed",))
        )
    if user.is_admin:
        rows += [
            # "admin.": every page about staff users, whatever its endpoint.
            ("Staff", url_for("admin.users"), ("admin.", "frontdesk.staff_trail")),
            (
                "Consultation types",
                url_for("admin.consultation_types"),
                ("admin.consultation_types", "admin.edit_type"),
            ),
            ("Course templates", url_for("course_templates.index"), ("course_templates.",)),
            ("Clinic settings", url_for("admin.settings"), ("admin.settings",)),
            ("Email outbox", url_for("admin.outbox"), ("admin.outbox", "admin.retry")),
            ("Bursts", url_for("admin.bursts"), ("admin.bursts", "admin.cancel_burst")),
        ]
    return rows


def staff_sections(user):
    """The sections for `user`; the one whose pages most closely hold the current page is marked.

    Closest means the longest matching endpoint or prefix, so "admin." catches the staff pages
    without taking the clinic settings from their own section.
    """
    endpoint = request.endpoint or ""
    rows = _sections(user)
    matches = [
        (max((len(prefix) for prefix in covers if endpoint.startswith(prefix)), default=0), index)
        for index, (_, _, covers) in enumerate(rows)
    ]
    best_length, best_index = max(matches)
    return [
        Section(label, url, current=best_length > 0 and index == best_index)
        for index, (label, url, covers) in enumerate(rows)
    ]
