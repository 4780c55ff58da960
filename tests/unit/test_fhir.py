"""What a receiving EHR sees in the intake's FHIR R4 export (kapclinic.intake.fhir).

The Questionnaire and the QuestionnaireResponse are validated with fhir.resources'
R4B models (4.3.0; Questionnaire, QuestionnaireResponse and Observation have the R4
structure). Those models check structure, cardinality, ids and value[x] choices but not
code bindings or invariants, so the tests check the rest themselves: R4 item types and
response statuses, unique linkIds (que-2), enableBehavior with several conditions
(que-12), maxLength only on text types (que-10), and answers that fit their items.

Intakes are built the way the app stores them, as in test_screening: each step's browser
post (tests/intake_answers.py) goes through `validate_step`, steps are kept only when
`steps_for` shows them, and scores are stored in the shape services._store_results uses.
"""

import json
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from kapclinic.intake import questionnaire
from kapclinic.intake.fhir import IntakeAnswers, questionnaire_resource, questionnaire_response_resource
from kapclinic.intake.instruments import INSTRUMENTS
from kapclinic.intake.models import IntakeStatus, ResponseStatus
from kapclinic.intake.questionnaire import QUESTIONNAIRE_VERSION, STEPS, STEPS_BY_KEY
from tests.intake_answers import form_for

TODAY = date(2026, 11, 25)
BASE = "https://clinic.example"
LOINC = "http://loinc.org"
PUBLIC_ID = "5f0c2a8e-7d1b-4c7e-9a55-2b8f6f3d9e10"
PATIENT_NAME = "Zoë Núñez"
BIRTH_DATE = date(1990, 4, 12)
# 08:00 in New York is 13:00 UTC on this date.
AUTHORED = datetime(2026, 11, 25, 8, 0, tzinfo=ZoneInfo("America/New_York"))

# http://hl7.org/fhir/R4/valueset-item-type.html
R4_ITEM_TYPES = {
    "group",
    "display",
    "boolean",
    "decimal",
    "integer",
    "date",
    "dateTime",
    "time",
    "string",
    "text",
    "url",
    "choice",
    "open-choice",
    "attachment",
    "reference",
    "quantity",
}
# The value[x] each item type takes in a response (item-type definitions).
VALUE_KEYS = {
    "boolean": "valueBoolean",
    "integer": "valueInteger",
    "date": "valueDate",
    "string": "valueString",
    "text": "valueString",
    "choice": "valueCoding",
}


# --- building intakes the way the app stores them -----------------------------------


def stored(step_key, **changes):
    answers, errors = questionnaire.validate_step(STEPS_BY_KEY[step_key], form_for(step_key, **changes), TODAY)
    assert errors == {}, f"the test's own answers for {step_key} do not validate: {errors}"
    return answers


def stored_answers(is_minor=False, **changes_by_step):
    """Stored answers for every step the patient sees, with per-step changes."""
    answers_by_step = {}
    for step in STEPS:
        if step.is_shown(answers_by_step):
            answers_by_step[step.key] = stored(step.key, **changes_by_step.get(step.key, {}))
    if is_minor:
        answers_by_step["guardian"] = stored("guardian")
    return {step.key: answers_by_step[step.key] for step in questionnaire.steps_for(answers_by_step, is_minor)}


def stored_results(answers_by_step):
    scores = {}
    for key, answers in answers_by_step.items():
        step = STEPS_BY_KEY[key]
        if step.instrument:
            score = INSTRUMENTS[key].score(questionnaire.instrument_answers(step, answers))
            scores[key] = {
                "total": score.total,
                "severity": score.severity,
                "flags": sorted(score.flags),
                "subscores": score.subscores,
            }
    return {"scores": scores, "flags": []}


def intake(answers, status="completed", is_minor=False, **fields):
    values = {
        "public_id": PUBLIC_ID,
        "questionnaire_version": QUESTIONNAIRE_VERSION,
        "response_status": status,
        "answers": answers,
        "results": stored_results(answers),
        "authored_dt": AUTHORED,
        "is_minor": is_minor,
        "patient_name": PATIENT_NAME,
        "birth_date": BIRTH_DATE,
    }
    return IntakeAnswers(**values | fields)


ADULT = stored_answers()
# A minor who names trauma: every step, the PCL-5 and the guardian included.
MINOR_WITH_TRAUMA = stored_answers(is_minor=True, reasons={"reasons": ["depression", "trauma"]})
COMPLETE_INTAKES = {"adult": intake(ADULT), "minor with trauma": intake(MINOR_WITH_TRAUMA, is_minor=True)}


def the_questionnaire():
    return questionnaire_resource(QUESTIONNAIRE_VERSION, BASE)


def walk(items):
    for item in items:
        yield item
        yield from walk(item.get("item", []))


def questionnaire_items():
    return {item["linkId"]: item for item in walk(the_questionnaire()["item"])}


def response_answers(response, link_id):
    item = next(item for item in walk(response.get("item", [])) if item["linkId"] == link_id)
    return item["answer"]


def observations(response):
    return [resource for resource in response.get("contained", []) if resource["resourceType"] == "Observation"]


def observation(response, loinc_code):
    (found,) = [resource for resource in observations(response) if resource["code"]["coding"][0]["code"] == loinc_code]
    return found


# --- the Questionnaire ----------------------------------------------------------------


def test_questionnaire_is_valid_fhir_with_a_versioned_canonical_url():
    resource = the_questionnaire()

    parsed = Questionnaire.model_validate(resource)

    assert parsed.url == f"{BASE}/Questionnaire/kapclinic-intake"
    assert parsed.version == QUESTIONNAIRE_VERSION
    assert parsed.status == "active"
    assert parsed.id == f"kapclinic-intake-{QUESTIONNAIRE_VERSION}"
    # que-0: a name usable as a machine identifier.
    assert parsed.name[0].isupper() and parsed.name.isalnum()
    assert [group["linkId"] for group in resource["item"]] == [
        "about",
        "reasons",
        "history",
        "medications",
        "medical",
        "psychiatric",
        "phq9",
        "asq",
        "gad7",
        "audit",
        "pcl5",
        "guardian",
        "consent",
    ]


def test_every_link_id_is_unique_across_the_questionnaire():
    link_ids = [item["linkId"] for item in walk(the_questionnaire()["item"])]

    assert len(link_ids) == len(set(link_ids))
    # The step "reasons" has a question "reasons": questions are qualified by their step.
    assert "reasons" in link_ids and "reasons.reasons" in link_ids


def test_every_item_has_an_r4_type_and_our_types_map_onto_them():
    items = questionnaire_items()

    assert {item["type"] for item in items.values()} <= R4_ITEM_TYPES
    assert items["about.phone"]["type"] == "string"
    assert items["guardian.guardian_email"]["type"] == "string"
    assert items["about.date_of_birth"]["type"] == "date"
    assert items["medical.bp_systolic"]["type"] == "integer"
    assert items["consent.agree"]["type"] == "boolean"
    assert items["reasons.hopes"]["type"] == "text"
    assert items["reasons.reasons"]["type"] == "choice" and items["reasons.reasons"]["repeats"] is True
    assert items["about.legal_name"]["required"] is True and "required" not in items["about.region"]


def test_length_limits_travel_only_on_text_items():
    items = questionnaire_items()

    assert items["about.postal_code"]["maxLength"] == 20
    assert items["reasons.hopes"]["maxLength"] == questionnaire.TEXT_MAX
    # que-10: no maxLength on choice, date, integer or boolean items.
    assert all(item["type"] in ("string", "text") for item in items.values() if "maxLength" in item)


@pytest.mark.parametrize("key", ["phq9", "gad7"])
def test_phq9_and_gad7_items_carry_their_loinc_codes(key):
    items = questionnaire_items()
    instrument = INSTRUMENTS[key]

    assert items[key]["code"] == [{"system": LOINC, "code": instrument.loinc_panel}]
    for item in (*instrument.items, *instrument.extra_items):
        exported = items[f"{key}.{item.link_id}"]
        assert exported["code"] == [{"system": LOINC, "code": item.loinc}]
    for item in instrument.items:
        exported = items[f"{key}.{item.link_id}"]
        assert [option["valueCoding"] for option in exported["answerOption"]] == [
            {"system": LOINC, "code": option.loinc, "display": option.label} for option in item.options
        ]


def test_the_phq9_difficulty_answers_carry_their_loinc_answer_codes():
    # LOINC answer list LL359-1 of item 69722-7 (sources in kapclinic.intake.fhir).
    expected = [
        {"system": LOINC, "code": "LA6572-7", "display": "Not difficult at all"},
        {"system": LOINC, "code": "LA6573-5", "display": "Somewhat difficult"},
        {"system": LOINC, "code": "LA6575-0", "display": "Very difficult"},
        {"system": LOINC, "code": "LA6574-3", "display": "Extremely difficult"},
    ]
    item = questionnaire_items()["phq9.phq9_difficulty"]
    assert [option["valueCoding"] for option in item["answerOption"]] == expected

    answers = stored_answers(phq9={"phq9_difficulty": "2"})
    response = questionnaire_response_resource(intake(answers), BASE)
    assert response_answers(response, "phq9.phq9_difficulty") == [{"valueCoding": expected[2]}]


def test_every_audit_item_carries_its_loinc_code():
    # Panel 72110-0, LOINC 2.80 (https://cdn.loinc.org/72110-0).
    items = questionnaire_items()
    codes = [items[f"audit.audit_{number}"]["code"] for number in range(1, 11)]
    assert codes == [
        [{"system": LOINC, "code": code}]
        for code in (
            "68518-0",
            "68519-8",
            "68520-6",
            "97734-8",
            "97735-5",
            "97736-3",
            "97737-1",
            "97738-9",
            "97739-7",
            "97740-5",
        )
    ]


def test_options_without_loinc_codes_use_one_code_system_per_question():
    items = questionnaire_items()

    # "0" means "Never" in AUDIT item 1 and "1 or 2" in item 2: the systems keep them apart.
    first, second = items["audit.audit_1"]["answerOption"][0], items["audit.audit_2"]["answerOption"][0]
    assert first["valueCoding"]["code"] == second["valueCoding"]["code"] == "0"
    assert first["valueCoding"]["system"] != second["valueCoding"]["system"]
    assert first["valueCoding"]["system"].startswith(f"{BASE}/")


def test_enable_when_names_an_earlier_question_and_one_of_its_answers():
    items = questionnaire_items()
    order = list(items)

    for link_id, item in items.items():
        conditions = item.get("enableWhen", [])
        for condition in conditions:
            controlling = items[condition["question"]]
            assert order.index(condition["question"]) < order.index(link_id)
            if condition["operator"] == "exists":
                assert condition["answerBoolean"] is True
            else:
                assert condition["operator"] == "="
                assert condition["answerCoding"] in [option["valueCoding"] for option in controlling["answerOption"]]
        # que-12: enableBehavior exactly when there is more than one condition.
        assert ("enableBehavior" in item) == (len(conditions) > 1)
    assert items["asq.asq_5"]["enableBehavior"] == "any"
    assert items["history.ad1_dose"]["enableWhen"] == [
        {"question": "history.ad1_name", "operator": "exists", "answerBoolean": True}
    ]
    # The PCL-5 is asked only of patients who name trauma.
    assert items["pcl5"]["enableWhen"][0]["question"] == "reasons.reasons"
    assert items["pcl5"]["enableWhen"][0]["answerCoding"]["code"] == "trauma"


# --- the QuestionnaireResponse --------------------------------------------------------


@pytest.mark.parametrize("who", COMPLETE_INTAKES)
def test_complete_response_is_valid_fhir_and_labelled(who):
    response = questionnaire_response_resource(COMPLETE_INTAKES[who], BASE)

    parsed = QuestionnaireResponse.model_validate(response)

    assert parsed.id == PUBLIC_ID
    assert response["status"] == "completed"
    assert response["questionnaire"] == f"{BASE}/Questionnaire/kapclinic-intake|{QUESTIONNAIRE_VERSION}"
    assert response["authored"] == "2026-11-25T13:00:00Z"
    assert datetime.fromisoformat(response["authored"]).utcoffset() == UTC.utcoffset(None)
    assert response["identifier"] == {"system": f"{BASE}/intake", "value": PUBLIC_ID}


@pytest.mark.parametrize("who", COMPLETE_INTAKES)
def test_the_response_says_whose_it_is_with_a_contained_patient(who):
    response = questionnaire_response_resource(COMPLETE_INTAKES[who], BASE)

    # No Patient server to point at: the patient travels inside the response (dom-3: referenced).
    assert QuestionnaireResponse.model_validate(response).subject.reference == "#patient"
    (patient,) = [resource for resource in response["contained"] if resource["resourceType"] == "Patient"]
    parsed = Patient.model_validate(patient)
    assert parsed.id == "patient"
    assert parsed.name[0].text == PATIENT_NAME and parsed.birthDate == BIRTH_DATE
    # The scores are about the same patient.
    assert {score["subject"]["reference"] for score in observations(response)} == {"#patient"}


@pytest.mark.parametrize("who", COMPLETE_INTAKES)
def test_response_items_sit_where_the_questionnaire_puts_them_in_its_order(who):
    groups = the_questionnaire()["item"]
    response = questionnaire_response_resource(COMPLETE_INTAKES[who], BASE)
    group_order = [group["linkId"] for group in groups]
    children = {group["linkId"]: [child["linkId"] for child in group["item"]] for group in groups}

    exported = [group["linkId"] for group in response["item"]]
    assert exported == sorted(exported, key=group_order.index)
    assert set(exported) == set(COMPLETE_INTAKES[who].answers)
    for group in response["item"]:
        linked = [item["linkId"] for item in group["item"]]
        assert set(linked) <= set(children[group["linkId"]])
        assert linked == sorted(linked, key=children[group["linkId"]].index)
        assert all("item" not in item for item in group["item"])


@pytest.mark.parametrize("who", COMPLETE_INTAKES)
def test_every_answer_has_the_value_type_of_its_item(who):
    items = questionnaire_items()
    response = questionnaire_response_resource(COMPLETE_INTAKES[who], BASE)

    answered = [item for group in response["item"] for item in group["item"]]
    assert answered
    for item in answered:
        question = items[item["linkId"]]
        for answer in item["answer"]:
            (key,) = answer
            assert key == VALUE_KEYS[question["type"]], item["linkId"]
            if key == "valueCoding":
                assert answer[key] in [option["valueCoding"] for option in question["answerOption"]]
            if key == "valueDate":
                date.fromisoformat(answer[key])
        assert len(item["answer"]) == 1 or question.get("repeats")


def test_answers_come_out_as_the_patient_gave_them():
    response = questionnaire_response_resource(intake(ADULT), BASE)

    assert response_answers(response, "about.date_of_birth") == [{"valueDate": "1990-04-12"}]
    assert response_answers(response, "medical.bp_systolic") == [{"valueInteger": 122}]
    assert response_answers(response, "consent.agree") == [{"valueBoolean": True}]
    assert response_answers(response, "history.ad1_name") == [{"valueString": "Sertraline"}]
    assert response_answers(response, "phq9.phq9_1") == [
        {"valueCoding": {"system": LOINC, "code": "LA6569-3", "display": "Several days"}}
    ]


def test_repeating_choice_exports_one_answer_per_selection():
    response = questionnaire_response_resource(intake(ADULT), BASE)

    codes = [answer["valueCoding"]["code"] for answer in response_answers(response, "reasons.reasons")]

    assert codes == ["depression", "anxiety"]


def test_leftover_answers_to_hidden_questions_are_not_exported():
    answers = {key: dict(values) for key, values in ADULT.items()}
    # Left behind by an older save: details of a ketamine history the patient now says
    # they do not have, and an acuity answer (plus its details) after four "No"s.
    answers["history"]["prior_treatment_details"] = "Six infusions"
    answers["asq"] |= {"asq_5": "true", "asq_5_describe": "leftover"}

    response = questionnaire_response_resource(intake(answers), BASE)

    exported = {item["linkId"] for item in walk(response["item"])}
    assert "history.had_ketamine" in exported
    assert {"history.prior_treatment_details", "asq.asq_5", "asq.asq_5_describe"}.isdisjoint(exported)
    # Values that are not answers to questions stay out too.
    assert "consent.signed_at" not in exported
    QuestionnaireResponse.model_validate(response)


def test_steps_the_patient_no_longer_sees_are_not_exported():
    answers = ADULT | {"pcl5": MINOR_WITH_TRAUMA["pcl5"], "guardian": MINOR_WITH_TRAUMA["guardian"]}
    results = stored_results(answers)

    response = questionnaire_response_resource(intake(answers, results=results), BASE)

    assert {"pcl5", "guardian"}.isdisjoint(group["linkId"] for group in response["item"])
    assert INSTRUMENTS["pcl5"].loinc_total not in {
        resource["code"]["coding"][0]["code"] for resource in observations(response)
    }


def test_draft_response_is_in_progress_and_its_scores_preliminary():
    answers = {key: ADULT[key] for key in ("about", "reasons", "phq9")}

    response = questionnaire_response_resource(intake(answers, status="in-progress"), BASE)

    QuestionnaireResponse.model_validate(response)
    assert response["status"] == "in-progress"
    assert [group["linkId"] for group in response["item"]] == ["about", "reasons", "phq9"]
    assert observation(response, INSTRUMENTS["phq9"].loinc_total)["status"] == "preliminary"


def test_resources_survive_a_json_round_trip():
    record = intake(MINOR_WITH_TRAUMA, status=ResponseStatus.COMPLETED, is_minor=True)

    for resource in (the_questionnaire(), questionnaire_response_resource(record, BASE)):
        assert json.loads(json.dumps(resource)) == resource
    assert type(questionnaire_response_resource(record, BASE)["status"]) is str


@pytest.mark.parametrize(
    ("key", "severity"), [("phq9", "Mild"), ("gad7", "Moderate"), ("audit", "Low risk"), ("pcl5", "Probable PTSD")]
)
def test_total_scores_are_contained_observations_with_their_loinc_code(key, severity):
    instrument = INSTRUMENTS[key]
    step = STEPS_BY_KEY[key]
    expected = instrument.score(questionnaire.instrument_answers(step, MINOR_WITH_TRAUMA[key])).total

    response = questionnaire_response_resource(COMPLETE_INTAKES["minor with trauma"], BASE)

    found = observation(response, instrument.loinc_total)
    assert found["code"]["coding"] == [{"system": LOINC, "code": instrument.loinc_total}]
    assert found["valueInteger"] == expected
    assert found["interpretation"] == [{"text": severity}]
    assert found["status"] == "final"
    assert found["effectiveDateTime"] == response["authored"]
    # Linked to the response that holds it (dom-3).
    assert found["derivedFrom"] == [{"reference": "#"}]


def test_only_instruments_with_a_total_score_get_an_observation():
    response = questionnaire_response_resource(intake(ADULT), BASE)

    # The ASQ has no total; the PCL-5 was not asked.
    assert [resource["id"] for resource in observations(response)] == ["phq9-total", "gad7-total", "audit-total"]


@pytest.mark.parametrize(
    "change",
    [
        {"questionnaire_version": "2025-01.1"},
        {"response_status": IntakeStatus.SUBMITTED},
        {"authored_dt": datetime(2026, 11, 25, 12, 0)},
        {"public_id": "not a FHIR id"},
    ],
    ids=["unknown version", "intake status instead of response status", "naive time", "bad id"],
)
def test_responses_that_would_misdescribe_the_intake_are_refused(change):
    with pytest.raises(ValueError):
        questionnaire_response_resource(intake(ADULT, **change), BASE)


def test_an_unknown_questionnaire_version_is_refused():
    with pytest.raises(ValueError):
        questionnaire_resource("2025-01.1", BASE)
