"""Staff pages that show patient data: opened only from the staff site, and recorded after they render.

A signed-in browser sends its SameSite=Lax cookie along on a top-level GET from any
other site, so a link or redirect elsewhere could make it open a record and write an
audit row in the staff member's name. Browsers say where a request comes from in
Sec-Fetch-Site; `cross-site` and `same-site` (another origin) are refused with a page
that links back to the same address, so a staff member who followed a link from
webmail reaches the record with one more click from the staff site. `same-origin`,
`none` (typed, bookmarked, opened from a mail program) and a missing header (older
browsers, scripts) pass.
"""

from functools import wraps

from flask import current_app, render_template, request

from kapclinic.core.db import rollback_quietly, take_write_lock_next
from kapclinic.extensions import db

OTHER_ORIGINS = frozenset({"cross-site", "same-site"})


def staff_site_only(view):
    """Refuse a request for an audited page that another site started (see the module docstring)."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        if request.headers.get("Sec-Fetch-Site", "").strip().lower() in OTHER_ORIGINS:
            return render_template("frontdesk/opened_from_elsewhere.html", address=request.full_path.rstrip("?")), 403
        return view(*args, **kwargs)

    return wrapped


def record_after_render(response, write_audit):
    """End the request's transaction, then write the audit rows for what the response shows in a short one.

    One of the two writes that stand whatever the answer (see core.unit_of_work): a record
    shown again with a refused change still counts as shown. The refused change itself is
    rolled back first, never committed with the audit row.
    """
    response = current_app.make_response(response)
    if response.status_code >= 400:
        rollback_quietly()
    else:
        db.session.commit()
    take_write_lock_next()
    write_audit()
    db.session.commit()
    return response
