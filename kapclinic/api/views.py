"""API v1: consultation types, clinicians, slots and bookings as JSON."""

import json

from flask import Blueprint, current_app, jsonify, request
from pydantic import ValidationError

from kapclinic.api.openapi import openapi_document
from kapclinic.api.schemas import AvailabilityQuery, BookingRequest, SlotQuery, TimesQuery, field_errors
from kapclinic.core.timezones import get_zone, now_utc
from kapclinic.core.unit_of_work import undone_if_refused
from kapclinic.core.urls import public_url
from kapclinic.scheduling import calendar_cache, public_path, services
from kapclinic.scheduling.slots import utc_window_for_local_dates

blueprint = Blueprint("api", __name__)


def _invalid(errors, status=422):
    return jsonify({"error": "invalid", "errors": errors}), status


def _slot_json(slot, zone):
    return {
        "start": slot.start_dt.astimezone(zone).isoformat(),
        "end": slot.end_dt.astimezone(zone).isoformat(),
        "clinician_id": slot.clinician_id,
    }


@blueprint.get("/consultation-types")
def consultation_types():
    return jsonify(
        [
            {
                "slug": item.slug,
                "name": item.name,
                "description": item.description,
                "duration_minutes": item.duration_minutes,
                "modality": item.modality.value,
                "min_notice_minutes": item.min_notice_minutes,
                "horizon_days": item.horizon_days,
                "clinician_ids": [clinician.id for clinician in item.active_clinicians],
            }
            for item in services.consultation_types_to_book()
        ]
    )


@blueprint.get("/clinicians")
def clinicians():
    return jsonify(
        [
            {
                "id": clinician.id,
                "name": clinician.name,
                "credentials": clinician.credentials,
                "bio": clinician.bio,
                "timezone": clinician.timezone,
                "consultation_types": [item.slug for item in clinician.consultation_types if item.is_active],
                "photo_url": (
                    public_url("brand.clinician_photo", clinician_id=clinician.id, v=clinician.photo_version)
                    if clinician.has_photo
                    else None
                ),
            }
            for clinician in services.bookable_clinicians()
        ]
    )


@blueprint.get("/slots")
@public_path.slots_limit
def slots():
    return _calendar_answer(SlotQuery, _slots_body, lambda query: ("slots", query.start, query.end))


@blueprint.get("/availability")
@public_path.slots_limit
def availability():
    return _calendar_answer(AvailabilityQuery, _availability_body, lambda query: ("availability", query.month))


@blueprint.get("/times")
@public_path.slots_limit
def times():
    return _calendar_answer(TimesQuery, _times_body, lambda query: ("times", query.date))


def _calendar_answer(model, body_of, asks):
    """Answer a question about free times: refused with every error at once (never cached), or from the cache."""
    try:
        query = model.model_validate(request.args.to_dict())
    except ValidationError as error:
        return _invalid(field_errors(error))
    question = (*asks(query), query.type, query.clinician, query.tz)
    try:
        if query.range_errors():
            body, _ = body_of(query)
        else:
            body = calendar_cache.answer(question, lambda: body_of(query))
    except _BadSlotQuery as bad:
        return _invalid(bad.errors)
    return current_app.response_class(body, mimetype="application/json")


class _BadSlotQuery(Exception):
    """A question with a bad range, or naming a type or clinician we do not have: a 422, never cached."""

    def __init__(self, errors):
        super().__init__(", ".join(errors))
        self.errors = errors


def _free_starts(query, local_dates):
    """The free slots (a SlotSequence) of the query's type and clinician between the two local dates
    `local_dates(query)` gives, with the zone and the ids of the clinicians the answer covers (every one
    linked to the type for "any").

    Raises _BadSlotQuery with every error of the question at once, before asking for the dates.
    """
    errors = query.range_errors()
    consultation_type = services.consultation_type_by_slug(query.type)
    if consultation_type is None:
        errors["type"] = "Unknown consultation type."
    clinician = None
    if consultation_type is not None and query.clinician is not None:
        clinician = services.clinician_for_type(consultation_type, query.clinician)
        if clinician is None:
            errors["clinician"] = "No such clinician offers this consultation type."
    if errors:
        raise _BadSlotQuery(errors)
    zone = get_zone(query.tz)
    window = utc_window_for_local_dates(*local_dates(query), zone)
    found = services.find_slots(consultation_type, window, now_utc(), clinician)
    covered = [clinician] if clinician is not None else consultation_type.clinicians
    return found, zone, [item.id for item in covered]


def _as_json(body):
    return json.dumps(body, separators=(",", ":"))


def _slots_body(query):
    found, zone, covered = _free_starts(query, lambda query: (query.start, query.end))
    return _as_json({"tz": query.tz, "slots": [_slot_json(slot, zone) for slot in found]}), covered


def _availability_body(query):
    """Every day of the month in tz, with how many distinct start times it has and the first."""
    found, zone, covered = _free_starts(query, lambda query: (query.days[0], query.days[-1]))
    days = query.days
    per_day = found.starts_per_day(days, zone)
    return _as_json(
        {
            "tz": query.tz,
            "month": query.month,
            "days": [
                {
                    "date": day.isoformat(),
                    "count": count,
                    "first": first.astimezone(zone).isoformat() if first else None,
                }
                for day, (count, first) in zip(days, per_day, strict=True)
            ],
        }
    ), covered


def _times_body(query):
    """The day's start times in tz, each once, with the clinicians free at it."""
    found, zone, covered = _free_starts(query, lambda query: (query.date, query.date))
    return _as_json(
        {
            "tz": query.tz,
            "date": query.date.isoformat(),
            "times": [
                {
                    "start": start.astimezone(zone).isoformat(),
                    "end": end.astimezone(zone).isoformat(),
                    "clinician_ids": list(ids),
                }
                for start, end, ids in found.starts()
            ],
        }
    ), covered


def _booking_json(booking, manage_token, zone):
    body = {
        "id": booking.public_id,
        "status": booking.status.value,
        "start": booking.start_dt.astimezone(zone).isoformat(),
        "end": booking.end_dt.astimezone(zone).isoformat(),
        "clinician_id": booking.clinician_id,
        "type": booking.consultation_type.slug,
    }
    if booking.confirm_by_dt is not None:
        body["confirm_by"] = booking.confirm_by_dt.astimezone(zone).isoformat()
    if manage_token and not booking.is_pending:
        # A held booking's link goes only to the patient's email: confirming from it proves the address.
        # Its room too: like the link, it is only for whoever holds the booking.
        body["manage_url"] = public_url("scheduling.manage", token=manage_token)
        if booking.video_room:
            body["video_room"] = booking.video_room
    return body


def _json_object():
    """The request's JSON body, or None if it is not a JSON object.

    Python's json parser recurses once per nested bracket and raises RecursionError (not
    ValueError, which Flask's silent parsing catches) about a thousand levels down.
    """
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        return None
    return body if isinstance(body, dict) else None


@blueprint.post("/bookings")
@public_path.public_booking_limit
def create_booking():
    if not request.is_json:
        return jsonify({"error": "unsupported_media_type", "message": "Send a JSON body (application/json)."}), 415
    body = _json_object()
    if body is None:
        return jsonify({"error": "bad_request", "message": "The body must be a JSON object."}), 400
    if "Idempotency-Key" in request.headers and "idempotency_key" not in body:
        body = {**body, "idempotency_key": request.headers["Idempotency-Key"]}
    try:
        data = BookingRequest.model_validate(body)
    except ValidationError as error:
        return _invalid(field_errors(error))
    consultation_type = services.consultation_type_by_slug(data.type)
    if consultation_type is None:
        return _invalid({"type": "Unknown consultation type."})
    clinician = None
    if data.clinician_id is not None:
        clinician = services.clinician_for_type(consultation_type, data.clinician_id)
        if clinician is None:
            return _invalid({"clinician_id": "No such clinician offers this consultation type."})
    patient = services.PatientDetails(
        name=data.name,
        email=data.email,
        phone=data.phone,
        date_of_birth=data.date_of_birth,
        timezone=data.tz,
        contact_consent=data.contact_consent,
    )
    zone = get_zone(data.tz)
    try:
        with undone_if_refused():
            outcome = services.book(
                consultation_type,
                clinician,
                data.start,
                patient,
                now_utc(),
                data.idempotency_key,
                visitor=public_path.visitor(),
            )
    except services.SlotTaken as taken:
        return jsonify(
            {
                "error": "slot_taken",
                "message": str(taken),
                "alternatives": [_slot_json(slot, zone) for slot in taken.alternatives],
            }
        ), 409
    except services.SchedulingError as refused:
        return _invalid({"clinician_id" if refused.field == "clinician" else refused.field: str(refused)})
    return jsonify(_booking_json(outcome.booking, outcome.manage_token, zone)), 200 if outcome.replayed else 201


@blueprint.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())
