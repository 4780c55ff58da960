"""The base of every HTML form in the app."""

from flask import request
from flask_wtf import FlaskForm
from wtforms.validators import ValidationError

from kapclinic.core.validation import InvalidField


class BrowserForm(FlaskForm):
    """A form read only from the text fields a browser posts.

    Flask-WTF would also read uploaded files and a JSON body into the fields. No form here
    takes either, and a file, a number or a JSON list where text belongs broke Flask-WTF
    and the validators: a 500 instead of the form shown again.
    """

    class Meta:
        def wrap_formdata(self, form, formdata):
            if form.is_submitted():
                return request.form or None
            return super().wrap_formdata(form, formdata)


def cleaned_by(clean):
    """Wrap a validation.clean_* function as a WTForms validator that stores the clean value."""

    def validator(form, field):
        try:
            field.data = clean(field.data)
        except InvalidField as error:
            raise ValidationError(str(error)) from None

    return validator
