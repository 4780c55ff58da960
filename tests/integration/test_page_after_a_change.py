"""A page drawn after a change never says the change was made when the database dropped it.

The clinic's details for the page frame are read while the page is drawn, after the view has
written. When that read failed, the page fell back to the configuration's details and rolled
back: the view's change was gone, and the page still said it was made (a calendar feed address
that was never stored, a guardian's consent that was never saved).
"""

import re

import pytest
from sqlalchemy import create_engine, select, text

from kapclinic.accounts.models import Role
from kapclinic.core.tokens import hash_secret
from kapclinic.extensions import db
from kapclinic.scheduling.models import Clinician
from tests.helpers import sign_in


def _break_clinic_settings(database_url):
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE clinic_settings RENAME TO clinic_settings_away"))
    engine.dispose()


@pytest.mark.both_databases
def test_a_feed_address_is_shown_only_if_it_was_stored(app, create_staff, database_url):
    user = create_staff(Role.CLINICIAN, email="dr.page@clinic.example.org", name="Dr Page")
    client = app.test_client()
    assert sign_in(client, user.email).status_code == 302
    _break_clinic_settings(database_url)
    answer = client.post(f"/staff/clinicians/{user.clinician_id}/feed")
    with app.app_context():
        stored = db.session.scalar(select(Clinician.feed_token_hash).where(Clinician.id == user.clinician_id))
    # The POST draws no page (it redirects), so the address is stored; the page after it is drawn from
    # the database, and shows an address only if it is the stored one.
    assert answer.status_code == 303 and stored is not None
    page = client.get(answer.headers["Location"])
    shown = re.search(r"/feeds/([^\"<]+)\.ics", page.text)
    assert page.status_code >= 500 or shown is None or hash_secret(shown.group(1)) == stored
