"""Request bodies and query strings of API v1, validated by pydantic with the shared field rules.

The OpenAPI document (api.openapi) is generated from these models, so each field's
schema states what its validator enforces: a pattern here is both checked and
published, and a `format` or `enum` names exactly what the validator accepts.
"""

import re
from datetime import date
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from kapclinic.core import validation
from kapclinic.core.timezones import EARLIEST_YEAR, LATEST_YEAR, UnknownTimeZone, get_zone, now_utc, parse_instant
from kapclinic.scheduling.slots import month_days

MAX_SLOT_RANGE_DAYS = 62
# RFC 3339 full-date and date-time with a numeric offset or Z: JSON Schema's "date" and
# "date-time" formats, as Python's fromisoformat reads them (it also takes week dates,
# basic forms and a space for T, which other clients' validators refuse).
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
INSTANT_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$"
# core.validation.clean_idempotency_key's rule; empty means no key.
IDEMPOTENCY_KEY_PATTERN = r"^([A-Za-z0-9_-]{16,64})?$"
DIGITS_PATTERN = r"^[0-9]+$"
DATABASE_ID = Field(ge=1, le=2**31 - 1)


def _as_value_error(clean):
    """Let pydantic report validation.InvalidField as a per-field message."""

    def check(value):
        try:
            return clean(value)
        except validation.InvalidField as error:
            raise ValueError(str(error)) from None

    return check


def _matching(pattern, message):
    """A before-validator: a string matching `pattern`, or `message` for that field."""
    compiled = re.compile(pattern)

    def check(value):
        if not isinstance(value, str) or not compiled.fullmatch(value):
            raise ValueError(message)
        return value

    return check


def _check_zone(value):
    try:
        get_zone(value)
    except UnknownTimeZone:
        raise ValueError("Unknown time zone; use an IANA name such as America/New_York.") from None
    return value


def _zone_names(schema):
    # Every name get_zone accepts, read when the document is built (not at import).
    schema["enum"] = sorted(available_timezones())


def _check_date_of_birth(value):
    return validation.clean_date_of_birth(value, now_utc().date())


INSTANT_MESSAGE = "Use an ISO 8601 date and time with an offset, like 2026-03-09T14:00:00Z."
DATE_MESSAGE = "Use a date in the form YYYY-MM-DD."

Zone = Annotated[
    str,
    Field(max_length=64, description="IANA time zone name", json_schema_extra=_zone_names),
    AfterValidator(_check_zone),
]
Slug = Annotated[str, Field(min_length=1, max_length=64)]
LocalDate = Annotated[
    date,
    BeforeValidator(_matching(DATE_PATTERN, DATE_MESSAGE)),
    Field(json_schema_extra={"pattern": DATE_PATTERN}),
]
# In a query string every value is text: only plain digits are an id ("+1", "1.0", " 1" are not).
QueryId = Annotated[int, DATABASE_ID, BeforeValidator(_matching(DIGITS_PATTERN, "Use a whole number, like 3."))]


class BookingRequest(BaseModel):
    """POST /api/v1/bookings."""

    model_config = ConfigDict(extra="forbid", strict=True)

    type: Slug
    clinician_id: Annotated[int, DATABASE_ID] | None = None
    start: Annotated[
        str,
        Field(
            max_length=40,
            description="ISO 8601 (RFC 3339) with offset",
            json_schema_extra={"format": "date-time", "pattern": INSTANT_PATTERN},
        ),
        BeforeValidator(_matching(INSTANT_PATTERN, INSTANT_MESSAGE)),
        AfterValidator(parse_instant),
    ]
    name: Annotated[
        str,
        Field(max_length=validation.NAME_MAX * 2, json_schema_extra={"minLength": 1}),
        AfterValidator(_as_value_error(validation.clean_name)),
    ]
    email: Annotated[
        str,
        Field(max_length=validation.EMAIL_MAX, json_schema_extra={"format": "email"}),
        AfterValidator(_as_value_error(validation.clean_email)),
    ]
    phone: Annotated[
        str,
        Field(
            max_length=validation.PHONE_MAX,
            description="International (+1 212 555 0100) or a national number of the clinic's country",
            json_schema_extra={"minLength": 1},
        ),
        AfterValidator(_as_value_error(validation.clean_phone)),
    ]
    date_of_birth: Annotated[
        str,
        Field(max_length=10, description="YYYY-MM-DD", json_schema_extra={"format": "date", "pattern": DATE_PATTERN}),
        BeforeValidator(_matching(DATE_PATTERN, "Please enter your date of birth as YYYY-MM-DD.")),
        AfterValidator(_as_value_error(_check_date_of_birth)),
    ]
    tz: Zone
    contact_consent: bool = False
    idempotency_key: Annotated[
        str | None,
        Field(json_schema_extra={"anyOf": [{"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN}, {"type": "null"}]}),
        AfterValidator(_as_value_error(validation.clean_idempotency_key)),
    ] = None


class SlotQuery(BaseModel):
    """GET /api/v1/slots query string."""

    model_config = ConfigDict(extra="forbid")

    type: Annotated[str, Field(min_length=1, max_length=64, description="Consultation type slug")]
    start: Annotated[LocalDate, Field(description="First local date (YYYY-MM-DD)")]
    end: Annotated[
        LocalDate, Field(description=f"Last local date, inclusive; at most {MAX_SLOT_RANGE_DAYS} days after start")
    ]
    tz: Annotated[Zone, Field(description="IANA time zone for the dates and the answer")]
    clinician: Annotated[QueryId | None, Field(description="Only this clinician")] = None

    def range_errors(self):
        """Per-field errors the field types cannot express."""
        for name in ("start", "end"):
            if not EARLIEST_YEAR <= getattr(self, name).year <= LATEST_YEAR:
                return {name: "That date is too far from today."}
        if self.end < self.start:
            return {"end": "end must be on or after start."}
        if (self.end - self.start).days >= MAX_SLOT_RANGE_DAYS:
            return {"end": f"Ask for at most {MAX_SLOT_RANGE_DAYS} days at a time."}
        return {}


MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


class _OfferingQuery(BaseModel):
    """The query string's consultation type, zone and optional clinician, as /api/v1/slots has them."""

    model_config = ConfigDict(extra="forbid")

    type: Annotated[str, Field(min_length=1, max_length=64, description="Consultation type slug")]
    tz: Annotated[Zone, Field(description="IANA time zone for the dates and the answer")]
    clinician: Annotated[QueryId | None, Field(description="Only this clinician")] = None


class AvailabilityQuery(_OfferingQuery):
    """GET /api/v1/availability query string."""

    month: Annotated[
        str,
        BeforeValidator(_matching(MONTH_PATTERN, "Use a month in the form YYYY-MM.")),
        Field(description="The month, in tz (YYYY-MM)", json_schema_extra={"pattern": MONTH_PATTERN}),
    ]

    @property
    def first_day(self):
        return date(int(self.month[:4]), int(self.month[5:7]), 1)

    @property
    def days(self):
        return month_days(self.first_day)

    def range_errors(self):
        # By the year's digits: a date in year 0 cannot even be made.
        if not EARLIEST_YEAR <= int(self.month[:4]) <= LATEST_YEAR:
            return {"month": "That date is too far from today."}
        return {}


class TimesQuery(_OfferingQuery):
    """GET /api/v1/times query string."""

    date: Annotated[LocalDate, Field(description="The local date, in tz (YYYY-MM-DD)")]

    def range_errors(self):
        if not EARLIEST_YEAR <= self.date.year <= LATEST_YEAR:
            return {"date": "That date is too far from today."}
        return {}


def field_errors(error: ValidationError):
    """Turn pydantic's errors into {"field": "message"} for the client."""
    errors = {}
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item["loc"]) or "body"
        if item["type"] == "value_error":
            message = str(item["ctx"]["error"])
        elif item["type"] == "missing":
            message = "This field is required."
        elif item["type"] == "extra_forbidden":
            message = "This field is not accepted."
        else:
            message = item["msg"]
        errors.setdefault(field, message)
    return errors
