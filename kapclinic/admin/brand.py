"""The clinic's brand on patient pages: its accent colour as a stylesheet and its logo, both public.

Served from the app (the Content-Security-Policy allows styles and images from 'self' only),
under addresses that change with every save (?v=), so browsers may keep them a day.
"""

from flask import Blueprint, abort, make_response
from sqlalchemy import select

from kapclinic.core.clinic import clinic
from kapclinic.core.models import ClinicSettings
from kapclinic.extensions import db

blueprint = Blueprint("brand", __name__)
CACHE = "public, max-age=86400"


@blueprint.get("/brand.css")
def stylesheet():
    accent = clinic().accent_colour
    response = make_response(f":root {{ --accent: {accent}; }}\n" if accent else "")
    response.mimetype = "text/css"
    response.headers["Cache-Control"] = CACHE
    return response


@blueprint.get("/brand/logo")
def logo():
    row = db.session.execute(select(ClinicSettings.logo, ClinicSettings.logo_type)).first()
    if row is None or row.logo is None:
        abort(404, "The clinic has no logo.")
    response = make_response(row.logo)
    response.mimetype = row.logo_type
    response.headers["Cache-Control"] = CACHE
    return response
