"""Turn an outbox row into a MIME message and hand it to SMTP, or to a file in development.

The message is built with the standard library's `email` package so that every
byte on the wire is 7-bit: text parts go as quoted-printable, which any relay
passes on unchanged (an 8-bit body needs BODY=8BITMIME, which not every hop
offers). Headers are encoded by `email.headerregistry` (a non-ASCII sender name
or subject becomes an RFC 2047 word). The text/calendar part names its iTIP
`method`, which Outlook needs to show an invitation. Flask-Mail still holds the
SMTP settings; its connection gets a socket timeout here, so a hanging mail
server never hangs a request.
"""

import smtplib
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path

from flask import current_app
from flask_mail import Connection

from kapclinic.core.clinic import clinic
from kapclinic.core.timezones import now_utc

TEXT_ENCODING = "quoted-printable"


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


def sender_address():
    """The bare address of MAIL_DEFAULT_SENDER ("Name <a@b>", "a@b" or Flask-Mail's (name, address) pair)."""
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    if isinstance(sender, tuple | list):
        return sender[1]
    return parseaddr(str(sender))[1]


def build_message(outbox_message):
    """Return the MIME message for an outbox row: 7-bit throughout, named by the clinic's display name."""
    address = sender_address()
    message = EmailMessage(policy=policy.SMTP)
    message["Subject"] = outbox_message.subject
    # The display name, not the clinic's full name: it is what a lock screen shows.
    message["From"] = Address(display_name=clinic().display_name, addr_spec=address)
    message["To"] = outbox_message.recipient
    message["Date"] = format_datetime(now_utc())
    # The same Message-ID on every attempt: if a resend ever follows a lost reply, mail
    # systems can tell it is the same message.
    domain = address.rpartition("@")[2] or "localhost"
    message["Message-ID"] = f"<outbox-{outbox_message.id}.{outbox_message.created_dt:%Y%m%d%H%M%S}@{domain}>"
    # RFC 3834: a machine wrote this; auto-responders (out-of-office replies) must not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(outbox_message.body_text, cte=TEXT_ENCODING)
    message.add_alternative(outbox_message.body_html, subtype="html", cte=TEXT_ENCODING)
    if outbox_message.ics:
        method = {"method": outbox_message.ics_method} if outbox_message.ics_method else {}
        message.add_alternative(outbox_message.ics, subtype="calendar", params=method, cte=TEXT_ENCODING)
        message.add_attachment(
            outbox_message.ics.encode("utf-8"),
            maintype="text",
            subtype="calendar",
            filename="invite.ics",
            params={**method, "charset": "UTF-8"},
        )
    return message


def uses_file_fallback(app):
    """Without MAIL_SERVER, development writes .eml files instead of sending."""
    return app.config.get("MAIL_FILE_FALLBACK") and not app.config.get("MAIL_SERVER")


def mail_folder(app):
    return Path(app.instance_path) / "mail"


def transmit(messages):
    """Send (message id, MIME message) pairs; yield (message id, error or None) for each."""
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
    envelope_sender = sender_address()
    try:
        for message_id, message in messages:
            try:
                recipients = [address.addr_spec for address in message["To"].addresses]
                connection.host.send_message(message, from_addr=envelope_sender, to_addrs=recipients)
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
