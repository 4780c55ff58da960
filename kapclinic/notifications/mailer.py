"""Turn an outbox row into a MIME message and hand it to SMTP, or to a file in development.

Flask-Mail builds the message; two things it lacks are added here: an SMTP
timeout (a hanging mail server must not hang a request) and the `method`
parameter on the text/calendar part, which Outlook needs to show an invitation.
"""

import smtplib
from pathlib import Path

from flask import current_app
from flask_mail import Connection, Message



class InviteMessage(Message):
    """A Flask-Mail message whose text/calendar parts name their iTIP method."""

    def __init__(self, *args, ics_method=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.ics_method = ics_method

    def _message(self):
        message = super()._message()
        if self.ics_method:
            for part in message.walk():
                if part.get_content_type() == "text/calendar":
                    part.set_param("method", self.ics_method)
        return message


class TimeoutConnection(Connection):
    """Flask-Mail's SMTP connection, with a socket timeout on every operation."""

    def configure_host(self):
        timeout = current_app.config["MAIL_TIMEOUT_SECONDS"]
        state = self.mail
        if state.use_ssl:
            host = smtplib.SMTP_SSL(state.server, state.port, timeout=timeout)
        else:
            host = smtplib.SMTP(state.server, state.port, timeout=timeout)
        if state.use_tls:
            host.starttls()
        if state.username and state.password:
            host.login(state.username, state.password)
        return host


def build_message(outbox_message):
    """Return the Flask-Mail message for an outbox row."""
    message = InviteMessage(
        subject=outbox_message.subject,
        recipients=[outbox_message.recipient],
        body=outbox_message.body_text,
        html=outbox_message.body_html,
        alts={"calendar": outbox_message.ics} if outbox_message.ics else None,
        ics_method=outbox_message.ics_method,
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
    )
    # The same Message-ID on every attempt: if a resend ever follows a lost reply, mail
    # systems can tell it is the same message.
    domain = str(current_app.config["MAIL_DEFAULT_SENDER"]).rpartition("@")[2].strip("> ") or "localhost"
    message.msgId = f"<outbox-{outbox_message.id}.{outbox_message.created_dt:%Y%m%d%H%M%S}@{domain}>"
    if outbox_message.ics:
        message.attach(
            "invite.ics",
            f"text/calendar; method={outbox_message.ics_method}; charset=UTF-8"
            if outbox_message.ics_method
            else "text/calendar; charset=UTF-8",
            outbox_message.ics.encode("utf-8"),
        )
    return message


def uses_file_fallback(app):
    """Without MAIL_SERVER, development writes .eml files instead of sending."""
    return app.config.get("MAIL_FILE_FALLBACK") and not app.config.get("MAIL_SERVER")


def mail_folder(app):
    return Path(app.instance_path) / "mail"


def transmit(messages):
    """Send (message id, Flask-Mail message) pairs; yield (message id, error or None) for each."""
    app = current_app._get_current_object()
    if uses_file_fallback(app):
        folder = mail_folder(app)
        folder.mkdir(parents=True, exist_ok=True)
        for message_id, message in messages:
            (folder / f"{message_id:06d}.eml").write_bytes(message.as_bytes())
            yield message_id, None
        return
    try:
        connection = TimeoutConnection(app.extensions["mail"]).__enter__()
    except (OSError, smtplib.SMTPException) as exc:
        for message_id, _ in messages:
            yield message_id, exc
        return
    try:
        for message_id, message in messages:
            try:
                connection.send(message)
            except Exception as exc:  # noqa: BLE001 - a refused or malformed message must not stop the rest
                yield message_id, exc
            else:
                yield message_id, None
    finally:
        if connection.host is not None:
            try:
                connection.host.quit()
            except (OSError, smtplib.SMTPException):
                pass
