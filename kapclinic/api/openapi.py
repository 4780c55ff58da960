"""The OpenAPI 3.1 description of API v1.

What a request may hold comes from the pydantic models that check it (api.schemas),
so the document cannot promise more or less than the server enforces; the answers'
enums come from the models' own enums.
"""

from functools import cache

from kapclinic.api.schemas import IDEMPOTENCY_KEY_PATTERN, AvailabilityQuery, BookingRequest, SlotQuery, TimesQuery
from kapclinic.scheduling.models import BookingStatus, Modality

_STRING = {"type": "string"}
_ERROR = {
    "type": "object",
    "properties": {"error": _STRING, "message": _STRING},
    "required": ["error"],
}
_INVALID = {
    "type": "object",
    "properties": {
        "error": {"const": "invalid"},
        "errors": {"type": "object", "additionalProperties": _STRING},
    },
    "required": ["error", "errors"],
}
_SLOT = {
    "type": "object",
    "properties": {
        "start": {"type": "string", "format": "date-time"},
        "end": {"type": "string", "format": "date-time"},
        "clinician_id": {"type": "integer"},
    },
    "required": ["start", "end", "clinician_id"],
}
_DAY = {
    "type": "object",
    "properties": {
        "date": {"type": "string", "format": "date"},
        "count": {"type": "integer", "minimum": 0},
        "first": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
    },
    "required": ["date", "count", "first"],
}
_TIME = {
    "type": "object",
    "properties": {
        "start": {"type": "string", "format": "date-time"},
        "end": {"type": "string", "format": "date-time"},
        "clinician_ids": {"type": "array", "items": {"type": "integer"}, "minItems": 1},
    },
    "required": ["start", "end", "clinician_ids"],
}
_BOOKING = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "status": {"enum": [status.value for status in BookingStatus]},
        "start": {"type": "string", "format": "date-time"},
        "end": {"type": "string", "format": "date-time"},
        "clinician_id": {"type": "integer"},
        "type": _STRING,
        "confirm_by": {
            "type": "string",
            "format": "date-time",
            "description": "Present while the booking is held for the patient to confirm from the email.",
        },
        "manage_url": {
            "type": "string",
            "format": "uri",
            "description": "Absent when an idempotent replay returns an earlier booking, and while a hold awaits "
            "confirmation: that link goes only to the patient's email, so confirming proves the address.",
        },
        "video_room": {
            "type": "string",
            "format": "uri",
            "description": "The address of this consultation's own video room, for a video consultation; present "
            "with manage_url. No other booking shares it: keep it private.",
        },
    },
    "required": ["id", "status", "start", "end", "clinician_id", "type"],
}


def _json(schema, description):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _calendar_responses(properties, description):
    return {
        "200": _json({"type": "object", "properties": properties, "required": list(properties)}, description),
        "422": _json(_ref("Invalid"), "Invalid query, with a message per field"),
        "429": _json(_ref("Error"), "Too many questions from this address; try after Retry-After seconds"),
    }


def _query_parameters(model):
    """The query parameters a pydantic model checks, each with the schema it enforces."""
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    parameters = []
    for name, field in schema["properties"].items():
        field = {key: value for key, value in field.items() if key not in {"title", "default"}}
        description = field.pop("description", "")
        if "anyOf" in field:
            # An optional parameter is left out; a query string cannot carry null.
            (field,) = [branch for branch in field["anyOf"] if branch.get("type") != "null"]
        parameters.append(
            {"name": name, "in": "query", "required": name in required, "description": description, "schema": field}
        )
    return parameters


@cache
def openapi_document():
    booking_request = BookingRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "kapclinic API",
            "version": "1.0.0",
            "description": "Consultation types, free slots and bookings. Times are ISO 8601 with offsets.",
        },
        "servers": [{"url": "/api/v1"}],
        "paths": {
            "/consultation-types": {
                "get": {
                    "operationId": "listConsultationTypes",
                    "summary": "Consultation types the clinic offers",
                    "responses": {"200": _json({"type": "array", "items": _ref("ConsultationType")}, "The types")},
                }
            },
            "/clinicians": {
                "get": {
                    "operationId": "listClinicians",
                    "summary": "Clinicians (public fields only)",
                    "responses": {"200": _json({"type": "array", "items": _ref("Clinician")}, "The clinicians")},
                }
            },
            "/slots": {
                "get": {
                    "operationId": "listSlots",
                    "summary": "Free consultation slots between two local dates",
                    "parameters": _query_parameters(SlotQuery),
                    "responses": _calendar_responses(
                        {"tz": _STRING, "slots": {"type": "array", "items": _ref("Slot")}},
                        "Free slots, in time order (one per clinician free at each start)",
                    ),
                }
            },
            "/availability": {
                "get": {
                    "operationId": "monthAvailability",
                    "summary": "Each day of a month in tz, with how many start times it has free and the first",
                    "parameters": _query_parameters(AvailabilityQuery),
                    "responses": _calendar_responses(
                        {"tz": _STRING, "month": _STRING, "days": {"type": "array", "items": _ref("Day")}},
                        "Every day of the month, in order; count is the number of distinct free start times",
                    ),
                }
            },
            "/times": {
                "get": {
                    "operationId": "dayTimes",
                    "summary": "A day's free start times in tz, each once, with the clinicians free at it",
                    "parameters": _query_parameters(TimesQuery),
                    "responses": _calendar_responses(
                        {
                            "tz": _STRING,
                            "date": {"type": "string", "format": "date"},
                            "times": {"type": "array", "items": _ref("Time")},
                        },
                        "The day's start times, in order",
                    ),
                }
            },
            "/bookings": {
                "post": {
                    "operationId": "createBooking",
                    "summary": "Book a slot",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("BookingRequest")}},
                    },
                    "responses": {
                        "201": _json(_ref("Booking"), "Booked"),
                        "200": _json(_ref("Booking"), "The booking an earlier request with this idempotency key made"),
                        "400": _json(_ref("Error"), "The body is not a JSON object (or is nested too deeply to read)"),
                        "409": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "error": {"const": "slot_taken"},
                                    "message": _STRING,
                                    "alternatives": {"type": "array", "items": _ref("Slot")},
                                },
                                "required": ["error", "message", "alternatives"],
                            },
                            "The slot was just taken; nearby free slots are suggested",
                        ),
                        "413": _json(_ref("Error"), "The body is too large to be a booking"),
                        "415": _json(_ref("Error"), "Not a JSON body"),
                        "422": _json(
                            _ref("Invalid"),
                            "Invalid fields, with a message per field; also a reused idempotency key with other "
                            "details, "
                            "or an email or phone that already holds MAX_ACTIVE_BOOKINGS_PER_PATIENT upcoming "
                            "consultations",
                        ),
                        "429": _json(
                            _ref("Error"),
                            "Too many bookings from this address (one budget with the web form and reschedules); "
                            "try after Retry-After seconds",
                        ),
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "BookingRequest": booking_request,
                "Booking": _BOOKING,
                "Slot": _SLOT,
                "Day": _DAY,
                "Time": _TIME,
                "Error": _ERROR,
                "Invalid": _INVALID,
                "ConsultationType": {
                    "type": "object",
                    "properties": {
                        "slug": _STRING,
                        "name": _STRING,
                        "description": _STRING,
                        "duration_minutes": {"type": "integer"},
                        "modality": {"enum": [modality.value for modality in Modality]},
                        "min_notice_minutes": {"type": "integer"},
                        "horizon_days": {"type": "integer"},
                        "clinician_ids": {"type": "array", "items": {"type": "integer"}},
                    },
                    "required": ["slug", "name", "duration_minutes", "modality"],
                },
                "Clinician": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "name": _STRING,
                        "credentials": _STRING,
                        "bio": _STRING,
                        "timezone": _STRING,
                        "consultation_types": {"type": "array", "items": _STRING},
                        "photo_url": {
                            "type": ["string", "null"],
                            "format": "uri",
                            "description": "The clinician's photo (PNG, JPEG or WebP), or null when they have none",
                        },
                    },
                    "required": ["id", "name", "timezone", "photo_url"],
                },
            }
        },
    }
