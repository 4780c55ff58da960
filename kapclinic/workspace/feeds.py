"""The clinician's private calendar feed: /feeds/<token>.ics, for Google, Outlook and Apple calendars."""

from datetime import timedelta

from flask import Blueprint, abort, make_response

from kapclinic.core.clinic import clinic
from kapclinic.core.timezones import now_utc
from kapclinic.ics.services import staff_calendar
from kapclinic.scheduling import calendar_cache
from kapclinic.workspace import services

blueprint = Blueprint("feeds", __name__)
REFRESH = timedelta(hours=1)


@blueprint.get("/feeds/<token>.ics")
def clinician_feed(token):
    clinician = services.clinician_for_feed(token)
    if clinician is None:
        abort(404, "This calendar link is not valid. Make a new one in the workspace.")

    def build():
        now = now_utc()
        name = f"{clinic().display_name}: {clinician.name}"
        return staff_calendar(services.feed_bookings(clinician, now), now, name=name, refresh=REFRESH), [clinician.id]

    body = calendar_cache.answer(("feed", clinician.id), build)
    response = make_response(body)
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Cache-Control"] = "no-store"
    return response
