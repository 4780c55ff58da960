"""Issue 4's story end to end: a clinician made with the CLI runs their own calendar."""

import re
from datetime import timedelta

import pytest
from icalendar import Calendar

from kapclinic.core.timezones import now_utc
from kapclinic.extensions import db
from kapclinic.scheduling.models import Clinician, ConsultationType, Modality
from tests.helpers import new_feed_path, patient_json, sign_in

pytestmark = pytest.mark.both_databases


def test_cli_clinician_sets_hours_and_a_day_off_exports_and_subscribes(app, in_app):

    def profile():
        clinician = Clinician(name="Dr Story", email="story.profile@clinic.example.org", timezone="Europe/London")
        db.session.add(
            ConsultationType(
                slug="story",
                name="Story consult",
                duration_minutes=60,
                min_notice_minutes=0,
                horizon_days=30,
                slot_step_minutes=60,
                modality=Modality.VIDEO,
                clinicians=[clinician],
            )
        )

    in_app(profile)
    created = app.test_cli_runner().invoke(
        args=[
            "users",
            "create",
            "--email",
            "dr.story@clinic.example.org",
            "--name",
            "Dr Story",
            "--role",
            "clinician",
            "--clinician-email",
            "story.profile@clinic.example.org",
        ],
        input="a story passphrase\na story passphrase\n",
    )
    assert created.exit_code == 0, created.output
    client = app.test_client()
    assert sign_in(client, "dr.story@clinic.example.org", "a story passphrase").status_code == 302
    clinician_id = re.search(r"/staff/clinicians/(\d+)/", client.get("/staff/availability").headers["Location"]).group(
        1
    )

    def slots(first, days=7):
        return client.get(
            "/api/v1/slots",
            query_string={
                "type": "story",
                "start": first.isoformat(),
                "end": (first + timedelta(days=days - 1)).isoformat(),
                "tz": "Europe/London",
            },
        ).json["slots"]

    first = (now_utc() + timedelta(days=2)).date()
    assert slots(first) == []  # no hours yet
    weekdays = {f"d{day}_r0_start": "10:00" for day in range(7)} | {f"d{day}_r0_end": "13:00" for day in range(7)}
    assert client.post(f"/staff/clinicians/{clinician_id}/hours", data=weekdays).status_code == 302
    assert {slot["start"][11:16] for slot in slots(first)} == {"10:00", "11:00", "12:00"}
    day_off = first + timedelta(days=1)
    assert (
        client.post(
            f"/staff/clinicians/{clinician_id}/overrides", data={"on_date": day_off.isoformat(), "kind": "day_off"}
        ).status_code
        == 302
    )
    assert day_off.isoformat() not in {slot["start"][:10] for slot in slots(first)}

    booked = client.post(
        "/api/v1/bookings",
        json=patient_json(
            type("T", (), {"slug": "story"}),
            slots(first)[0]["start"],
            clinician_id=int(clinician_id),
            tz="Europe/London",
        ),
    )
    assert booked.status_code == 201
    export = client.get(f"/staff/bookings/{booked.json['id']}/invite.ics")
    (event,) = Calendar.from_ical(export.data).walk("VEVENT")
    feed_path = new_feed_path(client, clinician_id)
    subscriber = app.test_client()  # a calendar app has no staff session
    feed = Calendar.from_ical(subscriber.get(feed_path).data)
    assert [str(item["UID"]) for item in feed.walk("VEVENT")] == [str(event["UID"])]
