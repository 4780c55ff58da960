"""A patient's intake from the confirmation email to submission: save and resume, safety, adolescents, encryption."""

import re
import sqlite3
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update
from werkzeug.datastructures import MultiDict

from kapclinic.core.timezones import instant_param, now_utc
from kapclinic.extensions import db
from kapclinic.frontdesk.services import guardian_status
from kapclinic.intake.models import Intake, IntakeStatus, ResponseStatus
from kapclinic.notifications.models import OutboxMessage, OutboxStatus
from kapclinic.scheduling.models import Booking
from tests.helpers import booked_by, patient_json, seed_offering
from tests.intake_answers import ADULT_STEPS, book_for_intake, born_years_ago, complete_steps, form_for, post_step


@pytest.fixture
def consultation(app):
    return seed_offering(app, "intake")


def _intake():
    db.session.expire_all()
    return db.session.scalar(select(Intake))


@pytest.mark.usefixtures("app_context")
def test_patient_fills_the_intake_over_two_sessions_and_submits(app, consultation, mailbox):
    first_device = app.test_client()
    intake_url = book_for_intake(first_device, consultation, mailbox)
    start = first_device.get(intake_url)
    assert start.status_code == 200 and "Start" in start.text
    step_page = first_device.get(f"{intake_url}/step/about").text
    assert "Part 1 of 4: About you" in step_page
    assert 'value="Ana Patient"' in step_page  # known from the booking
    complete_steps(first_device, intake_url, ADULT_STEPS[:4])

    # The browser closes; the emailed link on another device resumes at step 5.
    other_device = app.test_client()
    resume = other_device.get(intake_url)
    assert "Continue where you left off" in resume.text
    assert f"{intake_url}/step/medical" in resume.text
    assert "Sertraline" in other_device.get(f"{intake_url}/step/history").text

    last = complete_steps(other_device, intake_url, ADULT_STEPS[4:])
    assert last.headers["Location"].endswith("/review")
    review = other_device.get(f"{intake_url}/review").text
    assert "More than half the days" in review  # GAD-7 answers read back with their labels
    submitted = other_device.post(f"{intake_url}/review")
    assert submitted.status_code == 302
    intake = _intake()
    assert intake.status is IntakeStatus.SUBMITTED
    assert intake.response_status is ResponseStatus.COMPLETED
    assert intake.results["scores"]["phq9"] == {"total": 8, "severity": "mild", "flags": [], "subscores": {}}
    assert intake.results["scores"]["gad7"]["severity"] == "moderate"
    assert intake.answers["consent"]["signature"] == "Ana Patient"
    assert intake.consent_version

    # Read-only once submitted.
    done = other_device.get(f"{intake_url}/done").text
    assert "Sertraline" in done
    again = post_step(other_device, intake_url, "history", ad1_name="Changed")
    assert again.status_code == 302
    assert _intake().answers["history"]["ad1_name"] == "Sertraline"


def test_the_manage_link_does_not_open_the_questionnaire_or_its_answers(app, consultation, mailbox):
    """One link, one purpose: a manage link passed on to change a time opens no page of the questionnaire."""
    patient = app.test_client()
    intake_url = book_for_intake(patient, consultation, mailbox)
    complete_steps(patient, intake_url, ADULT_STEPS, medications={"medication_list": "zz-secret-medicine 5 mg"})
    assert patient.post(f"{intake_url}/review").status_code == 302
    assert "zz-secret-medicine" in patient.get(f"{intake_url}/done").text  # the questionnaire link reads them back
    manage_url = re.search(
        r"https://clinic\.example\.org(/manage/\S+)", mailbox.messages[0].get_body(("plain",)).get_content()
    ).group(1)
    manage_token = manage_url.rsplit("/", 1)[1]

    holder = app.test_client()
    tried = [
        f"/intake/{manage_token}{page}"
        for page in ("", "/done", "/review", "/step/about", "/support", "/guardian-details")
    ]
    answers = [holder.get(path) for path in tried]
    assert [answer.status_code for answer in answers] == [404] * 6
    assert not any("zz-secret-medicine" in answer.text for answer in answers)
    assert holder.get(manage_url).status_code == 200  # the manage link still does its own job


@pytest.mark.usefixtures("app_context")
def test_a_fresh_questionnaire_link_keeps_the_one_before_working(app, consultation, mailbox):
    """What a reminder or a reschedule email sends: a new link; the link the patient has open still works."""
    from kapclinic.intake.services import renew_link

    client = app.test_client()
    first_url = book_for_intake(client, consultation, mailbox)
    second_token = renew_link(_intake())
    db.session.commit()
    third_token = renew_link(_intake())
    db.session.commit()
    assert client.get(f"/intake/{third_token}").status_code == 200
    assert client.get(f"/intake/{second_token}").status_code == 200
    assert client.get(first_url).status_code == 404  # two links back: replaced


@pytest.mark.usefixtures("app_context")
def test_thoughts_of_death_show_crisis_help_and_alert_the_front_desk(app, consultation, mailbox):
    client = app.test_client()
    intake_url = book_for_intake(client, consultation, mailbox)
    complete_steps(client, intake_url, ADULT_STEPS[:6])
    saved = post_step(client, intake_url, "phq9", phq9_9="1")  # "Several days"
    assert saved.status_code == 302
    assert "/support" in saved.headers["Location"]
    support = client.get(saved.headers["Location"]).text
    assert "988" in support and "911" in support
    assert "not watched in real time" in support
    assert "Continue the questionnaire" in support and "/step/asq" in support
    intake = _intake()
    assert intake.is_urgent
    flag = next(flag for flag in intake.results["flags"] if flag["code"] == "suicide_risk_phq9")
    assert flag["level"] == "urgent" and "Several days" in flag["answer"]
    alert = next(message for message in mailbox.messages if message["To"] == "frontdesk@clinic.example.org")
    text = alert.as_string()
    for private in ("Ana", "Patient", "ana.patient@example.com", "Sertraline", "Several days"):
        assert private not in text
    assert intake.public_id in text
    # Saving the step again with 0 does not clear the urgent flag, and sends no second alert.
    post_step(client, intake_url, "phq9")
    assert _intake().is_urgent
    assert sum(message["To"] == "frontdesk@clinic.example.org" for message in mailbox.messages) == 1


@pytest.mark.usefixtures("app_context")
def test_asq_yes_asks_the_acuity_question_and_flags_acute_risk(app, consultation, mailbox):
    client = app.test_client()
    intake_url = book_for_intake(client, consultation, mailbox)
    complete_steps(client, intake_url, ADULT_STEPS[:7])
    missing_acuity = post_step(client, intake_url, "asq", asq_2="true")
    assert missing_acuity.status_code == 422
    assert "Please answer this question." in missing_acuity.text
    saved = post_step(client, intake_url, "asq", asq_2="true", asq_5="true")
    assert "/support" in saved.headers["Location"]
    codes = {flag["code"] for flag in _intake().results["flags"]}
    assert "suicide_risk_asq_acute" in codes


@pytest.mark.usefixtures("app_context")
def test_trauma_step_appears_only_when_trauma_is_a_reason(app, consultation, mailbox):
    client = app.test_client()
    intake_url = book_for_intake(client, consultation, mailbox)
    post_step(client, intake_url, "about")
    post_step(client, intake_url, "reasons", reasons=["depression", "trauma"])
    assert "page 1 of 5" in client.get(f"{intake_url}/step/phq9").text  # the trauma page joins its part
    complete_steps(client, intake_url, ADULT_STEPS[2:10])
    assert client.get(f"{intake_url}/step/pcl5").status_code == 200
    post_step(client, intake_url, "pcl5")
    assert _intake().results["scores"]["pcl5"]["total"] == 40
    assert "probable_ptsd" in {flag["code"] for flag in _intake().results["flags"]}
    post_step(client, intake_url, "reasons", reasons=["depression"])
    assert client.get(f"{intake_url}/step/pcl5").status_code == 404
    assert "pcl5" not in _intake().answers


@pytest.mark.usefixtures("app_context")
def test_invalid_answers_are_explained_per_field_keep_what_was_typed_and_save_nothing(app, consultation, mailbox):
    client = app.test_client()
    intake_url = book_for_intake(client, consultation, mailbox)
    complete_steps(client, intake_url, ADULT_STEPS[:4])
    response = post_step(
        client, intake_url, "medical", bp_systolic="400", bp_diastolic="eighty", thyroid=None, medical_other="Knee pain"
    )
    assert response.status_code == 422
    assert "between 60 and 260" in response.text
    assert "whole number" in response.text
    assert "Please answer this question." in response.text
    assert "Knee pain" in response.text and 'value="400"' in response.text
    assert "medical" not in _intake().answers
    future = post_step(client, intake_url, "about", date_of_birth=(date.today() + timedelta(days=3)).isoformat())
    assert future.status_code == 422 and "must be in the past" in future.text
    oversized = post_step(client, intake_url, "reasons", hopes="x" * 5000)
    assert oversized.status_code == 422 and "under 2000 characters" in oversized.text
    hostile = post_step(client, intake_url, "reasons", reasons=["depression", "<script>"], hopes="fine\x00")
    assert hostile.status_code == 422
    assert "<script>" not in hostile.text


def test_expired_session_keeps_the_typed_answers(make_app, sqlite_url, mailbox):
    app = make_app(sqlite_url, WTF_CSRF_ENABLED=True)
    offering = seed_offering(app, "csrf")
    with app.app_context():
        client = app.test_client()
        intake_url = book_for_intake(client, offering, mailbox)
        response = client.post(
            f"{intake_url}/step/reasons", data={"reasons": "anxiety", "hopes": "Sleep better", "csrf_token": "stale"}
        )
        assert response.status_code == 400
        assert "timed out" in response.text
        assert "Sleep better" in response.text
        assert "reasons" not in db.session.scalar(select(Intake)).answers


@pytest.mark.usefixtures("app_context")
def test_adolescent_intake_waits_for_the_guardian_signature(app, consultation, mailbox):
    client = app.test_client()
    fifteen = born_years_ago(15)
    intake_url = book_for_intake(client, consultation, mailbox, date_of_birth=fifteen)
    steps = ADULT_STEPS[:-1] + ["guardian", "consent"]
    complete_steps(client, intake_url, steps, about={"date_of_birth": fifteen})
    assert "under_18" in {flag["code"] for flag in _intake().results["flags"]}
    client.post(f"{intake_url}/review")
    intake = _intake()
    assert intake.status is IntakeStatus.AWAITING_GUARDIAN
    request = next(message for message in mailbox.messages if message["To"] == "grace@example.com")
    consent_path = re.search(
        r"https://clinic\.example\.org(/intake/guardian/\S+)", request.get_body(("plain",)).get_content()
    ).group(1)
    email = request.get_body(("plain",)).get_content()
    # Written for the guardian: whose consultation, when, and why they are asked (the subject names nobody).
    assert "Ana has booked a consultation with Riverside" in email and "because ana is under 18" in email.lower()
    assert "Ana" not in request["Subject"]
    guardian_client = app.test_client()
    page = guardian_client.get(consent_path).text
    assert "<h1>Consent for Ana's consultation</h1>" in page
    assert "I am Ana&#39;s parent or legal guardian" in page  # the guardian's own statement, not the patient's
    assert "I confirm that what I have written is true" not in page
    assert "Sertraline" not in page  # the guardian sees the consent, not the answers, by default
    refused = guardian_client.post(consent_path, data={"signature": "Grace Guardian", "agree": "yes"})
    assert refused.status_code == 422 and "Your relationship to them" in refused.text
    assert 'value="Grace Guardian"' in refused.text  # what was typed stays
    assert _intake().status is IntakeStatus.AWAITING_GUARDIAN
    signed = guardian_client.post(
        consent_path, data={"relationship": "Mother", "signature": "Grace Guardian", "agree": "yes"}
    )
    assert signed.status_code == 200 and "consent is recorded" in signed.text
    intake = _intake()
    assert intake.status is IntakeStatus.SUBMITTED
    consent = intake.guardian_consent
    assert (consent["signature"], consent["relationship"]) == ("Grace Guardian", "Mother")
    assert consent["statement"].startswith("I am Ana's parent or legal guardian")
    assert guardian_status(intake) == "Guardian consent given by Grace Guardian (Mother)"  # the record's summary


def test_a_name_that_is_not_plainly_a_name_never_reaches_the_guardians_inbox(app, consultation, mailbox):
    """Whoever books chooses the guardian's address: a link typed as a name is not sent from the clinic."""
    client = app.test_client()
    fifteen = born_years_ago(15)
    intake_url = book_for_intake(
        client, consultation, mailbox, date_of_birth=fifteen, name="www.win-a-prize.example Now"
    )
    steps = ADULT_STEPS[:-1] + ["guardian", "consent"]
    complete_steps(
        client, intake_url, steps, about={"date_of_birth": fifteen, "legal_name": "Win Now", "preferred_name": None}
    )
    client.post(f"{intake_url}/review")
    request = next(message for message in mailbox.messages if message["To"] == "grace@example.com")
    email = request.get_body(("plain",)).get_content()
    assert "win-a-prize" not in email
    assert "A young person in your care has booked a consultation" in email


def _booked_for_a_ten_year_old(app, client, consultation, mailbox):
    """The booking form refuses a child under the online age (test_booking_web); the front desk books them by phone."""
    intake_url = book_for_intake(client, consultation, mailbox)
    with app.app_context():
        patient = db.session.scalar(select(Booking)).patient
        patient.set_contact(patient.name, patient.email, patient.phone, date.fromisoformat(born_years_ago(10)))
        db.session.commit()
    return intake_url


def test_children_under_the_online_age_are_asked_to_call(app, consultation, mailbox):
    client = app.test_client()
    intake_url = _booked_for_a_ten_year_old(app, client, consultation, mailbox)
    page = client.get(intake_url).text
    assert "Please call the clinic" in page
    assert client.get(f"{intake_url}/step/about").text.count("Please call the clinic") == 1


def test_unknown_intake_links_are_404(client):
    assert client.get("/intake/forged-token").status_code == 404
    assert client.post("/intake/forged-token/step/about").status_code == 404
    assert client.get("/intake/guardian/forged").status_code == 404


def test_rotated_data_key_reads_old_answers_and_reencrypt_moves_them(make_app, sqlite_url, mailbox):
    from cryptography.fernet import Fernet

    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    app = make_app(sqlite_url, DATA_KEYS=[old_key])
    offering = seed_offering(app, "keys")
    with app.app_context():
        client = app.test_client()
        intake_url = book_for_intake(client, offering, mailbox)
        post_step(client, intake_url, "about")
    rotated = make_app(sqlite_url, DATA_KEYS=[new_key, old_key])
    with rotated.app_context():
        assert db.session.scalar(select(Intake)).answers["about"]["city"] == "Springfield"
        result = rotated.test_cli_runner().invoke(args=["intake", "reencrypt"])
        assert result.exit_code == 0 and "intakes: re-encrypted 1 row(s)" in result.output.splitlines()
    new_only = make_app(sqlite_url, DATA_KEYS=[new_key])
    with new_only.app_context():
        assert db.session.scalar(select(Intake)).answers["about"]["city"] == "Springfield"
    old_only = make_app(sqlite_url, DATA_KEYS=[old_key])
    with old_only.app_context(), pytest.raises(RuntimeError, match="cannot be decrypted"):
        db.session.scalar(select(Intake)).answers  # noqa: B018


def test_guardian_contact_details_are_checked(app, consultation, mailbox):
    client = app.test_client()
    fifteen = born_years_ago(15)
    intake_url = book_for_intake(client, consultation, mailbox, date_of_birth=fifteen)
    response = post_step(client, intake_url, "guardian", guardian_email="not-an-email", guardian_phone="12")
    assert response.status_code == 422
    assert "valid email" in response.text and "valid phone" in response.text


@pytest.mark.parametrize(
    ("systolic", "diastolic", "message"),
    [("80", "120", "normally higher"), ("130", "", "both numbers"), ("", "85", "both numbers")],
)
@pytest.mark.usefixtures("app_context")
def test_impossible_blood_pressure_pairs_are_questioned(app, consultation, mailbox, systolic, diastolic, message):
    client = app.test_client()
    intake_url = book_for_intake(client, consultation, mailbox)
    response = post_step(client, intake_url, "medical", bp_systolic=systolic, bp_diastolic=diastolic)
    assert response.status_code == 422
    assert message in response.text
    assert "medical" not in _intake().answers


@pytest.mark.usefixtures("app_context")
def test_changing_the_birth_date_to_an_adults_does_not_skip_the_guardian(app, consultation, mailbox):
    client = app.test_client()
    fifteen = born_years_ago(15)
    intake_url = book_for_intake(client, consultation, mailbox, date_of_birth=fifteen)
    post_step(client, intake_url, "about")  # the intake says 1990
    intake = _intake()
    codes = {flag["code"] for flag in intake.results["flags"]}
    assert {"under_18", "date_of_birth_mismatch"} <= codes
    assert "page 2 of 2" in client.get(f"{intake_url}/step/consent").text  # the guardian page is still there
    assert client.get(f"{intake_url}/step/guardian").status_code == 200


@pytest.mark.usefixtures("app_context")
def test_a_birth_date_typo_does_not_lock_the_patient_out(app, consultation, mailbox):
    client = app.test_client()
    intake_url = book_for_intake(client, consultation, mailbox)
    typo = born_years_ago(9)
    post_step(client, intake_url, "about", date_of_birth=typo)
    page = client.get(f"{intake_url}/step/about").text
    assert "Please call the clinic" not in page
    fixed = post_step(client, intake_url, "about")
    assert fixed.status_code == 302
    assert "date_of_birth_mismatch" not in {flag["code"] for flag in _intake().results["flags"]}


@pytest.mark.usefixtures("app_context")
def test_children_under_the_online_age_cannot_submit(app, consultation, mailbox):
    client = app.test_client()
    intake_url = _booked_for_a_ten_year_old(app, client, consultation, mailbox)
    assert "Please call the clinic" in client.post(f"{intake_url}/review").text
    assert _intake().status is IntakeStatus.DRAFT


@pytest.mark.usefixtures("app_context")
def test_moving_the_consultation_before_the_18th_birthday_asks_for_a_guardian_again(app, mailbox):
    offering = seed_offering(app, "birthday", horizon_days=40)
    client = app.test_client()
    later = offering.starts[0] + timedelta(days=20)
    consultation_day = later.date()
    eighteenth = consultation_day - timedelta(days=10)
    born = eighteenth.replace(year=eighteenth.year - 18).isoformat()
    created = client.post(
        "/api/v1/bookings",
        json=patient_json(offering, instant_param(later), clinician_id=offering.clinician_id, date_of_birth=born),
    )
    assert created.status_code == 201, created.json
    body = mailbox.messages[-1].get_body(("plain",)).get_content()
    intake_url = re.search(r"https://clinic\.example\.org(/intake/\S+)", body).group(1)
    complete_steps(client, intake_url, ADULT_STEPS, about={"date_of_birth": born})
    client.post(f"{intake_url}/review")
    assert _intake().status is IntakeStatus.SUBMITTED
    manage_path = created.json["manage_url"].removeprefix("https://clinic.example.org")
    moved = client.post(
        f"{manage_path}/reschedule/confirm", query_string={"start": instant_param(offering.starts[0]), "tz": "UTC"}
    )
    assert moved.status_code == 302
    intake = _intake()
    assert intake.status is IntakeStatus.DRAFT
    assert "/step/guardian" in client.get(intake_url).text


CLINIC_ZONE = ZoneInfo("America/New_York")  # CLINIC_TIMEZONE in the tests' settings


@pytest.mark.parametrize(
    ("patient_zone", "eighteenth_after_clinic_day", "needs_guardian"),
    [
        # Already the birthday in Kiritimati (UTC+14), still the day before in the clinic.
        ("Pacific/Kiritimati", 1, True),
        # The day before the birthday in both calendars.
        ("Pacific/Pago_Pago", 1, True),
        # 18 on the clinic's calendar, still 17 in Pago Pago (UTC-11): an adult, no guardian asked.
        ("Pacific/Pago_Pago", 0, False),
    ],
)
@pytest.mark.usefixtures("app_context")
def test_age_at_the_consultation_is_decided_on_the_clinics_calendar_whatever_zone_the_patient_picks(
    app, mailbox, patient_zone, eighteenth_after_clinic_day, needs_guardian
):
    # A clinician in Tokyo works 08:00-18:00 there: 18:00-04:00 in New York, so some starts are
    # the next day in Kiritimati and others the day before in Pago Pago (EST and EDT alike).
    offering = seed_offering(app, "far-zones", zone="Asia/Tokyo")
    days_apart = {"Pacific/Kiritimati": 1, "Pacific/Pago_Pago": -1}[patient_zone]
    start = next(
        start
        for start in offering.starts
        if (start.astimezone(ZoneInfo(patient_zone)).date() - start.astimezone(CLINIC_ZONE).date()).days == days_apart
    )
    eighteenth = start.astimezone(CLINIC_ZONE).date() + timedelta(days=eighteenth_after_clinic_day)
    if (eighteenth.month, eighteenth.day) == (2, 29):
        pytest.skip("nobody turns 18 on 29 February")  # 18 years earlier was not a leap year
    born = eighteenth.replace(year=eighteenth.year - 18).isoformat()
    client = app.test_client()
    created = client.post(
        "/api/v1/bookings",
        json=patient_json(
            offering, instant_param(start), clinician_id=offering.clinician_id, date_of_birth=born, tz=patient_zone
        ),
    )
    assert created.status_code == 201, created.json
    intake_url = re.search(
        r"https://clinic\.example\.org(/intake/\S+)", mailbox.messages[-1].get_body(("plain",)).get_content()
    ).group(1)
    assert client.get(f"{intake_url}/step/guardian").status_code == (200 if needs_guardian else 404)
    complete_steps(client, intake_url, ADULT_STEPS[:1], about={"date_of_birth": born})
    assert ("under_18" in {flag["code"] for flag in _intake().results["flags"]}) is needs_guardian


@pytest.mark.parametrize(
    ("consultation_utc", "born", "needs_guardian"),
    [
        # 00:30 on 11 March in New York, the day after clocks went forward (EDT, UTC-4): 18 that day.
        # On the winter offset it would still be 10 March.
        ("2030-03-11T04:30:00+00:00", "2012-03-11", False),
        # 23:30 on 3 November in New York, the day clocks went back (EST, UTC-5): 18 only the next
        # day, which it already is in Kiritimati and would be on the summer offset.
        ("2030-11-04T04:30:00+00:00", "2012-11-04", True),
    ],
)
@pytest.mark.usefixtures("app_context")
def test_age_uses_the_clinics_offset_on_the_consultation_day_across_daylight_saving(
    app, consultation, mailbox, consultation_utc, born, needs_guardian
):
    client = app.test_client()
    intake_url = book_for_intake(client, consultation, mailbox, date_of_birth=born, tz="Pacific/Kiritimati")
    start = datetime.fromisoformat(consultation_utc)
    # The consultation is moved straight in the database to a night of a clock change (no slot offers those).
    db.session.execute(
        update(Booking).values(
            start_dt=start,
            end_dt=start + timedelta(hours=1),
            blocked_start_dt=start,
            blocked_end_dt=start + timedelta(hours=1),
        )
    )
    db.session.commit()
    assert client.get(f"{intake_url}/step/guardian").status_code == (200 if needs_guardian else 404)


@pytest.mark.usefixtures("app_context")
def test_an_urgent_flag_keeps_its_answer_after_the_step_is_saved_again(app, consultation, mailbox):
    client = app.test_client()
    intake_url = book_for_intake(client, consultation, mailbox)
    post_step(client, intake_url, "phq9", phq9_9="2")
    post_step(client, intake_url, "phq9", phq9_9="0")
    intake = _intake()
    assert intake.is_urgent
    kept = next(flag for flag in intake.results["flags"] if flag["code"] == "suicide_risk_phq9")
    assert "More than half the days" in kept["answer"]
    assert kept["changed_dt"]


@pytest.mark.usefixtures("app_context")
def test_a_risk_answer_on_an_unfinished_step_still_shows_help_and_alerts(app, consultation, mailbox):
    client = app.test_client()
    intake_url = book_for_intake(client, consultation, mailbox)
    response = post_step(client, intake_url, "phq9", phq9_9="3", phq9_4=None)
    assert response.status_code == 422
    assert "not watched in real time" in response.text and "988" in response.text
    intake = _intake()
    assert intake.is_urgent
    assert "phq9" not in intake.answers  # the step itself is not saved
    assert any(message["To"] == "frontdesk@clinic.example.org" for message in mailbox.messages)


def test_a_wrong_guardian_address_can_be_corrected_and_the_link_resent(app, consultation, mailbox):
    client = app.test_client()
    fifteen = born_years_ago(15)
    intake_url = book_for_intake(client, consultation, mailbox, date_of_birth=fifteen)
    complete_steps(
        client,
        intake_url,
        ADULT_STEPS[:-1] + ["guardian", "consent"],
        about={"date_of_birth": fifteen},
        guardian={"guardian_email": "typo@example.con"},
    )
    client.post(f"{intake_url}/review")
    first_link = re.search(r"(/intake/guardian/\S+)", mailbox.messages[-1].get_body(("plain",)).get_content()).group(1)
    assert "typo@example.con" in client.get(f"{intake_url}/done").text
    fixed = client.post(
        f"{intake_url}/guardian-details",
        data=MultiDict(
            [(k, v) for k, values in form_for("guardian", guardian_email="grace@example.com").items() for v in values]
        ),
    )
    assert fixed.status_code == 302
    assert mailbox.messages[-1]["To"] == "grace@example.com"
    new_link = re.search(r"(/intake/guardian/\S+)", mailbox.messages[-1].get_body(("plain",)).get_content()).group(1)
    assert client.get(first_link).status_code == 404
    assert client.get(new_link).status_code == 200


@pytest.mark.both_databases
def test_two_devices_saving_at_once_keep_both_steps(make_app, database_url, mailbox):
    """Five fresh intakes, each saved from two devices at the same moment: no step is lost."""
    import threading

    app = make_app(database_url)
    offering = seed_offering(app, "devices")
    client = app.test_client()
    for round_number in range(5):
        start = offering.starts[round_number * 2]
        created = client.post(
            "/api/v1/bookings",
            json=patient_json(
                offering, instant_param(start), clinician_id=offering.clinician_id, email=f"p{round_number}@example.com"
            ),
        )
        assert created.status_code == 201
        body = mailbox.messages[-1].get_body(("plain",)).get_content()
        intake_url = re.search(r"https://clinic\.example\.org(/intake/\S+)", body).group(1)
        barrier = threading.Barrier(2)

        def save(key, url=intake_url, barrier=barrier):
            device = app.test_client()
            barrier.wait()
            assert post_step(device, url, key).status_code == 302

        threads = [threading.Thread(target=save, args=(key,)) for key in ("phq9", "gad7")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        with app.app_context():
            intake = db.session.scalar(
                select(Intake).join(Intake.booking).where(booked_by(f"p{round_number}@example.com"))
            )
            assert {"phq9", "gad7"} <= set(intake.answers), round_number


@pytest.mark.usefixtures("app_context")
def test_outbox_bodies_are_encrypted_at_rest_and_dropped_once_sent(app, consultation, mailbox):
    client = app.test_client()
    mailbox.refuse = True  # the email waits in the outbox
    response = client.post("/api/v1/bookings", json=patient_json(consultation, consultation.starts[0].isoformat()))
    assert response.status_code == 201
    db.session.remove()
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")

    def stored():
        with sqlite3.connect(path) as connection:
            return connection.execute(
                "SELECT status, subject, body_text, body_html, ics FROM outbox_messages"
            ).fetchall()

    waiting = stored()
    assert [row[0] for row in waiting] == ["pending"]
    # Probes with a space, "@" or "/", which the base64 of a Fernet token never holds: a bare "Ana"
    # turned up inside the ciphertext by chance in a few runs in a hundred.
    probes = ("Ana Patient", "ana.patient@example.com", "/intake/", "/manage/")
    for _, subject, *bodies in waiting:
        assert "Ana Patient" not in subject
        for body in bodies:
            assert not [probe for probe in probes if probe in body]
    mailbox.refuse = False
    with app.app_context():
        db.session.execute(update(OutboxMessage).values(next_attempt_dt=now_utc()))
        db.session.commit()
    assert app.test_cli_runner().invoke(args=["outbox", "send"]).output.strip() == "sent 1 message(s)"
    with app.app_context():
        sent = db.session.scalar(select(OutboxMessage))
        assert sent.status is OutboxStatus.SENT
        assert (sent.body_text, sent.body_html, sent.ics) == ("", "", None)  # and its links with them
        db.session.rollback()
