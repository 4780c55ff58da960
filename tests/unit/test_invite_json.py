"""The invite the outbox builds from a stored event is the invite the event would have built."""

from datetime import UTC, datetime

import pytest

from kapclinic.ics.builder import InviteEvent, Person, build_invite, invite_from_json, invite_to_json


@pytest.mark.parametrize("attendee", [Person("zoe@example.com", "Zoë O'Brien; Jr."), None])
def test_an_event_stored_as_json_builds_the_same_invite(attendee):
    """The outbox stores the event and builds the invite when it sends: nothing may change on the way."""
    invite = InviteEvent(
        uid="abc@kapclinic",
        sequence=3,
        start_dt=datetime(2026, 3, 8, 7, 30, tzinfo=UTC),
        end_dt=datetime(2026, 3, 8, 8, 30, tzinfo=UTC),
        summary="Consultation with Riverside",
        description="How: Video.\nLine two, with a comma; and a semicolon",
        location="https://video.example.org/room",
        organizer=Person("appointments@clinic.example.org", "Riverside"),
        attendee=attendee,
        cancelled=attendee is None,
        url="https://clinic.example.org/x",
    )
    stamp = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert invite_from_json(invite_to_json(invite)) == invite
    assert build_invite(invite_from_json(invite_to_json(invite)), stamp, "REQUEST") == build_invite(
        invite, stamp, "REQUEST"
    )
