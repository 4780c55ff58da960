"""Request bodies and query strings of API v1, validated by pydantic with the shared field rules."""

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from kapclinic.core.timezones import EARLIEST_YEAR, LATEST_YEAR, UnknownTimeZone, get_zone, now_utc, parse_instant
from kapclinic.scheduling import validation

MAX_SLOT_RANGE_DAYS = 62


def _as_value_error(clean):
    """Let pydantic report validation.InvalidField as a per-field message."""

    def check(value):
        try:
            return clean(value)
        except validation.InvalidField as error:
            raise ValueError(str(error)) from None

    return check


def _check_zone(value):
    try:
        get_zone(value)
    except UnknownTimeZone:
        raise ValueError("Unknown time zone; use an IANA name such as America/New_York.") from None
    return value


def _check_instant(value):
    return parse_instant(value)


def _check_date_of_birth(value):
    return validation.clean_date_of_birth(value, now_utc().date())


Zone = Annotated[str, Field(max_length=64), AfterValidator(_check_zone)]
Slug = Annotated[str, Field(min_length=1, max_length=64)]


class BookingRequest(BaseModel):
    """POST /api/v1/bookings."""

    model_config = ConfigDict(extra="forbid", strict=True)

    type: Slug
    clinician_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None
    start: Annotated[str, Field(max_length=40, description="ISO 8601 with offset"), AfterValidator(_check_instant)]
    name: Annotated[str, Field(max_length=validation.NAME_MAX * 2), AfterValidator(_as_value_error(validation.clean_name))]
    email: Annotated[str, Field(max_length=validation.EMAIL_MAX), AfterValidator(_as_value_error(validation.clean_email))]
    phone: Annotated[str, Field(max_length=validation.PHONE_MAX), AfterValidator(_as_value_error(validation.clean_phone))]
    date_of_birth: Annotated[
        str, Field(max_length=10, description="YYYY-MM-DD"), AfterValidator(_as_value_error(_check_date_of_birth))
    ]
    tz: Zone
    contact_consent: bool = False
    idempotency_key: Annotated[
        str | None, AfterValidator(_as_value_error(validation.clean_idempotency_key))
    ] = None


class SlotQuery(BaseModel):
    """GET /api/v1/slots query string."""

    model_config = ConfigDict(extra="forbid")

    type: Slug
    start: date
    end: date
    tz: Zone
    clinician: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = None

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


