"""Staff sign-in and password forms (CSRF-protected by Flask-WTF)."""

from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length
from wtforms.widgets import EmailInput

from kapclinic.accounts.services import PASSWORD_MAX, PASSWORD_MIN
from kapclinic.core.forms import BrowserForm


class LoginForm(BrowserForm):
    email = StringField("Email", widget=EmailInput(), validators=[DataRequired("Enter your email."), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired("Enter your password."), Length(max=PASSWORD_MAX)])


class ResetRequestForm(BrowserForm):
    email = StringField("Email", widget=EmailInput(), validators=[DataRequired("Enter your email."), Length(max=254)])


class NewPasswordForm(BrowserForm):
    password = PasswordField(
        f"New password (at least {PASSWORD_MIN} characters)",
        validators=[DataRequired("Enter a new password."), Length(max=PASSWORD_MAX)],
    )
    confirm = PasswordField(
        "Repeat the new password", validators=[EqualTo("password", "The two passwords do not match.")]
    )


class ChangePasswordForm(NewPasswordForm):
    current_password = PasswordField("Current password", validators=[DataRequired("Enter your current password.")])
