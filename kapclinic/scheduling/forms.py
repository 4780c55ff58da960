"""Patient-facing forms. Field rules come from core.validation, shared with the API."""

from flask import request
from wtforms import BooleanField, HiddenField, StringField, TextAreaField
from wtforms.widgets import DateInput, EmailInput, TelInput

from kapclinic.core import validation
from kapclinic.core.forms import BrowserForm, cleaned_by
from kapclinic.core.timezones import now_utc
from kapclinic.core.validation import likely_typo
from kapclinic.scheduling.services import PatientDetails


def _clean_date_of_birth(value):
    return validation.clean_date_of_birth(value, now_utc().date())


class ContactDetailsForm(BrowserForm):
    """Who the person is: as a patient types it when booking, and as staff correct it on the patient's record."""

    # autocomplete: the browser offers what it knows of the person, so a phone user types less.
    name = StringField("Full name", validators=[cleaned_by(validation.clean_name)], render_kw={"autocomplete": "name"})
    email = StringField(
        "Email",
        widget=EmailInput(),
        validators=[cleaned_by(validation.clean_email)],
        render_kw={"autocomplete": "email"},
    )
    phone = StringField(
        "Phone", widget=TelInput(), validators=[cleaned_by(validation.clean_phone)], render_kw={"autocomplete": "tel"}
    )
    date_of_birth = StringField(
        "Date of birth",
        widget=DateInput(),
        validators=[cleaned_by(_clean_date_of_birth)],
        render_kw={"autocomplete": "bday"},
    )


class PatientDetailsForm(ContactDetailsForm):
    # Emails about this booking are always sent; this asks about calls and follow-up.
    contact_consent = BooleanField("The clinic may phone me and follow up by email about my care")
    idempotency_key = HiddenField(validators=[cleaned_by(validation.clean_idempotency_key)])

    def patient(self, timezone):
        """The validated details, for the booking service, with the zone the times were shown in."""
        return PatientDetails(
            name=self.name.data,
            email=self.email.data,
            phone=self.phone.data,
            date_of_birth=self.date_of_birth.data,
            timezone=timezone,
            contact_consent=self.contact_consent.data,
        )


class EmailAddressForm(BrowserForm):
    """The patient's address alone: to send their links again, or to correct the one a booking has."""

    email = StringField("Your email address", widget=EmailInput(), validators=[cleaned_by(validation.clean_email)])


class CancelForm(BrowserForm):
    reason = TextAreaField(
        "Would you like to tell us why? (optional)",
        validators=[cleaned_by(lambda value: validation.clean_note(value, 500))],
    )


class ConfirmForm(BrowserForm):
    """A bare POST form: it carries only the CSRF token."""


def email_typo_to_ask_about(form):
    """The address the form's email likely meant, to ask about once; None if there is none or the patient chose.

    "Yes, use name@gmail.com" puts the suggestion in the form; "No, keep" keeps the address as typed.
    """
    typo = likely_typo(form.email.data)
    choice = request.form.get("email_fix")
    if typo is None or choice == "keep":
        return None
    if choice == typo:
        form.email.data = typo
        return None
    return typo


class CallerDetailsForm(PatientDetailsForm):
    """The same details, typed by the front desk for someone on the phone: the consent is the caller's, asked aloud."""

    contact_consent = BooleanField(
        "The caller agrees that the clinic may phone them and follow up by email about their care"
    )
