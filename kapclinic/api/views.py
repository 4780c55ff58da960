"""API v1: consultation types, clinicians, slots and bookings as JSON."""

import json

from flask import Blueprint, current_app, jsonify, request
from pydantic import ValidationError

from kapclinic.api.openapi import openapi_document
from kapclinic.api.schemas import BookingRequest, SlotQuery, field_errors
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
            for item in services.active_consultation_types()
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
            }
            for clinician in services.bookable_clinicians()
        ]
    )


@blueprint.get("/slots")
@public_path.slots_limit
def slots():
    try:
        query = SlotQuery.model_validate(request.args.to_dict())
    except ValidationError as error:
        return _invalid(field_errors(error))
    question = ("slots", query.type, query.clinician, query.start, query.end, query.tz)
    try:
        if query.range_errors():
            body, _ = _slots_body(query)  # refused with every error at once; never cached
        else:
            body = calendar_cache.answer(question, lambda: _slots_body(query))
    except _BadSlotQuery as bad:
        return _invalid(bad.errors)
    return current_app.response_class(body, mimetype="application/json")


class _BadSlotQuery(Exception):
    """A slots question with a bad range, or naming a type or clinician we do not have: a 400, never cached."""

    def __init__(self, errors):
        super().__init__(", ".join(errors))
        self.errors = errors


def _slots_body(query):
    """Return the slots JSON and the ids of the clinicians it covers (every one linked to the type for "any")."""
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
    window = utc_window_for_local_dates(query.start, query.end, zone)
    found = services.find_slots(consultation_type, window, now_utc(), clinician)
    body = json.dumps({"tz": query.tz, "slots": [_slot_json(slot, zone) for slot in found]}, separators=(",", ":"))
    covered = [clinician] if clinician is not None else consultation_type.clinicians
    return body, [item.id for item in covered]


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
        body["manage_url"] = public_url("scheduling.manage", token=manage_token)
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
