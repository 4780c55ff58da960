"""Admin forms. Field rules that patients' forms share come from core.validation."""

import re

from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    URL,
    DataRequired,
    InputRequired,
    Length,
    Optional,
    Regexp,
    StopValidation,
    ValidationError,
)
from wtforms.widgets import ColorInput, EmailInput

from kapclinic.accounts.models import Role
from kapclinic.core import validation
from kapclinic.core.forms import BrowserForm, CheckboxesField, cleaned_by
from kapclinic.scheduling.models import Modality

STEPS = (5, 10, 15, 20, 30, 60)


class MoneyField(StringField):
    """An optional amount typed as 150 or 150.00; after validation its data is whole cents (or None)."""

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else f"{self.data / 100:.2f}"


def _clinicians_only(form, field):
    """A profile field means nothing for another role: it is neither checked nor used."""
    if form.role.data != Role.CLINICIAN.value:
        field.errors[:] = []
        raise StopValidation()


def _image_upload(form, field):
    """A new image, read once and checked (PNG, JPEG or WebP, small): field.data becomes (bytes, type) or None."""
    upload = field.data
    if not upload or not getattr(upload, "filename", ""):
        field.data = None
        return
    try:
        field.data = validation.clean_image(upload.read(validation.IMAGE_MAX_BYTES + 1))
    except validation.InvalidField as error:
        raise ValidationError(str(error)) from None


class StaffUserForm(BrowserForm):
    """A staff user, and for a clinician the profile patients see: added together, edited together."""

    name = StringField("Full name", validators=[cleaned_by(validation.clean_name)])
    email = StringField("Email", widget=EmailInput(), validators=[cleaned_by(validation.clean_email)])
    role = SelectField("Role", choices=[SelectChoice(role.value, role.label) for role in Role])
    credentials = StringField("Credentials", validators=[_clinicians_only, cleaned_by(validation.clean_credentials)])
    bio = TextAreaField("Bio", validators=[_clinicians_only, cleaned_by(validation.clean_bio)])
    # Offered as a list of zones (core.timezones.zone_choices), checked as a place's zone.
    timezone = SelectField(
        "Time zone of their working hours",
        validate_choice=False,
        validators=[_clinicians_only, cleaned_by(validation.clean_place_zone)],
    )
    consultation_types = CheckboxesField("Consultation types they offer", coerce=int, validators=[_clinicians_only])
    photo = FileField("Photo", validators=[_clinicians_only, _image_upload])
    remove_photo = BooleanField("Remove the photo")
    file_fields = ("photo",)


def _single_line(field):
    """Text that ends up in invites and emails: no line breaks or control characters."""
    field.data = (field.data or "").strip()
    if validation.has_unsafe_characters(field.data):
        raise ValidationError("Remove line breaks and control characters.")


def _between(low, high, message=None):
    """NumberRange for whole numbers of any length: NumberRange makes them floats, and a 500-digit one overflows.

    Input that is not a whole number has already been told so (the field's own message): one message is enough.
    """

    def validator(form, field):
        if field.process_errors:
            raise StopValidation()
        if field.data is None or not low <= field.data <= high:
            raise ValidationError(message or f"Enter {low} to {high}.")

    return validator


def _minutes(label, low, high):
    return IntegerField(label, validators=[InputRequired("Enter a whole number."), _between(low, high)])


class ConsultationTypeForm(BrowserForm):
    slug = StringField(
        "Short name in links",
        validators=[
            DataRequired("Enter a short name."),
            Length(max=64),
            Regexp(r"^[a-z0-9][a-z0-9-]*\Z", message="Use lower-case letters, digits and hyphens."),
        ],
    )
    name = StringField("Name patients see", validators=[DataRequired("Enter a name."), Length(max=120)])
    description = TextAreaField(
        "Description", validators=[cleaned_by(lambda value: validation.clean_note(value, 2000))]
    )
    fee_cents = MoneyField("Fee shown to patients (optional)", validators=[cleaned_by(validation.clean_fee)])
    duration_minutes = _minutes("Length (minutes)", 5, 480)
    buffer_before_minutes = _minutes("Free time before (minutes)", 0, 240)
    buffer_after_minutes = _minutes("Free time after (minutes)", 0, 240)
    min_notice_minutes = _minutes("Minimum notice (minutes)", 0, 60 * 24 * 30)
    horizon_days = _minutes("Bookable up to (days ahead)", 1, 365)
    slot_step_minutes = SelectField(
        "Start times every", coerce=int, choices=[SelectChoice(step, f"{step} minutes") for step in STEPS]
    )
    modality = SelectField(
        "How it happens", choices=[SelectChoice(modality.value, modality.label) for modality in Modality]
    )
    location = StringField("Address (in person)", validators=[Length(max=255)])
    video_link = StringField(
        "Video server address (video)",
        validators=[Optional(), Length(max=255), URL(require_tld=True, message="Enter a full https:// link.")],
    )
    is_active = BooleanField("Patients can book it")
    course_only = BooleanField("Offered only as part of a treatment course")
    patient_bookable = BooleanField("Patients may move this session themselves from their link", default=True)
    change_window_hours = IntegerField(
        "Patients may change it online until … hours before (empty: the clinic's setting)",
        invalid_value_message="Enter a whole number of hours, like 48, or leave it empty.",
        validators=[Optional(), _between(0, 168, "Enter 0 to 168 hours, or leave it empty.")],
    )
    clinicians = CheckboxesField("Offered by", coerce=int)

    def validate_name(self, field):
        _single_line(field)

    def validate_location(self, field):
        _single_line(field)
        if self.modality.data == Modality.IN_PERSON.value and not field.data:
            raise ValidationError("An in-person consultation needs an address.")

    def validate_video_link(self, field):
        _single_line(field)
        if field.data and not field.data.startswith("https://"):
            raise ValidationError("Enter a full https:// link.")


def _whole_number(label, what, low, high):
    """A required whole number from `low` to `high`; `what` names it in each message ("the number of cycles")."""
    return IntegerField(
        label,
        invalid_value_message=f"Enter {what} as a whole number, like 2.",
        validators=[InputRequired(f"Enter {what}."), _between(low, high, f"Enter {what}: {low} to {high}.")],
    )


def _row_id_or_none(value):
    """A select's value as a row id: None when none is chosen, 0 (no row's id) for anything else that is not one."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value)
    return int(text) if re.fullmatch(r"[0-9]{1,10}", text) else 0


def _listed(form, field):
    if field.data is not None and field.data not in {_row_id_or_none(value) for value, *_ in field.choices}:
        raise ValidationError("Choose one of the session types listed.")


def _session_type(label):
    """One of the listed session types, or none (the service says when the counts need one)."""
    return SelectField(label, coerce=_row_id_or_none, validate_choice=False, validators=[_listed])


MAX_COURSE_SESSIONS = 10  # preparation sessions, and dosing cycles, in one course
MAX_COURSE_DAYS = 90


class CourseTemplateForm(BrowserForm):
    """A course template's name and shape. The service checks the shape as the planner does, and the types."""

    name = StringField("Name staff see", validators=[DataRequired("Enter a name."), Length(max=120)])
    slug = StringField(
        "Short name",
        validators=[
            DataRequired("Enter a short name."),
            Length(max=64),
            Regexp(r"^[a-z0-9][a-z0-9-]*\Z", message="Use lower-case letters, digits and hyphens."),
        ],
    )
    is_active = BooleanField("Staff can open new courses from it", default=True)
    preparation_count = _whole_number(
        "Preparation sessions", "the number of preparation sessions", 0, MAX_COURSE_SESSIONS
    )
    preparation_type_id = _session_type("Preparation session type")
    min_days_after_preparation = _whole_number(
        "At least … days after a preparation session (and before the first dosing session)",
        "the days after a preparation session",
        0,
        MAX_COURSE_DAYS,
    )
    cycles = _whole_number("Dosing cycles", "the number of dosing cycles", 0, MAX_COURSE_SESSIONS)
    dosing_type_id = _session_type("Dosing session type")
    integration_type_id = _session_type("Integration session type")
    integration_min_days = _whole_number(
        "At the earliest (days after)", "the earliest day for integration", 0, MAX_COURSE_DAYS
    )
    integration_max_days = _whole_number(
        "At the latest (days after)", "the latest day for integration", 0, MAX_COURSE_DAYS
    )
    min_days_between_dosing = _whole_number(
        "At least … days between dosing sessions", "the days between dosing sessions", 0, MAX_COURSE_DAYS
    )
    # The version the page showed: a save over someone else's newer one is refused, not made silently.
    based_on = HiddenField()

    def validate_name(self, field):
        _single_line(field)

    @property
    def based_on_number(self):
        """The version number the page was drawn from: None for a new template (or none sent)."""
        return _row_id_or_none(self.based_on.data)


def _contact_number(field):
    """A number people dial or text: digits with spaces, dashes, brackets and a leading +."""
    field.data = (field.data or "").strip()
    if not re.fullmatch(r"\+?[0-9][0-9 ()\-]{1,30}", field.data):
        raise ValidationError("Use digits, spaces, brackets, dashes and a leading +.")


class ClinicSettingsForm(BrowserForm):
    name = StringField("Clinic name", validators=[DataRequired("Enter the clinic's name."), Length(max=120)])
    address = StringField("Address", validators=[Length(max=255)])
    phone = StringField("Phone", validators=[Length(max=32)])
    crisis_line = StringField("Crisis line (call or text)", validators=[Length(max=32)])
    emergency_number = StringField("Emergency number", validators=[Length(max=16)])
    timezone = StringField(
        "Default time zone (IANA name)",
        validators=[DataRequired("Enter a time zone."), Length(max=64), cleaned_by(validation.clean_place_zone)],
    )
    cancellation_window_hours = _minutes("Patients may change online until (hours before)", 0, 168)
    accent_colour = StringField(
        "Accent colour", widget=ColorInput(), validators=[cleaned_by(validation.clean_accent_colour)]
    )
    logo = FileField("Logo", validators=[_image_upload])
    file_fields = ("logo",)
    remove_logo = BooleanField("Remove the logo")

    def validate_name(self, field):
        _single_line(field)

    def validate_address(self, field):
        _single_line(field)

    def validate_phone(self, field):
        _contact_number(field)

    def validate_crisis_line(self, field):
        _contact_number(field)

    def validate_emergency_number(self, field):
        _contact_number(field)


def _booking_ids(form, field):
    if not field.data or any(not 1 <= booking_id <= 2**31 - 1 for booking_id in field.data):
        raise ValidationError("Tick the bookings to cancel on the bursts page.")


class CancelBurstForm(BrowserForm):
    """Cancel the bookings ticked on the bursts page: shown for confirmation, then cancelled once `confirmed` is sent.

    A family or a clinic's Wi-Fi can look like a burst, so each booking is chosen, not the burst as a whole.
    """

    booking_ids = SelectMultipleField(coerce=int, validate_choice=False, validators=[_booking_ids])
    confirmed = BooleanField()
