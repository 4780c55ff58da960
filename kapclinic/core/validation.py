"""Checks on what a patient types, shared by the web form and the JSON API.

Pure module (no Flask). Each `clean_*` returns the normalised value or raises
InvalidField with a message written for the patient.
"""

import re
import unicodedata
from datetime import date
from decimal import Decimal
from urllib.parse import urlsplit

import phonenumbers
import pymailcheck
from email_validator import EmailNotValidError, validate_email

from kapclinic.core.errors import DomainError
from kapclinic.core.timezones import canonical_zone, is_place_zone

NAME_MAX = 120
EMAIL_MAX = 254
PHONE_MAX = 32
LINK_MAX = 500
OLDEST_AGE_YEARS = 120


class InvalidField(DomainError, ValueError):
    """A value a person typed that we cannot accept; str() is shown to them.

    Also a ValueError, so a pydantic validator that raises it reports the field.
    """


# Bidirectional overrides and isolates can make text read differently from what was
# typed (a name shown reversed to staff); other format characters (such as the
# zero-width non-joiner Persian spelling needs) are fine.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cs", "Cn", "Co", "Zl", "Zp"})


def has_unsafe_characters(value, allow_line_breaks=False):
    """True if the text holds control, unassigned, private or bidi-override characters."""
    allowed = {"\n", "\r", "\t"} if allow_line_breaks else set()
    return any(
        char not in allowed and (unicodedata.category(char) in _UNSAFE_CATEGORIES or char in _BIDI_CONTROLS)
        for char in value
    )


def _has_control_characters(value):
    return has_unsafe_characters(value)


def clean_name(value):
    """Return a trimmed name; refuse control characters, which could reach email headers or ICS lines."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidField("Please enter your name.")
    value = re.sub(r" {2,}", " ", value.strip())
    if len(value) > NAME_MAX:
        raise InvalidField(f"Please keep your name under {NAME_MAX} characters.")
    if _has_control_characters(value):
        raise InvalidField("Your name contains characters we cannot accept, such as line breaks.")
    if not any(char.isalpha() for char in value):
        raise InvalidField("Please enter your name using letters.")
    return value


_PLAIN_FIRST_NAME = re.compile(r"[^\W\d_](?:[^\W\d_]|['\u2019-]){0,29}")


def plain_first_name(name):
    """The first word of a name when it is plainly a name (letters, an apostrophe or hyphen), else "".

    For text a patient typed that goes to someone else's inbox (a guardian's consent
    request): a name can be shown, a link or a message smuggled in a name cannot.
    """
    first = (name or "").strip().split(" ", 1)[0]
    return first if _PLAIN_FIRST_NAME.fullmatch(first) else ""


def clean_email(value):
    """Return the normalised address (email-validator, without a DNS look-up)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidField("Please enter your email address.")
    if len(value) > EMAIL_MAX:
        raise InvalidField("That email address is too long.")
    try:
        # ASCII local parts only: an SMTPUTF8 address would need a mail server that supports it.
        return validate_email(value.strip(), check_deliverability=False, allow_smtputf8=False).normalized
    except EmailNotValidError:
        raise InvalidField("Please enter a valid email address, like name@example.com.") from None


# Mailboxes many patients have, added to pymailcheck's list: its own list lacks them, and its
# second-level names run "gmx" and "hotmail" together ("gmxhotmail"), so hotmial.com found nothing.
_COMMON_MAIL_DOMAINS = pymailcheck.DOMAINS | {
    "gmx.com",
    "hotmail.co.uk",
    "hotmail.com",
    "live.com",
    "outlook.com",
    "proton.me",
    "protonmail.com",
    "yahoo.co.uk",
    "yahoo.com",
}


def likely_typo(email):
    """The address with its domain corrected when it looks mistyped (name@gmial.com: name@gmail.com), else None.

    Only a suggestion: the patient may keep what they typed (mailcheck's rule, a small
    string distance to a common mail domain or top-level domain).
    """
    local, _, domain = email.rpartition("@")
    suggestion = pymailcheck.suggest(email, domains=_COMMON_MAIL_DOMAINS)
    if not suggestion or suggestion["domain"] == domain.lower():
        return None
    return f"{local}@{suggestion['domain']}"  # the name as typed: mailcheck lowers its case


def clean_phone(value, default_region="US"):
    """Return the number in E.164 form; national numbers are read in the clinic's region."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidField("Please enter a phone number we can reach you on.")
    if len(value) > PHONE_MAX or _has_control_characters(value):
        raise InvalidField("Please enter a valid phone number.")
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException:
        raise InvalidField("Please enter a valid phone number.") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidField("Please enter a valid phone number, including the area code.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


WHOLE_DATE_OF_BIRTH = "Please enter your whole date of birth: month, day and year."


def clean_date_of_birth(value, today):
    """Return the date of birth; it must be a real past date within a human lifetime."""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value)
        except ValueError:
            # The browser's date field shows the day in the person's own order and sends it as
            # YYYY-MM-DD, or sends nothing while part of it is blank: name the parts, not a format.
            raise InvalidField(WHOLE_DATE_OF_BIRTH) from None
    if not isinstance(value, date):
        raise InvalidField(WHOLE_DATE_OF_BIRTH)
    if value >= today:
        raise InvalidField("Your date of birth must be in the past.")
    if value.year < today.year - OLDEST_AGE_YEARS:
        raise InvalidField("Please check the year of your date of birth.")
    return value


def clean_note(value, max_length):
    """Return optional free text (line breaks allowed); refuse other control characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidField("Please write this as plain text.")
    value = value.strip()
    if len(value) > max_length:
        raise InvalidField(f"Please keep this under {max_length} characters.")
    if has_unsafe_characters(value, allow_line_breaks=True):
        raise InvalidField("This contains characters we cannot accept.")
    return value


def clean_video_link(value):
    """Return a video call's https address; it becomes a link in patients' emails, invites and pages.

    Only https: any other scheme (javascript:, http:) in an href would be a way to harm
    the patient who follows it, or let others listen in.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidField("Please enter the video link, starting with https://.")
    value = value.strip()
    if len(value) > LINK_MAX:
        raise InvalidField(f"Please keep the link under {LINK_MAX} characters.")
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
    except ValueError:  # a malformed port or IPv6 address
        host, parts = "", None
    if (
        parts is None
        or parts.scheme != "https"
        or "." not in host
        or any(char.isspace() for char in value)
        or has_unsafe_characters(value)
    ):
        raise InvalidField(
            "Please enter a full video link starting with https://, like https://video.example.org/room."
        )
    return value


def is_slug(value):
    """A consultation type slug as it appears in links: lower-case letters, digits and hyphens."""
    return isinstance(value, str) and re.fullmatch(r"[a-z0-9][a-z0-9-]{0,63}", value) is not None


def clean_idempotency_key(value):
    """Accept an opaque client key of 16-64 URL-safe characters, or None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_\-]{16,64}", value):
        raise InvalidField("The request key is malformed; reload the page and try again.")
    return value


DEFAULT_ACCENT = "#1f5f8b"
_HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
# What the accent colour must read against: white text on buttons, and the page's background
# under links (WCAG 2.2 AA for normal text).
_ACCENT_BACKGROUNDS = (("white text on buttons", "#ffffff"), ("links on the page", "#fbfaf7"))
ACCENT_MINIMUM_CONTRAST = 4.5


def contrast_ratio(first, second):
    """The WCAG contrast ratio of two #rrggbb colours, from 1 to 21."""

    def luminance(colour):
        channels = [int(colour[index : index + 2], 16) / 255 for index in (1, 3, 5)]
        red, green, blue = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * red + 0.7152 * green + 0.0722 * blue

    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def clean_accent_colour(value):
    """A #rrggbb colour dark enough for white text on it and for links on the page (4.5:1 each); "" for the default."""
    value = (value or "").strip().lower()
    if not value:
        return ""
    if not _HEX_COLOUR.fullmatch(value):
        raise InvalidField("Choose a colour, written like #1f5f8b.")
    for use, background in _ACCENT_BACKGROUNDS:
        ratio = contrast_ratio(value, background)
        if ratio < ACCENT_MINIMUM_CONTRAST:
            raise InvalidField(
                f"This colour is too light for {use}: its contrast is {ratio:.1f}:1 and at least "
                f"{ACCENT_MINIMUM_CONTRAST}:1 is needed for everyone to read it. Choose a darker shade."
            )
    return value


# A logo or a clinician's photo is shown on patient pages: raster images only (an SVG can
# carry script), small.
IMAGE_MAX_BYTES = 100 * 1024
_IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)


def clean_image(data):
    """Return (bytes, media type) for a PNG, JPEG or WebP image of at most IMAGE_MAX_BYTES."""
    if not data:
        raise InvalidField("Choose an image file.")
    if len(data) > IMAGE_MAX_BYTES:
        raise InvalidField(f"Please use an image under {IMAGE_MAX_BYTES // 1024} KB.")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return data, "image/webp"
    for signature, media_type in _IMAGE_SIGNATURES:
        if data.startswith(signature):
            return data, media_type
    raise InvalidField("Please use a PNG, JPEG or WebP image.")


CREDENTIALS_MAX = 120
BIO_MAX = 1000
_MARKUP = re.compile(r"<\s*[a-zA-Z/!?]|&[a-zA-Z#][a-zA-Z0-9]*;")


def clean_credentials(value):
    """A clinician's letters after the name (MD, LCSW): one short line, "" for none."""
    if not isinstance(value, str | None):
        raise InvalidField("Please write the credentials as plain text.")
    value = (value or "").strip()
    if len(value) > CREDENTIALS_MAX:
        raise InvalidField(f"Please keep the credentials under {CREDENTIALS_MAX} characters.")
    if has_unsafe_characters(value):
        raise InvalidField("Remove line breaks and control characters.")
    return value


def clean_bio(value):
    """A clinician's bio for patients: plain text (shown escaped), so markup is refused rather than shown as code."""
    value = clean_note(value, BIO_MAX)
    if _MARKUP.search(value):
        raise InvalidField("Please write the bio as plain text, without HTML tags or character codes.")
    return value


def clean_place_zone(value):
    """The IANA zone of a place (America/New_York), under the name pickers show (Asia/Calcutta: Asia/Kolkata)."""
    value = value.strip() if isinstance(value, str) else ""
    # A place's zone, with its daylight-saving rules: EST or Etc/GMT+5 would keep times
    # an hour off for half the year.
    if not is_place_zone(value):
        raise InvalidField(
            "Use the IANA time zone of a city, such as America/New_York: it keeps daylight-saving time right, which "
            "an abbreviation such as EST does not."
        )
    return canonical_zone(value)


FEE_MAX_CENTS = 10_000_000


def clean_fee(value):
    """An optional fee typed as 150, 150.00 or $1,500: whole cents, or None when left empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip().lstrip("$").replace(",", "")
    if not re.fullmatch(r"[0-9]{1,6}(\.[0-9]{1,2})?", text):
        raise InvalidField("Write the fee as a number, such as 150 or 150.00, or leave it empty.")
    cents = int(Decimal(text) * 100)
    if cents > FEE_MAX_CENTS:
        raise InvalidField("That fee is larger than we can show.")
    return cents
