"""The base of every HTML form in the app."""

from flask import request
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField
from wtforms.validators import ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from kapclinic.core.validation import InvalidField


class BrowserForm(FlaskForm):
    """A form read only from the text fields a browser posts.

    Flask-WTF would also read uploaded files and a JSON body into the fields. A file, a number
    or a JSON list where text belongs broke Flask-WTF and the validators: a 500 instead of the
    form shown again. So files reach only the fields a form names in `file_fields`, one each.
    An explicit `formdata=None` builds the form from `data` alone, also on a POST (a page shown
    again with values the server changed, like the weekly hours after "copy to weekdays").
    """

    file_fields = ()

    class Meta:
        def wrap_formdata(self, form, formdata):
            if formdata is None or not form.is_submitted():
                return super().wrap_formdata(form, formdata)
            data = request.form.copy()
            for name in form.file_fields:
                data.setlist(name, request.files.getlist(name)[:1])
            return data or None


def cleaned_by(clean):
    """Wrap a validation.clean_* function as a WTForms validator that stores the clean value."""

    def validator(form, field):
        try:
            field.data = clean(field.data)
        except InvalidField as error:
            raise ValidationError(str(error)) from None

    return validator


class CheckboxesField(SelectMultipleField):
    """A group of checkboxes (macros.field renders it in a fieldset with a legend)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()
