"""What patient pages show of the clinic and its clinicians: the accent colour as a stylesheet, the logo and
clinicians' photos, all public.

Served from the app (the Content-Security-Policy allows styles and images from 'self' only),
under addresses that change with every save (?v=), so browsers may keep them a day.
"""

from flask import Blueprint, abort, make_response
from sqlalchemy import select

from kapclinic.core.clinic import clinic
from kapclinic.core.models import ClinicSettings
from kapclinic.extensions import db
from kapclinic.scheduling.models import Clinician

blueprint = Blueprint("brand", __name__)
CACHE = "public, max-age=86400"


@blueprint.get("/brand.css")
def stylesheet():
    accent = clinic().accent_colour
    response = make_response(f":root {{ --accent: {accent}; }}\n" if accent else "")
    response.mimetype = "text/css"
    response.headers["Cache-Control"] = CACHE
    return response


def _image(row, missing):
    """The stored image of `row` (image bytes, media type), or 404 saying `missing`."""
    if row is None or row[0] is None:
        abort(404, missing)
    response = make_response(row[0])
    response.mimetype = row[1]
    response.headers["Cache-Control"] = CACHE
    return response


@blueprint.get("/brand/logo")
def logo():
    row = db.session.execute(select(ClinicSettings.logo, ClinicSettings.logo_type)).first()
    return _image(row, "The clinic has no logo.")


@blueprint.get("/clinicians/<id:clinician_id>/photo")
def clinician_photo(clinician_id):
    row = db.session.execute(select(Clinician.photo, Clinician.photo_type).where(Clinician.id == clinician_id)).first()
    return _image(row, "This clinician has no photo.")
