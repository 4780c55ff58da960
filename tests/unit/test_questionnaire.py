"""User stories for the intake questionnaire (kapclinic.intake.questionnaire).

A patient fills the intake one step at a time; each post is a mapping of field name to
a list of strings, as browsers send it (tests/intake_answers.py, `form_for`).
`validate_step` turns it into typed answers and one message per question. These tests
read as what the patient, the clinician and the clinic expect: answers are trimmed and
typed; each question type refuses what it cannot hold with a message written for the
patient; email and phone answers go through the same checks as the booking form
(kapclinic.core.validation); follow-up questions count only when the answer
that reveals them is given (FHIR enableWhen, "all" and "any"); hostile input never
makes validation raise; the steps shown depend on the reasons given and the patient's
age; the instrument steps carry the published wording and credit line; and stored
answers map back to the values the instruments score.

`TODAY` is fixed so that date answers do not depend on the day the tests run. The
Hypothesis example database is disabled so that runs leave no files behind.
"""

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapclinic.core import validation
from kapclinic.intake import questionnaire
from kapclinic.intake.instruments import INSTRUMENTS
from kapclinic.intake.questionnaire import (
    GUARDIAN,
    LINE_MAX,
    STEPS,
    STEPS_BY_KEY,
    TEXT_MAX,
    Question,
    instrument_answers,
    steps_for,
    validate_step,
)
from kapclinic.intake.sample_answers import SAMPLE_ANSWERS as VALID
from tests.intake_answers import form_for

TODAY = date(2026, 6, 1)
ANSWER_PLEASE = "Please answer this question."
INVISIBLE = "Please remove the invisible characters from this answer."
ALL_STEPS = (*STEPS, GUARDIAN)


def validate(step_key, **changes):
    return validate_step(STEPS_BY_KEY[step_key], form_for(step_key, **changes), TODAY)


def answer_and_error(step_key, link_id, posted, **other_changes):
    """The stored answer (or None) and the message (or None) for one posted value."""
    answers, errors = validate(step_key, **{link_id: posted}, **other_changes)
    others = {key for key in errors if key != link_id}
    assert not others, f"unexpected errors {errors}"
    return answers.get(link_id), errors.get(link_id)


def question(step_key, link_id):
    return next(item for item in STEPS_BY_KEY[step_key].questions if item.link_id == link_id)


# --- the valid answers ----------------------------------------------------------------


@pytest.mark.parametrize("step_key", [step.key for step in ALL_STEPS])
def test_a_patient_who_answers_every_step_properly_sees_no_messages(step_key):
    answers, errors = validate(step_key)

    assert errors == {}
    assert answers  # something was stored


# --- short answers ("string") and long answers ("text") ---------------------------------


def test_short_answers_are_trimmed():
    assert answer_and_error("about", "legal_name", "   Ana  Patient \t ") == ("Ana  Patient", None)


def test_short_answers_are_normalised_to_composed_unicode():
    # "e" + combining acute accent is stored as the single character "é".
    assert answer_and_error("about", "city", "Montre\u0301al") == ("Montr\u00e9al", None)


@pytest.mark.parametrize(
    ("link_id", "limit"),
    [("legal_name", LINE_MAX), ("pronouns", 40), ("postal_code", 20)],
)
def test_a_short_answer_longer_than_its_limit_is_refused_with_the_limit_named(link_id, limit):
    assert answer_and_error("about", link_id, "x" * limit) == ("x" * limit, None)
    assert answer_and_error("about", link_id, "x" * (limit + 1)) == (
        None,
        f"Please keep this under {limit} characters.",
    )


def test_the_limit_counts_the_trimmed_answer():
    assert answer_and_error("about", "pronouns", "  " + "x" * 40 + "  ") == ("x" * 40, None)


def test_a_long_answer_has_a_limit_of_2000_characters():
    assert TEXT_MAX == 2000
    assert answer_and_error("reasons", "hopes", "x" * TEXT_MAX) == ("x" * TEXT_MAX, None)
    assert answer_and_error("reasons", "hopes", "x" * (TEXT_MAX + 1)) == (
        None,
        "Please keep this under 2000 characters.",
    )


@pytest.mark.parametrize("text", ["sertraline 100 mg\nvitamin D", "line one\r\nline two", "name\tdose"])
def test_a_long_answer_keeps_its_line_breaks_and_tabs(text):
    assert answer_and_error("medications", "medication_list", text) == (text, None)


@pytest.mark.parametrize("text", ["Ana\nPatient", "Ana\rPatient", "Ana\tPatient"])
def test_a_short_answer_refuses_line_breaks_and_tabs(text):
    assert answer_and_error("about", "legal_name", text) == (None, INVISIBLE)


@pytest.mark.parametrize(
    ("step_key", "link_id"),
    [
        ("about", "legal_name"),
        ("reasons", "hopes"),
        ("about", "phone"),
        ("guardian", "guardian_email"),
        ("medical", "bp_systolic"),
        ("about", "date_of_birth"),
        ("medical", "thyroid"),
        ("consent", "agree"),
    ],
)
@pytest.mark.parametrize("bad", ["Ana\x00Patient", "\x00", "Ana\x07", "Ana\x1bPatient", "Ana\x7f", "A\x0bB", "A\x9bB"])
def test_control_characters_and_nul_are_refused_in_every_kind_of_answer(step_key, link_id, bad):
    answers, errors = validate(step_key, **{link_id: bad})

    assert link_id not in answers
    assert errors[link_id] == INVISIBLE


def test_a_blank_optional_answer_is_not_stored():
    answers, errors = validate("about", preferred_name="   ")

    assert "preferred_name" not in answers
    assert errors == {}


# --- whole numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("posted", "stored", "message"),
    [
        ("60", 60, None),
        ("260", 260, None),
        (" 135 ", 135, None),
        ("0120", 120, None),
        ("59", None, "Please check this number: it should be between 60 and 260."),
        ("261", None, "Please check this number: it should be between 60 and 260."),
        ("0", None, "Please check this number: it should be between 60 and 260."),
        ("-120", None, "Please enter a whole number."),
        ("+120", None, "Please enter a whole number."),
        ("120.5", None, "Please enter a whole number."),
        ("1e2", None, "Please enter a whole number."),
        ("12O", None, "Please enter a whole number."),
        ("120 mmHg", None, "Please enter a whole number."),
        ("\uff11\uff12\uff10", None, "Please enter a whole number."),  # full-width digits
        ("\u0661\u0662\u0660", None, "Please enter a whole number."),  # Arabic-Indic digits
        ("99999999999999999999", None, "Please enter a whole number."),
    ],
)
def test_the_systolic_blood_pressure_is_a_whole_number_from_60_to_260(posted, stored, message):
    answer = answer_and_error("medical", "bp_systolic", posted, bp_diastolic="40")

    assert answer == (stored, message)
    assert answer[0] is None or type(answer[0]) is int


def test_the_diastolic_blood_pressure_is_a_whole_number_from_30_to_160():
    message = "Please check this number: it should be between 30 and 160."
    assert answer_and_error("medical", "bp_diastolic", "30", bp_systolic="200") == (30, None)
    assert answer_and_error("medical", "bp_diastolic", "160", bp_systolic="200") == (160, None)
    assert answer_and_error("medical", "bp_diastolic", "29", bp_systolic="200") == (None, message)
    assert answer_and_error("medical", "bp_diastolic", "161", bp_systolic="200") == (None, message)
    assert answer_and_error("medical", "bp_diastolic", "x", bp_systolic="200") == (None, "Please enter a whole number.")


def test_a_patient_who_does_not_know_their_blood_pressure_may_leave_both_numbers_blank():
    answers, errors = validate("medical", bp_systolic=None, bp_diastolic=["  "])

    assert errors == {}
    assert "bp_systolic" not in answers and "bp_diastolic" not in answers


@pytest.mark.parametrize(
    ("systolic", "diastolic", "errors"),
    [
        ("122", None, {"bp_diastolic": "Please give both numbers, or leave both blank."}),
        (None, "78", {"bp_systolic": "Please give both numbers, or leave both blank."}),
        ("80", "80", {"bp_systolic": "The top number is normally higher than the bottom one. Please check them."}),
        ("78", "122", {"bp_systolic": "The top number is normally higher than the bottom one. Please check them."}),
        ("81", "80", {}),
    ],
)
def test_the_two_blood_pressure_numbers_are_checked_together(systolic, diastolic, errors):
    assert validate("medical", bp_systolic=systolic, bp_diastolic=diastolic)[1] == errors


# --- dates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("posted", "stored", "message"),
    [
        ("1990-04-12", "1990-04-12", None),
        (" 1990-04-12 ", "1990-04-12", None),
        ("2026-05-31", "2026-05-31", None),
        ("1906-01-01", "1906-01-01", None),
        ("2026-06-01", None, "This date must be in the past."),
        ("2026-06-02", None, "This date must be in the past."),
        ("2090-01-01", None, "This date must be in the past."),
        ("1905-12-31", None, "Please check the year."),
        ("0001-01-01", None, "Please check the year."),
        ("2023-02-29", None, "Please enter a whole date: month, day and year."),
        ("1990-13-01", None, "Please enter a whole date: month, day and year."),
        ("12/04/1990", None, "Please enter a whole date: month, day and year."),
        ("1990-4-12", None, "Please enter a whole date: month, day and year."),
        ("yesterday", None, "Please enter a whole date: month, day and year."),
    ],
)
def test_a_date_of_birth_must_be_a_real_date_in_the_past(posted, stored, message):
    assert answer_and_error("about", "date_of_birth", posted) == (stored, message)


# --- email and phone use the shared checks ----------------------------------------------------


@pytest.mark.parametrize("posted", ["grace@example.com", "Grace@EXAMPLE.com", "  grace.g+kap@example.org "])
def test_a_guardian_email_is_stored_as_the_shared_check_normalises_it(posted):
    assert answer_and_error("guardian", "guardian_email", posted) == (validation.clean_email(posted), None)


@pytest.mark.parametrize(
    "posted", ["not-an-email", "grace@example", "grace@@example.com", "grace example.com", "@example.com"]
)
def test_a_bad_guardian_email_gets_the_shared_message(posted):
    with pytest.raises(validation.InvalidField) as refused:
        validation.clean_email(posted)

    assert answer_and_error("guardian", "guardian_email", posted) == (None, str(refused.value))


def test_an_email_longer_than_254_characters_is_refused():
    posted = "a" * 250 + "@example.com"
    stored, message = answer_and_error("guardian", "guardian_email", posted)

    assert stored is None
    assert message == "Please keep this under 254 characters."


@pytest.mark.parametrize(
    ("link_id", "posted", "stored"),
    [
        ("phone", "+1 212 555 0100", "+12125550100"),
        ("phone", "(212) 555-0100", "+12125550100"),
        ("emergency_phone", "212.555.0101", "+12125550101"),
        ("phone", "+44 20 7946 0958", "+442079460958"),
    ],
)
def test_phone_numbers_are_stored_in_e164_form(link_id, posted, stored):
    assert validation.clean_phone(posted) == stored
    assert answer_and_error("about", link_id, posted) == (stored, None)


@pytest.mark.parametrize("posted", ["12345", "abc", "555-0100", "+1 212 555", "+999 1234567"])
def test_a_bad_phone_number_gets_the_shared_message(posted):
    with pytest.raises(validation.InvalidField) as refused:
        validation.clean_phone(posted)

    assert answer_and_error("about", "phone", posted) == (None, str(refused.value))
    assert answer_and_error("guardian", "guardian_phone", posted) == (None, str(refused.value))


# --- choices ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["no", "controlled", "uncontrolled", "unsure"])
def test_a_single_choice_stores_the_code_chosen(code):
    assert answer_and_error("medical", "high_blood_pressure", code) == (code, None)


@pytest.mark.parametrize(
    "posted", ["maybe", "Yes", "YES", "Yes, and it is controlled", "controlled; DROP TABLE", "0", "true"]
)
def test_a_single_choice_refuses_codes_that_are_not_offered(posted):
    assert answer_and_error("medical", "high_blood_pressure", posted) == (
        None,
        "Please choose one of the options given.",
    )


def test_an_instrument_item_refuses_a_score_outside_its_scale():
    assert answer_and_error("phq9", "phq9_1", "4") == (None, "Please choose one of the options given.")
    assert answer_and_error("audit", "audit_9", "1") == (None, "Please choose one of the options given.")
    assert answer_and_error("audit", "audit_9", "2") == ("2", None)


def test_several_choices_are_stored_in_the_order_the_options_are_shown():
    answers, errors = validate(
        "reasons", reasons=["other", "depression", "trauma", "depression"], reasons_other="grief"
    )

    assert errors == {}
    assert answers["reasons"] == ["depression", "trauma", "other"]


@pytest.mark.parametrize("posted", [["depression", "burnout"], ["Depression"], [" depression"], ["depression\x00"]])
def test_several_choices_refuse_any_code_that_is_not_offered(posted):
    assert answer_and_error("reasons", "reasons", posted) == (None, "Please choose from the options given.")


def test_several_choices_with_nothing_chosen_is_unanswered():
    answers, errors = validate("reasons", reasons=["", ""])

    assert "reasons" not in answers
    assert errors == {"reasons": ANSWER_PLEASE}


# --- tick boxes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("posted", ["y", "yes", "on", "true", "1", " on "])
def test_a_ticked_box_is_stored_as_true(posted):
    assert answer_and_error("consent", "agree", posted) == (True, None)


@pytest.mark.parametrize("posted", ["no", "false", "off", "0", "n", "YES", "checked", "2"])
def test_a_tick_box_accepts_nothing_but_a_tick(posted):
    assert answer_and_error("consent", "agree", posted) == (None, "Please tick the box or leave it empty.")


def test_an_unticked_box_that_is_required_asks_for_an_answer():
    answers, errors = validate("consent", agree=None)

    assert "agree" not in answers
    assert errors == {"agree": ANSWER_PLEASE}


# --- required answers ------------------------------------------------------------------------------


@pytest.mark.parametrize("step", ALL_STEPS, ids=[step.key for step in ALL_STEPS])
def test_an_empty_step_asks_for_every_required_question_that_shows(step):
    answers, errors = validate_step(step, {}, TODAY)

    shown_required = {item.link_id for item in step.questions if item.required and item.is_enabled({})}
    assert answers == {}
    assert errors == dict.fromkeys(shown_required, ANSWER_PLEASE)


@pytest.mark.parametrize("blank", ["", "   ", "\n\t"])
def test_a_blank_required_answer_asks_for_an_answer(blank):
    answers, errors = validate("about", legal_name=blank, city=[blank])

    assert errors == {"legal_name": ANSWER_PLEASE, "city": ANSWER_PLEASE}
    assert "legal_name" not in answers


def test_the_last_value_posted_for_a_single_answer_counts():
    assert answer_and_error("about", "legal_name", ["First Try", "Ana Patient"]) == ("Ana Patient", None)


# --- follow-up questions (enableWhen) -----------------------------------------------------------------


def test_tell_us_what_else_is_kept_only_when_something_else_is_chosen():
    answers, errors = validate("reasons", reasons=["depression", "other"], reasons_other="grief")
    assert errors == {}
    assert answers["reasons_other"] == "grief"

    answers, errors = validate("reasons", reasons=["depression"], reasons_other="grief")
    assert errors == {}
    assert "reasons_other" not in answers


def test_a_hidden_follow_up_is_dropped_with_its_errors():
    answers, errors = validate("reasons", reasons=["depression"], reasons_other="x\x00" + "y" * 500)

    assert errors == {}
    assert "reasons_other" not in answers


def test_drug_questions_are_required_only_after_a_yes():
    answers, errors = validate("psychiatric", drug_use="yes")
    assert errors == {"drugs_used": ANSWER_PLEASE, "drug_last_use": ANSWER_PLEASE}

    answers, errors = validate("psychiatric", drug_use="no", drugs_used="cannabis", drug_last_use="nonsense")
    assert errors == {}
    assert "drugs_used" not in answers and "drug_last_use" not in answers


def test_antidepressant_details_count_only_when_the_antidepressant_is_named():
    answers, errors = validate(
        "history",
        ad1_name=None,
        ad1_dose="150 mg",
        ad1_duration="8 months",
        ad1_response="bogus",
        ad2_name="Bupropion",
        ad2_dose="300 mg",
    )

    assert errors == {}
    assert not {"ad1_dose", "ad1_duration", "ad1_response"} & set(answers)
    assert answers["ad2_dose"] == "300 mg"


@pytest.mark.parametrize(
    ("step_key", "about", "details"),
    [
        ("history", "had_ketamine", "prior_treatment_details"),
        ("medications", "ketamine_or_anaesthesia_reaction", "reaction_details"),
        ("psychiatric", "hospitalised", "hospital_details"),
    ],
)
def test_please_tell_us_more_is_kept_only_after_a_yes(step_key, about, details):
    answers, _ = validate(step_key, **{about: "yes", details: "in 2021"})
    assert answers[details] == "in 2021"

    answers, _ = validate(step_key, **{about: "no", details: "in 2021"})
    assert details not in answers


@pytest.mark.parametrize("link_id", ["asq_1", "asq_2", "asq_3", "asq_4"])
def test_the_asq_acuity_question_is_required_when_any_asq_question_is_yes(link_id):
    answers, errors = validate("asq", **{link_id: "true"})

    assert errors == {"asq_5": ANSWER_PLEASE}

    answers, errors = validate("asq", **{link_id: "true", "asq_5": "false"})
    assert errors == {}
    assert answers["asq_5"] == "false"


def test_the_asq_acuity_question_is_not_asked_when_every_asq_question_is_no():
    answers, errors = validate("asq", asq_5="true", asq_5_describe="now")

    assert errors == {}
    assert "asq_5" not in answers
    assert "asq_5_describe" not in answers  # follows asq_5 out


def test_the_asq_follow_ups_show_after_their_own_yes():
    answers, errors = validate("asq", asq_4="true", asq_4_how="pills, 2019", asq_5="true", asq_5_describe="now")
    assert errors == {}
    assert answers["asq_4_how"] == "pills, 2019"
    assert answers["asq_5_describe"] == "now"

    answers, errors = validate("asq", asq_1="true", asq_4_how="pills", asq_5="false", asq_5_describe="now")
    assert errors == {}
    assert "asq_4_how" not in answers
    assert "asq_5_describe" not in answers


def test_enable_behaviour_all_needs_every_condition_and_any_needs_one():
    conditions = (("a", "yes"), ("b", "yes"))
    every = Question("x", "X", "string", enable_when=conditions, enable_behavior="all")
    one = Question("x", "X", "string", enable_when=conditions, enable_behavior="any")

    assert every.is_enabled({"a": "yes", "b": "yes"}) and one.is_enabled({"a": "yes", "b": "yes"})
    assert not every.is_enabled({"a": "yes", "b": "no"})
    assert one.is_enabled({"a": "yes", "b": "no"})
    assert not one.is_enabled({"a": "no"})
    assert not one.is_enabled({})
    assert Question("x", "X", "string").is_enabled({})


@pytest.mark.parametrize(
    ("value", "enabled"),
    [
        ("Sertraline", True),
        (["depression"], True),
        (True, True),
        (None, False),
        ("", False),
        ([], False),
        ("no", False),
        ("false", False),
        (False, False),
    ],
)
def test_an_any_answer_condition_is_met_by_a_real_answer_but_not_by_no(value, enabled):
    follow_up = Question("x", "X", "string", enable_when=(("a", True),))

    assert follow_up.is_enabled({"a": value}) is enabled


# --- hostile input ---------------------------------------------------------------------------------------

FIELD_NAMES = sorted({item.link_id for step in ALL_STEPS for item in step.questions})
HOSTILE_TEXT = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "yes",
            "true",
            "1",
            "9999",
            "-1",
            "2026-06-01",
            "1990-02-30",
            "+1 212 555 0100",
            "a@b.c",
            "x" * 2500,
            "\u202e",
            "\ud7ff",
            "\U0010ffff",
            "e\u0301",
            "١٢٠",
        ]
    ),
)


@settings(max_examples=200, deadline=None, database=None)
@given(
    step=st.sampled_from(ALL_STEPS),
    form=st.dictionaries(
        st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=20)),
        st.lists(HOSTILE_TEXT, max_size=3),
        max_size=30,
    ),
)
def test_validation_never_raises_whatever_is_posted(step, form):
    answers, errors = validate_step(step, form, TODAY)

    assert isinstance(answers, dict) and isinstance(errors, dict)
    link_ids = {item.link_id for item in step.questions}
    assert set(answers) <= link_ids and set(errors) <= link_ids
    assert all(isinstance(message, str) and message for message in errors.values())


# --- which steps a patient sees --------------------------------------------------------------------------


def keys(steps):
    return [step.key for step in steps]


BASE_ORDER = ["about", "reasons", "history", "medications", "medical", "psychiatric", "phq9", "asq", "gad7", "audit"]


def test_an_adult_without_trauma_sees_the_steps_in_order_without_the_pcl5():
    assert keys(steps_for({}, is_minor=False)) == [*BASE_ORDER, "consent"]
    assert keys(steps_for({"reasons": {"reasons": ["depression", "anxiety"]}}, is_minor=False)) == [
        *BASE_ORDER,
        "consent",
    ]


def test_the_pcl5_is_shown_when_trauma_is_among_the_reasons():
    answers, _ = validate("reasons", reasons=["depression", "trauma"])

    assert keys(steps_for({"reasons": answers}, is_minor=False)) == [*BASE_ORDER, "pcl5", "consent"]
    assert keys(steps_for({"reasons": {"reasons": ["trauma"]}}, is_minor=False)) == [*BASE_ORDER, "pcl5", "consent"]


def test_a_minor_sees_the_guardian_step_just_before_consent():
    assert keys(steps_for({}, is_minor=True)) == [*BASE_ORDER, "guardian", "consent"]
    assert keys(steps_for({"reasons": {"reasons": ["trauma"]}}, is_minor=True)) == [
        *BASE_ORDER,
        "pcl5",
        "guardian",
        "consent",
    ]


# --- the questionnaire as a definition -------------------------------------------------------------------


def test_every_question_has_its_own_link_id_across_the_whole_questionnaire():
    link_ids = [item.link_id for step in ALL_STEPS for item in step.questions]

    assert len(link_ids) == len(set(link_ids))


def test_every_step_has_its_own_key_and_can_be_looked_up_by_it():
    assert len({step.key for step in ALL_STEPS}) == len(ALL_STEPS)
    assert all(STEPS_BY_KEY[step.key] is step for step in ALL_STEPS)
    assert STEPS[-1].key == "consent"


def test_the_questionnaire_and_consent_carry_versions():
    assert isinstance(questionnaire.QUESTIONNAIRE_VERSION, str) and questionnaire.QUESTIONNAIRE_VERSION.strip()
    assert isinstance(questionnaire.CONSENT_VERSION, str) and questionnaire.CONSENT_VERSION.strip()


def test_every_enable_when_names_an_earlier_question_of_the_same_step():
    for step in ALL_STEPS:
        seen = set()
        for item in step.questions:
            for link_id, _ in item.enable_when:
                assert link_id in seen, f"{step.key}.{item.link_id} depends on {link_id}"
            seen.add(item.link_id)


def test_the_consent_step_tells_the_patient_the_form_is_not_monitored_and_where_to_get_help():
    intro = STEPS_BY_KEY["consent"].intro

    assert "not read in real time" in intro
    assert "988" in intro and "911" in intro


@pytest.mark.parametrize("key", sorted(INSTRUMENTS))
def test_an_instrument_step_asks_the_published_items_word_for_word_with_the_credit_line(key):
    instrument = INSTRUMENTS[key]
    step = STEPS_BY_KEY[key]
    items = instrument.items + instrument.extra_items

    assert step.instrument == key
    assert step.credit_line == instrument.credit_line
    assert step.credit_line
    assert instrument.instructions in step.intro
    assert [(item.link_id, item.text) for item in step.questions] == [(item.link_id, item.text) for item in items]
    for shown, item in zip(step.questions, items, strict=True):
        assert [label for _, label in shown.options] == [option.label for option in item.options]
        assert shown.loinc == item.loinc
        assert shown.type == ("choice" if item.kind == "choice" else "text")


@pytest.mark.parametrize("key", sorted(INSTRUMENTS))
def test_every_scored_item_of_an_instrument_must_be_answered_when_shown(key):
    step = STEPS_BY_KEY[key]
    scored = {item.link_id for item in INSTRUMENTS[key].items}

    assert all(item.required for item in step.questions if item.link_id in scored)


# --- stored answers back to scored values ------------------------------------------------------------------


@pytest.mark.parametrize("key", ["phq9", "gad7", "audit", "pcl5"])
def test_every_option_code_maps_back_to_its_scored_value(key):
    instrument = INSTRUMENTS[key]
    step = STEPS_BY_KEY[key]
    shown = {item.link_id: item for item in step.questions}
    for position in range(max(len(item.options) for item in instrument.items)):
        # Option `position` of every item (its last option where the item has fewer).
        picks = [item.options[min(position, len(item.options) - 1)] for item in instrument.items]
        form = {}
        for item, pick in zip(instrument.items, picks, strict=True):
            code = next(code for code, label in shown[item.link_id].options if label == pick.label)
            form[item.link_id] = [code]
        answers, errors = validate_step(step, form, TODAY)
        assert errors == {}
        values = instrument_answers(step, answers)
        assert values == [pick.value for pick in picks]
        assert all(type(value) is int for value in values)


def test_instrument_answers_come_back_in_item_order():
    answers, _ = validate("audit", audit_1="4", audit_2="3", audit_3="2", audit_9="2", audit_10="4")

    assert instrument_answers(STEPS_BY_KEY["audit"], answers) == [4, 3, 2, 0, 0, 0, 0, 0, 2, 4]
    assert instrument_answers(STEPS_BY_KEY["phq9"], validate("phq9", phq9_9="3")[0]) == [1] * 8 + [3]


def test_the_asq_maps_back_to_yes_no_answers_with_the_acuity_answer_only_when_asked():
    step = STEPS_BY_KEY["asq"]

    negative = instrument_answers(step, validate("asq")[0])
    assert negative == [False, False, False, False]
    assert all(type(value) is bool for value in negative)

    positive = instrument_answers(step, validate("asq", asq_2="true", asq_5="false")[0])
    assert positive == [False, True, False, False, False]
    assert all(type(value) is bool for value in positive)

    assert INSTRUMENTS["asq"].score(negative).severity == "negative"
    assert INSTRUMENTS["asq"].score(positive).severity == "non-acute-positive"


def test_unscored_extras_are_left_out_of_the_scored_values():
    answers, _ = validate("phq9", phq9_difficulty="2")

    assert answers["phq9_difficulty"] == "2"
    assert len(instrument_answers(STEPS_BY_KEY["phq9"], answers)) == 9


def test_instrument_answers_stop_at_the_first_unanswered_item():
    answers, _ = validate("phq9")
    del answers["phq9_4"]

    assert instrument_answers(STEPS_BY_KEY["phq9"], answers) == [1, 1, 1]


def test_every_valid_instrument_step_scores():
    for key in INSTRUMENTS:
        answers, errors = validate(key)
        assert errors == {}
        INSTRUMENTS[key].score(instrument_answers(STEPS_BY_KEY[key], answers))
    assert set(VALID) >= set(INSTRUMENTS)


# --- answers as the patient saw them ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("step_key", "link_id", "value", "shown"),
    [
        ("reasons", "reasons", ["depression", "trauma"], "Depression, PTSD or trauma"),
        ("medical", "high_blood_pressure", "controlled", "Yes, and it is controlled"),
        ("phq9", "phq9_9", "2", "More than half the days"),
        ("asq", "asq_5", "true", "Yes"),
        ("consent", "agree", True, "Yes"),
        ("medical", "bp_systolic", 181, "181"),
        ("reasons", "hopes", "Sleep again", "Sleep again"),
    ],
)
def test_an_answer_is_shown_back_with_the_labels_the_patient_saw(step_key, link_id, value, shown):
    assert questionnaire.answer_text(question(step_key, link_id), value) == shown
