"""Moving through the questionnaire: Back, progress by named part, "Save and finish later", add-another rows."""

import re

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from kapclinic.extensions import db
from kapclinic.intake.models import Intake
from tests.helpers import seed_offering
from tests.intake_answers import ADULT_STEPS, book_for_intake, complete_steps, form_for, post_step


@pytest.fixture
def consultation(app):
    return seed_offering(app, "pages")


@pytest.fixture
def patient(app):
    return app.test_client()


def _intake():
    db.session.expire_all()
    return db.session.scalar(select(Intake))


def _later(client, intake_url, key, **changes):
    form = [(name, value) for name, values in form_for(key, **changes).items() for value in values]
    return client.post(f"{intake_url}/step/{key}", data=MultiDict([*form, ("action", "later")]))


def _progress_line(page):
    return re.search(r'class="progress-part">([^<]+)</span>', page).group(1)


@pytest.mark.usefixtures("app_context")
def test_progress_names_the_part_and_its_total_does_not_change_when_the_trauma_page_appears(
    patient, consultation, mailbox
):
    intake_url = book_for_intake(patient, consultation, mailbox)
    assert _progress_line(patient.get(f"{intake_url}/step/about").text) == "Part 1 of 4: About you"
    complete_steps(patient, intake_url, ["about", "reasons"])
    history = patient.get(f"{intake_url}/step/history").text
    assert _progress_line(history) == "Part 2 of 4: Your health and treatment"
    assert "page 1 of 4" in history
    assert 'aria-current="step">Your health and treatment' in history
    mood = patient.get(f"{intake_url}/step/phq9").text
    assert _progress_line(mood) == "Part 3 of 4: How you have been feeling" and "page 1 of 4" in mood

    # Trauma is now a reason: one more page in part 3, still 4 parts in all.
    post_step(patient, intake_url, "reasons", reasons=["depression", "trauma"])
    mood = patient.get(f"{intake_url}/step/phq9").text
    assert _progress_line(mood) == "Part 3 of 4: How you have been feeling" and "page 1 of 5" in mood
    assert _progress_line(patient.get(f"{intake_url}/step/consent").text) == "Part 4 of 4: Consent"


@pytest.mark.usefixtures("app_context")
def test_back_goes_to_the_page_before_with_its_answers_and_from_the_first_page_to_the_start(
    patient, consultation, mailbox
):
    intake_url = book_for_intake(patient, consultation, mailbox)
    first = patient.get(f"{intake_url}/step/about").text
    assert re.search(rf'class="back"><a href="{re.escape(intake_url)}">Back</a>', first)
    complete_steps(patient, intake_url, ["about", "reasons"])
    history = patient.get(f"{intake_url}/step/history").text
    back = re.search(r'class="back"><a href="([^"]+)">Back</a>', history).group(1)
    assert back == f"{intake_url}/step/reasons"
    assert "Feel like myself again" in patient.get(back).text  # the earlier page keeps its saved answers
    complete_steps(patient, intake_url, ADULT_STEPS[2:])
    review = patient.get(f"{intake_url}/review").text
    assert re.search(rf'class="back"><a href="{re.escape(intake_url)}/step/consent">Back</a>', review)


@pytest.mark.usefixtures("app_context")
def test_save_and_finish_later_keeps_a_half_filled_page_as_typed_and_opens_it_again(patient, consultation, mailbox):
    intake_url = book_for_intake(patient, consultation, mailbox)
    complete_steps(patient, intake_url, ["about", "reasons"])
    # Half a page: a medicine typed, the required questions below it not answered yet.
    response = _later(patient, intake_url, "history", ad1_name="Bupropion", had_ect=None, had_tms=None)
    assert response.status_code == 302 and response.headers["Location"].startswith(f"{intake_url}/saved")
    saved = patient.get(response.headers["Location"]).text
    assert "Your answers are saved" in saved and "/links" in saved  # how to come back, and links sent again
    intake = _intake()
    assert "history" not in intake.answers  # not valid yet, so not an answer
    assert intake.draft_answers["history"]["ad1_name"] == "Bupropion"

    # Another day, another device: the link opens where they stopped, with what they typed.
    other_device = patient.application.test_client()
    start = other_device.get(intake_url).text
    assert f"{intake_url}/step/history" in start
    page = other_device.get(f"{intake_url}/step/history").text
    assert 'value="Bupropion"' in page and "saved this page to finish later" in page

    # Saving it properly turns the draft into answers and drops it.
    assert post_step(other_device, intake_url, "history", ad1_name="Bupropion").status_code == 302
    intake = _intake()
    assert intake.answers["history"]["ad1_name"] == "Bupropion"
    assert intake.draft_answers is None


@pytest.mark.usefixtures("app_context")
def test_a_first_page_saved_half_done_is_continued_not_started_again(patient, consultation, mailbox):
    intake_url = book_for_intake(patient, consultation, mailbox)
    assert _later(patient, intake_url, "about", city=None, postal_code=None).status_code == 302
    start = patient.get(intake_url).text
    assert "Continue where you left off" in start and f"{intake_url}/step/about" in start


@pytest.mark.usefixtures("app_context")
def test_save_and_finish_later_on_a_complete_page_saves_it_as_answers(patient, consultation, mailbox):
    intake_url = book_for_intake(patient, consultation, mailbox)
    assert _later(patient, intake_url, "about").status_code == 302
    intake = _intake()
    assert intake.answers["about"]["city"] and intake.draft_answers is None
    assert f"{intake_url}/step/reasons" in patient.get(intake_url).text


@pytest.mark.usefixtures("app_context")
def test_a_risk_answer_saved_for_later_still_alerts_and_shows_help(patient, consultation, mailbox):
    intake_url = book_for_intake(patient, consultation, mailbox)
    response = _later(patient, intake_url, "phq9", phq9_9="3", phq9_4=None)
    assert response.status_code == 302
    saved = patient.get(response.headers["Location"]).text
    assert "988" in saved and "Help right now" in saved
    assert _intake().is_urgent
    assert any(message["To"] == "frontdesk@clinic.example.org" for message in mailbox.messages)


@pytest.mark.usefixtures("app_context")
def test_antidepressants_show_one_row_per_answer_and_add_another_adds_one(patient, consultation, mailbox):
    intake_url = book_for_intake(patient, consultation, mailbox)
    complete_steps(patient, intake_url, ["about", "reasons"])
    page = patient.get(f"{intake_url}/step/history").text
    assert len(re.findall(r'<fieldset class="row" id="antidepressant-\d+">', page)) == 1  # one open row
    assert len(re.findall(r'<fieldset class="row" id="antidepressant-\d+" hidden>', page)) == 4

    # Without JavaScript "Add another" posts the page back: one more row, what was typed kept, nothing saved.
    form = [(name, value) for name, values in form_for("history").items() for value in values]  # two medicines
    added = patient.post(f"{intake_url}/step/history", data=MultiDict([*form, ("action", "add-row")]))
    assert added.status_code == 200
    assert len(re.findall(r'<fieldset class="row" id="antidepressant-\d+">', added.text)) == 3
    assert 'value="Sertraline"' in added.text and 'value="Bupropion"' in added.text
    assert "history" not in _intake().answers

    post_step(patient, intake_url, "history", ad3_name="Escitalopram", ad3_response="no_help")
    page = patient.get(f"{intake_url}/step/history").text
    assert len(re.findall(r'<fieldset class="row" id="antidepressant-\d+">', page)) == 3
    assert _intake().answers["history"]["ad3_name"] == "Escitalopram"


@pytest.mark.usefixtures("app_context")
def test_every_row_open_offers_no_more(patient, consultation, mailbox):
    intake_url = book_for_intake(patient, consultation, mailbox)
    complete_steps(patient, intake_url, ["about", "reasons"])
    post_step(patient, intake_url, "history", **{f"ad{row}_name": f"Medicine {row}" for row in range(1, 6)})
    page = patient.get(f"{intake_url}/step/history").text
    assert "Add another antidepressant" not in page
    assert not re.search(r'<fieldset class="row" id="antidepressant-\d+" hidden>', page)
