"""User stories for the screening rules (kapclinic.intake.screening).

The app flags an intake for people to review; it never decides eligibility. Each test
reads as something the reviewing clinician expects to see: a flag with its code, its
level (urgent / clinician-review / info), a reason a person can read, the step it came
from and the question and answer exactly as the patient saw them.

Intakes are built the way the app builds them: each step's browser post
(tests/intake_answers.py, `form_for`) goes through `questionnaire.validate_step`, so the
stored answers have the real stored shape (codes such as "yes", "0".."4", "true",
ints for blood pressure, lists for repeats); steps are kept only when `steps_for`
would show them; scores come from `INSTRUMENTS[key].score(instrument_answers(...))`.
Starting from the clean intake (which raises no flags for an adult), each test changes
only the answers its story is about, so the flags it expects are exactly the flags
raised.

Thresholds come from /work/shared/CLINICAL.md: resting BP > 180/100 (UK Ketalar SmPC),
PHQ-9 item 9 >= 1 reviewed the same day and item 9 = 0 never clearing another flag
(Simon 2013; Louzon 2016), AUDIT harmful from 16 (WHO 2001), PCL-5 probable PTSD at 33
by default, PHQ-9 severe from 20 (Kroenke 2001), adult at 18.
"""

from datetime import date

import pytest

from kapclinic.intake import questionnaire, screening
from kapclinic.intake.instruments import INSTRUMENTS, PCL5_DEFAULT_CUTOFF
from kapclinic.intake.questionnaire import STEPS, STEPS_BY_KEY
from kapclinic.intake.screening import CLINICIAN_REVIEW, INFO, URGENT
from tests.intake_answers import form_for

TODAY = date(2026, 6, 1)
ADULT = 36

PHQ9_LABELS = {"0": "Not at all", "1": "Several days", "2": "More than half the days", "3": "Nearly every day"}


# --- building intakes the way the app stores them -----------------------------------


def stored(step_key, **changes):
    """The answers the app stores for a step posted with `changes` to the valid answers."""
    answers, errors = questionnaire.validate_step(STEPS_BY_KEY[step_key], form_for(step_key, **changes), TODAY)
    assert errors == {}, f"the test's own answers for {step_key} do not validate: {errors}"
    return answers


def intake(is_minor=False, **changes_by_step):
    """Stored answers for every step the patient sees, with per-step changes: intake(medical={...})."""
    answers_by_step = {}
    for step in STEPS:
        if step.is_shown(answers_by_step):
            answers_by_step[step.key] = stored(step.key, **changes_by_step.get(step.key, {}))
    if is_minor:
        answers_by_step["guardian"] = stored("guardian", **changes_by_step.get("guardian", {}))
    shown = [step.key for step in questionnaire.steps_for(answers_by_step, is_minor)]
    assert sorted(shown) == sorted(answers_by_step)
    return {key: answers_by_step[key] for key in shown}


def scores_for(answers_by_step):
    return {
        key: INSTRUMENTS[key].score(questionnaire.instrument_answers(STEPS_BY_KEY[key], answers))
        for key, answers in answers_by_step.items()
        if STEPS_BY_KEY[key].instrument
    }


def flags_for(age=ADULT, is_minor=False, **changes_by_step):
    answers_by_step = intake(is_minor=is_minor, **changes_by_step)
    return screening.screen(answers_by_step, scores_for(answers_by_step), age, adult_age=18)


def codes(flags):
    return [flag.code for flag in flags]


def only_flag(flags, code):
    matching = [flag for flag in flags if flag.code == code]
    assert len(matching) == 1, f"expected one {code} flag, got {codes(flags)}"
    return matching[0]


def question_text(step_key, link_id):
    return next(question.text for question in STEPS_BY_KEY[step_key].questions if question.link_id == link_id)


def assert_readable(reason, code):
    """A reason is a sentence for a person, not the machine code."""
    assert reason and reason.strip() == reason
    assert reason[0].isupper() or reason[0].isdigit()
    assert "_" not in reason
    assert reason != code


def codes_totalling(count, total, top):
    """`count` answer codes from 0..top summing to `total` (largest first)."""
    values = []
    for _ in range(count):
        value = min(top, total)
        values.append(value)
        total -= value
    assert total == 0
    return [str(value) for value in values]


def item_answers(prefix, values, start=1):
    return {f"{prefix}_{number}": value for number, value in enumerate(values, start=start)}


# --- the clean intake ---------------------------------------------------------------


def test_an_adult_with_an_unremarkable_intake_raises_no_flags():
    flags = flags_for()

    assert flags == []
    assert screening.is_urgent(flags) is False


def test_the_clean_intake_is_stored_in_the_shape_the_rules_read():
    answers_by_step = intake()

    assert answers_by_step["medical"]["bp_systolic"] == 122  # an int, not the posted "122"
    assert answers_by_step["phq9"]["phq9_9"] == "0"
    assert answers_by_step["asq"] == {f"asq_{number}": "false" for number in range(1, 5)}
    assert "pcl5" not in answers_by_step  # trauma was not among the reasons


# --- one answer, one flag -------------------------------------------------------------

ANSWER_RULES = [
    # step, link_id, posted code, flag code, level, label the patient saw
    (
        "medical",
        "high_blood_pressure",
        "uncontrolled",
        "blood_pressure_uncontrolled",
        CLINICIAN_REVIEW,
        "Yes, and it is not well controlled",
    ),
    ("medical", "high_blood_pressure", "controlled", "blood_pressure_treated", INFO, "Yes, and it is controlled"),
    ("medical", "heart_disease", "yes", "heart_disease", CLINICIAN_REVIEW, "Yes"),
    ("medical", "stroke_or_aneurysm", "yes", "stroke_or_aneurysm", CLINICIAN_REVIEW, "Yes"),
    ("medical", "head_injury_or_icp", "yes", "raised_intracranial_pressure", CLINICIAN_REVIEW, "Yes"),
    ("medical", "glaucoma_or_eye_pressure", "yes", "raised_intraocular_pressure", CLINICIAN_REVIEW, "Yes"),
    ("medical", "thyroid", "overactive", "hyperthyroidism", CLINICIAN_REVIEW, "Overactive (hyperthyroid)"),
    ("medical", "liver_disease", "yes", "liver_disease", CLINICIAN_REVIEW, "Yes"),
    ("medical", "bladder_problems", "yes", "bladder_problems", CLINICIAN_REVIEW, "Yes"),
    ("medical", "pregnancy", "pregnant", "pregnancy_or_breastfeeding", CLINICIAN_REVIEW, "Pregnant"),
    ("medical", "pregnancy", "breastfeeding", "pregnancy_or_breastfeeding", CLINICIAN_REVIEW, "Breastfeeding"),
    ("medical", "pregnancy", "planning", "pregnancy_or_breastfeeding", CLINICIAN_REVIEW, "Planning a pregnancy"),
    ("psychiatric", "psychosis", "yes", "psychosis", CLINICIAN_REVIEW, "Yes"),
    ("psychiatric", "psychosis", "unsure", "psychosis", CLINICIAN_REVIEW, "Not sure"),
    ("psychiatric", "family_psychosis_bipolar", "yes", "family_history_psychosis", CLINICIAN_REVIEW, "Yes"),
    ("psychiatric", "mania", "current", "current_mania", CLINICIAN_REVIEW, "Yes, now or in the last month"),
    ("psychiatric", "dissociation", "yes", "dissociation", INFO, "Yes"),
    ("medications", "takes_benzodiazepines", "yes", "benzodiazepines", CLINICIAN_REVIEW, "Yes"),
    ("medications", "takes_gabapentinoids", "yes", "gabapentinoids", CLINICIAN_REVIEW, "Yes"),
    ("medications", "takes_lamotrigine", "yes", "lamotrigine", CLINICIAN_REVIEW, "Yes"),
    ("medications", "takes_opioids", "yes", "opioids", CLINICIAN_REVIEW, "Yes"),
    ("medications", "takes_maoi", "yes", "maoi", CLINICIAN_REVIEW, "Yes"),
    ("medications", "ketamine_or_anaesthesia_reaction", "yes", "prior_ketamine_reaction", CLINICIAN_REVIEW, "Yes"),
]


@pytest.mark.parametrize(
    ("step_key", "link_id", "posted", "code", "level", "label"),
    ANSWER_RULES,
    ids=[f"{row[1]}={row[2]}" for row in ANSWER_RULES],
)
def test_the_clinician_sees_each_answer_that_needs_review_with_the_question_and_answer_the_patient_saw(
    step_key, link_id, posted, code, level, label
):
    flags = flags_for(**{step_key: {link_id: posted}})

    assert codes(flags) == [code]
    flag = flags[0]
    assert flag.level == level
    assert_readable(flag.reason, code)
    assert flag.step == step_key
    assert flag.answer == f"{question_text(step_key, link_id)} {label}"
    assert flag.as_dict() == {
        "code": code,
        "level": level,
        "reason": flag.reason,
        "answer": flag.answer,
        "step": step_key,
    }


@pytest.mark.parametrize(
    ("last_use", "label", "flagged"),
    [
        ("week", "In the last week", True),
        ("month", "In the last month", True),
        ("three_months", "In the last 3 months", True),
        ("year", "In the last year", False),
    ],
)
def test_recreational_drug_use_in_the_last_three_months_is_reviewed(last_use, label, flagged):
    flags = flags_for(psychiatric={"drug_use": "yes", "drugs_used": "cannabis, May", "drug_last_use": last_use})

    if not flagged:
        assert flags == []
        return
    flag = only_flag(flags, "recent_drug_use")
    assert codes(flags) == ["recent_drug_use"]
    assert flag.level == CLINICIAN_REVIEW
    assert_readable(flag.reason, flag.code)
    assert flag.step == "psychiatric"
    assert flag.answer == f"When did you last use any of them? {label}"


@pytest.mark.parametrize(
    ("step_key", "link_id", "posted"),
    [
        ("medical", "high_blood_pressure", "no"),
        ("medical", "thyroid", "underactive"),
        ("medical", "pregnancy", "not_applicable"),
        ("psychiatric", "mania", "past"),
    ],
)
def test_answers_below_the_rules_raise_no_flag(step_key, link_id, posted):
    assert flags_for(**{step_key: {link_id: posted}}) == []


# --- suicide risk: PHQ-9 item 9 -------------------------------------------------------


@pytest.mark.parametrize("code", ["1", "2", "3"], ids=["several-days", "more-than-half", "nearly-every-day"])
def test_any_answer_above_not_at_all_on_phq9_item_9_is_urgent(code):
    flags = flags_for(phq9={"phq9_9": code})

    assert codes(flags) == ["suicide_risk_phq9"]
    flag = flags[0]
    assert flag.level == URGENT
    assert_readable(flag.reason, flag.code)
    assert flag.step == "phq9"
    assert flag.answer == (
        "Thoughts that you would be better off dead or of hurting yourself in some way " + PHQ9_LABELS[code]
    )
    assert screening.is_urgent(flags) is True


def test_not_at_all_on_phq9_item_9_raises_no_suicide_flag():
    flags = flags_for(phq9={"phq9_9": "0"})

    assert "suicide_risk_phq9" not in codes(flags)
    assert screening.is_urgent(flags) is False


def test_not_at_all_on_phq9_item_9_does_not_clear_a_positive_asq():
    flags = flags_for(phq9={"phq9_9": "0"}, asq={"asq_1": "true", "asq_5": "false"})

    assert codes(flags) == ["suicide_risk_asq"]
    assert flags[0].level == URGENT
    assert screening.is_urgent(flags) is True


def test_not_at_all_on_phq9_item_9_does_not_clear_other_flags():
    flags = flags_for(
        phq9=item_answers("phq9", ["3"] * 8 + ["0"]),  # total 24, severe
        asq={"asq_3": "true", "asq_5": "true"},
        medical={"bp_systolic": "190", "heart_disease": "yes"},
    )

    assert set(codes(flags)) == {"suicide_risk_asq_acute", "blood_pressure", "heart_disease", "severe_depression"}
    assert screening.is_urgent(flags) is True


def test_phq9_item_9_and_a_positive_asq_each_raise_their_own_urgent_flag():
    flags = flags_for(phq9={"phq9_9": "2"}, asq={"asq_2": "true", "asq_5": "false"})

    assert sorted(codes(flags)) == ["suicide_risk_asq", "suicide_risk_phq9"]
    assert {flag.level for flag in flags} == {URGENT}


# --- suicide risk: ASQ -------------------------------------------------------------------


@pytest.mark.parametrize("link_id", ["asq_1", "asq_2", "asq_3", "asq_4"])
def test_a_yes_to_any_asq_question_is_an_urgent_positive_screen_showing_that_question(link_id):
    flags = flags_for(asq={link_id: "true", "asq_5": "false"})

    assert codes(flags) == ["suicide_risk_asq"]
    flag = flags[0]
    assert flag.level == URGENT
    assert_readable(flag.reason, flag.code)
    assert flag.step == "asq"
    assert flag.answer == f"{question_text('asq', link_id)} Yes"
    assert question_text("asq", link_id) == next(
        item.text for item in INSTRUMENTS["asq"].items if item.link_id == link_id
    )


def test_a_positive_asq_names_the_first_question_answered_yes():
    flags = flags_for(asq={"asq_2": "true", "asq_4": "true", "asq_4_how": "pills, 2019", "asq_5": "false"})

    assert only_flag(flags, "suicide_risk_asq").answer == f"{question_text('asq', 'asq_2')} Yes"


def test_thoughts_of_suicide_right_now_is_an_acute_positive_screen():
    flags = flags_for(asq={"asq_3": "true", "asq_5": "true", "asq_5_describe": "since this morning"})

    assert codes(flags) == ["suicide_risk_asq_acute"]  # acute replaces, not adds to, the non-acute flag
    flag = flags[0]
    assert flag.level == URGENT
    assert_readable(flag.reason, flag.code)
    assert "right now" in flag.reason
    assert flag.step == "asq"
    assert flag.answer == "Are you having thoughts of killing yourself right now? Yes"


def test_a_negative_asq_raises_no_flag():
    answers_by_step = intake()
    scores = scores_for(answers_by_step)

    assert scores["asq"].severity == "negative"
    assert screening.screen(answers_by_step, scores, ADULT) == []


# --- blood pressure ------------------------------------------------------------------------


def test_the_blood_pressure_limit_is_the_uk_smpc_180_over_100():
    assert (screening.SYSTOLIC_LIMIT, screening.DIASTOLIC_LIMIT) == (180, 100)


S, D = screening.SYSTOLIC_LIMIT, screening.DIASTOLIC_LIMIT

BLOOD_PRESSURE = [
    # systolic, diastolic, link_id shown in the flag (None: no flag)
    (S, D, None),
    (S - 1, D - 1, None),
    (S + 1, 78, "bp_systolic"),
    (122, D + 1, "bp_diastolic"),
    (S, D + 1, "bp_diastolic"),
    (S + 1, D, "bp_systolic"),
    (S + 20, D + 20, "bp_systolic"),
    (260, 160, "bp_systolic"),
]


@pytest.mark.parametrize(
    ("systolic", "diastolic", "link_id"), BLOOD_PRESSURE, ids=[f"{s}/{d}" for s, d, _ in BLOOD_PRESSURE]
)
def test_a_blood_pressure_above_180_over_100_is_reviewed(systolic, diastolic, link_id):
    flags = flags_for(medical={"bp_systolic": str(systolic), "bp_diastolic": str(diastolic)})

    if link_id is None:
        assert flags == []
        return
    assert codes(flags) == ["blood_pressure"]
    flag = flags[0]
    assert flag.level == CLINICIAN_REVIEW
    assert_readable(flag.reason, flag.code)
    assert "180/100" in flag.reason
    assert flag.step == "medical"
    value = systolic if link_id == "bp_systolic" else diastolic
    assert flag.answer == f"{question_text('medical', link_id)} {value}"


def test_a_patient_who_does_not_know_their_blood_pressure_is_not_flagged_for_it():
    assert flags_for(medical={"bp_systolic": None, "bp_diastolic": None}) == []


def test_a_high_reading_and_uncontrolled_hypertension_are_two_separate_flags():
    flags = flags_for(medical={"bp_systolic": "200", "high_blood_pressure": "uncontrolled"})

    assert sorted(codes(flags)) == ["blood_pressure", "blood_pressure_uncontrolled"]


# --- instrument totals -------------------------------------------------------------------


@pytest.mark.parametrize(("total", "flagged"), [(15, False), (16, True), (19, True), (20, True)])
def test_an_audit_in_the_harmful_zone_or_above_is_reviewed(total, flagged):
    values = codes_totalling(8, total, 4) + ["0", "0"]
    flags = flags_for(audit=item_answers("audit", values))

    if not flagged:
        assert flags == []
        return
    assert codes(flags) == ["alcohol_harmful"]
    flag = flags[0]
    assert flag.level == CLINICIAN_REVIEW
    assert flag.step == "audit"
    assert flag.answer == f"AUDIT total {total} of 40"
    assert flag.reason == f"AUDIT {total}: {'harmful' if total < 20 else 'possible dependence'}"


def test_audit_items_9_and_10_count_towards_the_harmful_zone():
    # 4 + 4 + 4 from items 1-3, then "Yes, during the last year" (4) on item 10: 16.
    flags = flags_for(audit=item_answers("audit", ["4", "4", "4", "0", "0", "0", "0", "0", "0", "4"]))

    assert only_flag(flags, "alcohol_harmful").answer == "AUDIT total 16 of 40"


@pytest.mark.parametrize(
    ("total", "flagged"), [(PCL5_DEFAULT_CUTOFF - 1, False), (PCL5_DEFAULT_CUTOFF, True), (80, True)]
)
def test_a_pcl5_at_the_default_cut_off_of_33_notes_probable_ptsd(total, flagged):
    assert PCL5_DEFAULT_CUTOFF == 33
    flags = flags_for(
        reasons={"reasons": ["depression", "trauma"]},
        pcl5=item_answers("pcl5", codes_totalling(20, total, 4)),
    )

    if not flagged:
        assert flags == []
        return
    assert codes(flags) == ["probable_ptsd"]
    flag = flags[0]
    assert flag.level == INFO
    assert_readable(flag.reason, flag.code)
    assert flag.step == "pcl5"
    assert flag.answer == f"PCL-5 total {total} of 80"


@pytest.mark.parametrize(("total", "flagged"), [(19, False), (20, True), (24, True)])
def test_a_phq9_in_the_severe_range_is_reviewed(total, flagged):
    # Item 9 stays "Not at all" so that only the severity rule is at work.
    flags = flags_for(phq9=item_answers("phq9", codes_totalling(8, total, 3) + ["0"]))

    if not flagged:
        assert flags == []
        return
    assert codes(flags) == ["severe_depression"]
    flag = flags[0]
    assert flag.level == CLINICIAN_REVIEW
    assert_readable(flag.reason, flag.code)
    assert flag.step == "phq9"
    assert flag.answer == f"PHQ-9 total {total} of 27"


# --- age ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("age", "flagged"), [(14, True), (17, True), (18, False), (19, False)])
def test_a_patient_under_18_needs_guardian_consent_and_assent(age, flagged):
    flags = flags_for(age=age, is_minor=age < 18)

    if not flagged:
        assert flags == []
        return
    assert codes(flags) == ["under_18"]
    flag = flags[0]
    assert flag.level == CLINICIAN_REVIEW
    assert flag.reason == "Under 18: guardian consent and adolescent assent needed"
    assert flag.answer == f"Age {age} at the consultation"
    assert flag.step == "about"


def test_the_clinic_can_set_another_adult_age():
    answers_by_step = intake()
    flags = screening.screen(answers_by_step, scores_for(answers_by_step), 20, adult_age=21)

    assert codes(flags) == ["under_18"]
    assert flags[0].reason.startswith("Under 21")


def test_an_unknown_age_raises_no_age_flag():
    answers_by_step = intake()

    assert screening.screen(answers_by_step, scores_for(answers_by_step), None) == []


# --- order and urgency ---------------------------------------------------------------------


def test_flags_are_listed_urgent_first_then_clinician_review_then_info():
    flags = flags_for(
        age=17,
        is_minor=True,
        medical={"high_blood_pressure": "controlled", "heart_disease": "yes"},
        psychiatric={"dissociation": "yes"},
        phq9={"phq9_9": "1"},
        asq={"asq_1": "true", "asq_5": "false"},
        medications={"takes_maoi": "yes"},
    )

    levels = [flag.level for flag in flags]
    assert levels == sorted(levels, key=screening.LEVEL_ORDER.__getitem__)
    assert levels[:2] == [URGENT, URGENT]
    assert levels[-2:] == [INFO, INFO]
    assert set(codes(flags)) == {
        "suicide_risk_phq9",
        "suicide_risk_asq",
        "blood_pressure_treated",
        "heart_disease",
        "dissociation",
        "maoi",
        "under_18",
    }
    assert screening.is_urgent(flags) is True


def test_clinician_review_and_info_flags_alone_are_not_urgent():
    flags = flags_for(medical={"heart_disease": "yes"}, psychiatric={"dissociation": "yes"})

    assert codes(flags) == ["heart_disease", "dissociation"]
    assert screening.is_urgent(flags) is False
    assert screening.is_urgent([]) is False
