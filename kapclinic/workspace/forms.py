"""The workspace's HTML forms: fields to render through the shared macro; the rules module checks their values."""

from wtforms import BooleanField, RadioField, SelectChoice, StringField, TextAreaField
from wtforms.widgets import DateInput, NumberInput, TimeInput

from kapclinic.core.forms import BrowserForm
from kapclinic.scheduling import availability as rules


class CheckedForm(BrowserForm):
    """A form whose values a pure rules function checks: each message it gives goes on the field it names."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.other_errors = {}

    def show_errors(self, errors):
        """Put the rules' messages on their fields; ones that name no field (a day, say) go in `other_errors`."""
        for name, message in errors.items():
            if name in self._fields:
                self[name].errors = [*self[name].errors, message]
            else:
                self.other_errors[name] = message
        return self


def _with_time_fields(form_class):
    """Declare the weekly-hours fields: a From and a To for each row of each day."""
    for weekday in range(7):
        for row in range(rules.MAX_RANGES_PER_DAY):
            for part, label in (("start", "From"), ("end", "To")):
                setattr(form_class, rules.field_name(weekday, row, part), StringField(label, widget=TimeInput()))
    return form_class


@_with_time_fields
class WeeklyHoursForm(CheckedForm):
    """A From and a To time for each of MAX_RANGES_PER_DAY rows a day (d{weekday}_r{row}_start / _end)."""

    def typed(self):
        return {name: field.data or "" for name, field in self._fields.items() if name != "csrf_token"}


class OfferingForm(CheckedForm):
    """The daily limit and gap; the consultation types' checkboxes are rendered from the clinic's list."""

    max_per_day = StringField("Most consultations a day", widget=NumberInput(min=1, max=48))
    min_gap_minutes = StringField("Minutes free between consultations", widget=NumberInput(min=0, max=240))


class DateOverrideForm(CheckedForm):
    on_date = StringField("Date", widget=DateInput())
    kind = RadioField(
        "On that day",
        choices=[SelectChoice("day_off", "Day off"), SelectChoice("hours", "Work these hours instead:")],
        default="day_off",
    )
    start = StringField("From", widget=TimeInput())
    end = StringField("To", widget=TimeInput())


class TimeOffForm(CheckedForm):
    first_day = StringField("First day off", widget=DateInput())
    last_day = StringField("Last day off", widget=DateInput())
    reason = StringField("Note (optional, staff only)", render_kw={"maxlength": 200})


class CancelForm(CheckedForm):
    reason = TextAreaField(
        "Reason (kept for the clinic, not sent to the patient)", render_kw={"rows": 3, "maxlength": 500}
    )


class ReplaceFeedForm(CheckedForm):
    confirm = BooleanField("I understand that calendars subscribed to the current address stop updating")
