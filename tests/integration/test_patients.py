"""One patient record per person: matched on booking, encrypted, found by staff, merged and split with an audit row."""

import re
from datetime import date
from urllib.parse import unquote

import pytest
from sqlalchemy import select, text

from kapclinic.accounts.models import Role
from kapclinic.audit.models import AuditAction, AuditEvent
from kapclinic.core.timezones import instant_param
from kapclinic.extensions import db
from kapclinic.patients.models import Patient
from kapclinic.scheduling.models import Booking
from tests.helpers import booked_by, patient_json, phone_of, seed_offering, sign_in

pytestmark = pytest.mark.both_databases


@pytest.fixture
def offering(app):
    return seed_offering(app, "first-consultation")


def _book(client, offering, slot, **details):
    answer = client.post(
        "/api/v1/bookings", json=patient_json(offering, instant_param(offering.starts[slot]), **details)
    )
    return answer


def _patients(app):
    with app.app_context():
        rows = [
            (patient.name, patient.email, patient.phone, patient.date_of_birth, patient.is_merged)
            for patient in db.session.scalars(select(Patient).order_by(Patient.id))
        ]
        db.session.rollback()
    return rows


def _public_id(app, email):
    with app.app_context():
        public_id = db.session.scalar(select(Booking).where(booked_by(email))).patient.public_id
        db.session.rollback()
    return public_id


def _audit_details(app, action):
    with app.app_context():
        details = db.session.scalars(select(AuditEvent.detail).where(AuditEvent.action == action)).all()
        db.session.rollback()
    return details


@pytest.fixture
def desk_client(app, create_staff):
    client = app.test_client()
    sign_in(client, create_staff(Role.FRONT_DESK).email)
    return client


def test_bookings_with_one_email_and_birth_date_are_one_patient_with_the_latest_name_and_phone(app, client, offering):
    app.config["MAX_ACTIVE_BOOKINGS_PER_PATIENT"] = 3  # one address books for two people here
    assert _book(client, offering, 0, email="Sam@Example.com", name="Sam Lee").status_code == 201
    assert (
        _book(client, offering, 2, email="sam@example.com", name="Samuel Lee", phone="+1 212 555 0199").status_code
        == 201
    )
    # Same address, another date of birth: another person (a parent booking for a child, say).
    assert (
        _book(client, offering, 4, email="sam@example.com", name="Kit Lee", date_of_birth="2001-02-03").status_code
        == 201
    )
    kit_phone = "+" + re.sub(r"\D", "", phone_of("sam@example.com"))
    assert _patients(app) == [
        ("Samuel Lee", "sam@example.com", "+12125550199", date(1990, 4, 12), False),
        ("Kit Lee", "sam@example.com", kit_phone, date(2001, 2, 3), False),
    ]
    with app.app_context():
        assert len(db.session.scalars(select(Booking).where(booked_by("SAM@example.com"))).all()) == 3
        db.session.rollback()


def test_contact_details_are_stored_only_encrypted(app, client, offering):
    assert _book(client, offering, 0, email="hidden.person@example.com", name="Zora Hidden").status_code == 201
    with app.app_context():
        connection = db.session.connection()
        patient_row = " ".join(str(value) for value in connection.execute(text("SELECT * FROM patients")).one())
        booking_columns = {row for row in connection.execute(text("SELECT * FROM bookings")).keys()}
        db.session.rollback()
    # The whole number, not a fragment of it: the digests are hex and may hold any three digits.
    phone_digits = re.sub(r"\D", "", phone_of("hidden.person@example.com"))
    for typed in ("hidden.person", "Zora", "Hidden", "1990-04-12", phone_digits):
        assert typed not in patient_row
    assert not booking_columns & {"patient_name", "patient_email", "patient_phone", "patient_date_of_birth"}


def test_the_desk_finds_a_patient_by_whole_name_words_email_or_phone_and_the_url_never_names_them(
    app, client, offering, desk_client
):
    assert _book(client, offering, 0, email="ana.lopez@example.com", name="Ana María López").status_code == 201
    assert _book(client, offering, 2, email="other@example.com", name="Bo Other").status_code == 201

    def search(words):
        answer = desk_client.post("/staff/patients", data={"q": words})
        assert answer.status_code == 302
        location = unquote(answer.headers["Location"])
        assert words.lower() not in location.lower()
        return desk_client.get(answer.headers["Location"]).text

    national = phone_of("ana.lopez@example.com").removeprefix("+1 ")  # as someone reads it out
    for words in ("lopez", "ANA", "maria lopez", "Ana.Lopez@Example.com", national):
        page = search(words)
        assert "Ana María López" in page and "Bo Other" not in page, words
    assert "Ana María López" not in search("lop")  # whole words only: the index holds no fragments
    assert "1 record found" in search("lopez")
    assert len(_audit_details(app, AuditAction.PATIENTS_SEARCHED)) == 7  # one row per search shown
    tampered = desk_client.get("/staff/patients?find=not-a-sealed-search")
    assert tampered.status_code == 400


def test_the_patient_page_lists_upcoming_sessions_and_is_audited_by_public_id(app, client, offering, desk_client):
    assert _book(client, offering, 0, email="pia@example.com", name="Pia Page").status_code == 201
    assert _book(client, offering, 3, email="pia@example.com", name="Pia Page").status_code == 201
    public_id = _public_id(app, "pia@example.com")
    page = desk_client.get(f"/staff/patients/{public_id}")
    assert page.status_code == 200
    upcoming = page.text.split('id="upcoming-heading"')[1].split('id="past-heading"')[0]
    assert upcoming.count("<tr>") == 3  # the heading's row and two sessions
    assert "pia@example.com" in page.text
    assert _audit_details(app, AuditAction.PATIENT_VIEWED) == [f"patient {public_id}"]


def test_clinicians_may_not_open_patient_records(app, client, offering, create_staff):
    assert _book(client, offering, 0).status_code == 201
    clinician = app.test_client()
    sign_in(clinician, create_staff(Role.CLINICIAN).email)
    assert clinician.get("/staff/patients").status_code == 403
    assert clinician.get(f"/staff/patients/{_public_id(app, 'ana.patient@example.com')}").status_code == 403


def test_one_person_cannot_hold_two_sessions_at_once_even_with_two_clinicians(app, client, offering):
    other = seed_offering(app, "second-clinician")
    assert _book(client, offering, 0, clinician_id=offering.clinician_id).status_code == 201
    refused = client.post(
        "/api/v1/bookings",
        json=patient_json(other, instant_param(other.starts[0]), clinician_id=other.clinician_id),
    )
    assert refused.status_code == 422
    assert "You already have a first-consultation with us at that time" in refused.json["errors"]["start"]
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Booking.id))) == 1
        db.session.rollback()
    # Another person may book that time with the other clinician.
    assert _book(client, other, 0, email="else@example.com", clinician_id=other.clinician_id).status_code == 201


def test_merging_moves_every_session_and_the_old_address_leads_to_the_kept_record(app, client, offering, desk_client):
    assert _book(client, offering, 0, email="old@example.com", name="Mo Merge").status_code == 201
    assert _book(client, offering, 2, email="new@example.com", name="Mo Merge").status_code == 201
    kept, duplicate = _public_id(app, "new@example.com"), _public_id(app, "old@example.com")
    compare = desk_client.get(f"/staff/patients/{kept}/merge/{duplicate}")
    assert compare.status_code == 200 and "old@example.com" in compare.text and "new@example.com" in compare.text
    merged = desk_client.post(f"/staff/patients/{kept}/merge/{duplicate}")
    assert merged.status_code == 302
    assert [row[4] for row in _patients(app)] == [True, False]
    with app.app_context():
        assert {booking.patient.public_id for booking in db.session.scalars(select(Booking))} == {kept}
        db.session.rollback()
    # The merged record's address opens the kept one; the audit names both by public id only.
    assert desk_client.get(f"/staff/patients/{duplicate}").headers["Location"].endswith(kept)
    assert _audit_details(app, AuditAction.PATIENT_MERGED) == [f"patient {kept} took in patient {duplicate}"]


def test_records_whose_sessions_overlap_are_not_merged(app, client, offering, desk_client):
    other = seed_offering(app, "overlap-clinician")
    assert _book(client, offering, 0, email="one@example.com", clinician_id=offering.clinician_id).status_code == 201
    assert _book(client, other, 0, email="two@example.com", clinician_id=other.clinician_id).status_code == 201
    kept, duplicate = _public_id(app, "one@example.com"), _public_id(app, "two@example.com")
    refused = desk_client.post(f"/staff/patients/{kept}/merge/{duplicate}")
    assert refused.status_code == 409
    assert "cannot hold two sessions at once" in refused.text
    assert [row[4] for row in _patients(app)] == [False, False]
    assert _audit_details(app, AuditAction.PATIENT_MERGED) == []


def test_splitting_gives_chosen_sessions_a_record_of_their_own(app, client, offering, desk_client):
    assert _book(client, offering, 0, email="family@example.com", name="Twin One").status_code == 201
    assert _book(client, offering, 2, email="family@example.com", name="Twin One").status_code == 201
    public_id = _public_id(app, "family@example.com")
    page = desk_client.get(f"/staff/patients/{public_id}/split").text
    choices = re.findall(r'name="bookings"[^>]*value="([^"]+)"', page) or re.findall(
        r'value="([^"]+)"[^>]*name="bookings"', page
    )
    assert len(choices) == 2
    details = {"name": "Twin Two", "email": "family@example.com", "phone": "+1 212 555 0111"}
    same_identity = desk_client.post(
        f"/staff/patients/{public_id}/split", data={**details, "date_of_birth": "1990-04-12", "bookings": choices[1]}
    )
    assert same_identity.status_code == 422 and "could not tell the two people apart" in same_identity.text
    nothing_chosen = desk_client.post(
        f"/staff/patients/{public_id}/split", data={**details, "date_of_birth": "1992-01-01"}
    )
    assert nothing_chosen.status_code == 422 and "Choose the sessions" in nothing_chosen.text
    split = desk_client.post(
        f"/staff/patients/{public_id}/split", data={**details, "date_of_birth": "1992-01-01", "bookings": choices[1]}
    )
    assert split.status_code == 302
    assert [row[0] for row in _patients(app)] == ["Twin One", "Twin Two"]
    with app.app_context():
        owners = {booking.public_id: booking.patient_name for booking in db.session.scalars(select(Booking))}
        db.session.rollback()
    assert owners == {choices[0]: "Twin One", choices[1]: "Twin Two"}
    (detail,) = _audit_details(app, AuditAction.PATIENT_SPLIT)
    assert detail.startswith(f"patient {public_id} gave 1 booking(s) to patient ")


def test_correcting_details_changes_what_the_search_finds(app, client, offering, desk_client):
    assert _book(client, offering, 0, email="typo@exmaple.com", name="Tess Typo").status_code == 201
    public_id = _public_id(app, "typo@exmaple.com")
    bad = desk_client.post(
        f"/staff/patients/{public_id}/edit",
        data={
            "name": "Tess Typo",
            "email": "not an address",
            "phone": "+1 212 555 0100",
            "date_of_birth": "1990-04-12",
        },
    )
    assert bad.status_code == 422
    saved = desk_client.post(
        f"/staff/patients/{public_id}/edit",
        data={
            "name": "Tess Tipo",
            "email": "tess@example.com",
            "phone": "+1 212 555 0100",
            "date_of_birth": "1990-04-12",
        },
    )
    assert saved.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Booking).where(booked_by("tess@example.com"))).patient_name == "Tess Tipo"
        assert db.session.scalar(select(Booking).where(booked_by("typo@exmaple.com"))) is None
        db.session.rollback()
    assert _audit_details(app, AuditAction.PATIENT_UPDATED) == [f"patient {public_id} contact details changed"]


def test_reindexing_under_a_new_index_key_keeps_patients_findable(app, client, offering):
    assert _book(client, offering, 0, email="keyed@example.com", name="Kay Keyed").status_code == 201
    app.config["INDEX_KEY"] = "f" * 8 + "a new key that is long enough to be accepted"
    with app.app_context():
        assert db.session.scalar(select(Booking).where(booked_by("keyed@example.com"))) is None
        db.session.rollback()
    result = app.test_cli_runner().invoke(args=["patients", "reindex"])
    assert result.exit_code == 0 and "reindexed 1 patient record(s)" in result.output
    with app.app_context():
        assert db.session.scalar(select(Booking).where(booked_by("keyed@example.com"))).patient_name == "Kay Keyed"
        db.session.rollback()
