"""The front desk's forms, for the shared field macro: each field's label, id and size.

They only render. What a posted value must be is a rule of the front desk's services
(which return their messages per field); the forms carry those messages back to the
right field. CSRF is checked for every POST by the app (CSRFProtect), so these are
plain WTForms forms, filled only from what they are given.
"""

from werkzeug.datastructures import MultiDict
from wtforms import Form, RadioField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.fields import SearchField, URLField
from wtforms.widgets import DateInput

from kapclinic.core.forms import CheckboxesField
from kapclinic.frontdesk.models import NoteKind
from kapclinic.frontdesk.services import FLAG_FILTERS, NOTE_MAX, REASON_MAX, SEARCH_MAX, STATUS_FILTERS
from kapclinic.intake.models import ReviewStatus
from kapclinic.scheduling.forms import ContactDetailsForm

ANY = SelectChoice("", "Any")


def _text(label, field_id, maxlength, rows=2):
    return TextAreaField(label, id=field_id, render_kw={"rows": rows, "maxlength": maxlength})


class UrgentForm(Form):
    action_taken = _text("What was done", "action-taken", NOTE_MAX)


class StatusForm(Form):
    status = SelectField(
        "Status", id="review-status", choices=[SelectChoice(status.value, status.label) for status in ReviewStatus]
    )
    reason = _text('Reason (needed for "Not a fit now")', "review-reason", REASON_MAX)


class NoteForm(Form):
    kind = RadioField("Kind of entry", choices=[SelectChoice(kind.value, kind.label) for kind in NoteKind])
    body = _text("Note (staff only; the patient never sees it)", "note-body", NOTE_MAX, rows=3)


class VideoLinkForm(Form):
    video_link = URLField("Use another video link for this consultation", id="video-link", render_kw={"maxlength": 500})


class ReassignForm(Form):
    clinician_id = SelectField("Give this consultation (same time) to", id="clinician-id")


class CancelForm(Form):
    reason = _text("Reason for cancelling (kept for the clinic, not sent to the patient)", "cancel-reason", REASON_MAX)


class RescheduleForm(Form):
    start = SelectField("New time")


RECORD_FORMS = {
    "urgent": UrgentForm,
    "status": StatusForm,
    "note": NoteForm,
    "video_link": VideoLinkForm,
    "reassign": ReassignForm,
    "cancel": CancelForm,
}
# The services' message keys, and the form and field each belongs to.
RECORD_ERRORS = {
    "action_taken": ("urgent", "action_taken"),
    "status": ("status", "status"),
    "reason": ("status", "reason"),
    "kind": ("note", "kind"),
    "body": ("note", "body"),
    "video_link": ("video_link", "video_link"),
    "clinician": ("reassign", "clinician_id"),
    "cancel_reason": ("cancel", "reason"),
}


def record_forms(intake, clinicians, posted="", values=None, errors=None):
    """The record's forms: the one just posted shows what was typed and its messages; the rest start afresh."""
    defaults = {"status": {"status": intake.review_status.value}, "note": {"kind": NoteKind.NOTE.value}}
    forms = {
        name: form_class(formdata=MultiDict(values) if name == posted else None, data=defaults.get(name))
        for name, form_class in RECORD_FORMS.items()
    }
    forms["reassign"].clinician_id.choices = [
        SelectChoice(str(clinician.id), clinician.name) for clinician in clinicians
    ]
    if intake.booking.staff_video_link:
        forms["video_link"].video_link.label.text = "Replace the video link"
    for key, message in (errors or {}).items():
        if key in RECORD_ERRORS:
            form_name, field_name = RECORD_ERRORS[key]
            forms[form_name][field_name].errors = [message]
    return forms


def reschedule_form(clinician_name, slots, error=""):
    form = RescheduleForm()
    form.start.label.text = f"New time (free times of {clinician_name}, next three weeks)"
    form.start.choices = [SelectChoice(value, label) for value, label in slots]
    form.start.errors = [error] if error else []
    return form


class QueueFilterForm(Form):
    status = SelectField(
        "Status", choices=[ANY, *(SelectChoice(value, label) for value, label in STATUS_FILTERS.items())]
    )
    flag = SelectField("Flag", choices=[ANY, *(SelectChoice(value, label) for value, label in FLAG_FILTERS.items())])
    clinician = SelectField("Clinician")
    first_day = StringField("Consultations from", name="from", id="from", widget=DateInput())
    last_day = StringField("Until", name="to", id="to", widget=DateInput())
    q = SearchField("Name, email or phone", render_kw={"maxlength": SEARCH_MAX})


# The queue's message keys are its query parameters; the fields' names differ for the dates.
QUEUE_ERRORS = {"status": "status", "flag": "flag", "clinician": "clinician", "from": "first_day", "to": "last_day"}


def queue_filter_form(filters, clinicians, errors):
    """The filter form showing the filters in use, with a message beside each value that was refused."""
    form = QueueFilterForm(
        data={
            "status": filters.status,
            "flag": filters.flag,
            "clinician": str(filters.clinician_id or ""),
            "first_day": filters.first_day.isoformat() if filters.first_day else "",
            "last_day": filters.last_day.isoformat() if filters.last_day else "",
            "q": filters.search,
        }
    )
    form.clinician.choices = [ANY, *(SelectChoice(str(clinician.id), clinician.name) for clinician in clinicians)]
    for key, message in errors.items():
        form[QUEUE_ERRORS.get(key, key)].errors = [message]
    return form


class DayForm(Form):
    day = StringField("Day", widget=DateInput())


def day_form(day, error=""):
    form = DayForm(data={"day": day.isoformat()})
    form.day.errors = [error] if error else []
    return form


class PatientSearchForm(Form):
    q = SearchField("Full name, email or phone", id="patient-search", render_kw={"maxlength": SEARCH_MAX})


class PatientRecordForm(ContactDetailsForm):
    """A patient's details as staff type them: the browser must not offer the staff member's own."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for detail in (self.name, self.email, self.phone, self.date_of_birth):
            detail.render_kw = {**(detail.render_kw or {}), "autocomplete": "off"}


class SplitForm(PatientRecordForm):
    bookings = CheckboxesField("Sessions that belong to the other person", validate_choice=False)
