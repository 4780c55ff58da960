"""The screening rules table (kapclinic.intake.screening.RULES), documented here one row per rule.

A clinician reviews the rules as a table; this file is that table written down as the
reviewer expects it to behave, so any change to a rule (an answer that now raises a flag
or no longer does, a level, the wording, the step shown, a rule added, dropped or moved)
fails here until the documentation row changes with it.

Each answer rule is checked against every option of its question: the flag is raised
for exactly the documented answers, alone, with the question and answer as the patient
saw them. The other rules (blood pressure, instrument totals, date of birth, age) each
have an input that raises the flag and one just short of it. Answers are in the stored
shape (codes such as "yes", "0".."3", "true"); scores come from the real instruments.
Sources for each threshold are in /work/shared/CLINICAL.md and beside each rule.
"""

from dataclasses import dataclass

import pytest

from kapclinic.intake import screening
from kapclinic.intake.instruments import INSTRUMENTS, make_pcl5
from kapclinic.intake.questionnaire import STEPS_BY_KEY
from kapclinic.intake.screening import CLINICIAN_REVIEW, INFO, URGENT

ASQ_1_TO_4 = ("asq_1", "asq_2", "asq_3", "asq_4")
BOOKED = "1990-04-12"


@dataclass(frozen=True)
class Answer:
    """A rule on answers: the flag for exactly the `raising` option codes of each question in `link_ids`."""

    code: str
    level: str
    reason: str
    step: str
    link_ids: tuple
    raising: set


@dataclass(frozen=True)
class Threshold:
    """A rule on a number, a score, the booking or the age, with screen() arguments on both sides of its limit.

    `raised_by` pairs each input that raises the flag with the answer the flag shows;
    `not_raised_by` holds inputs just short of the limit, or missing what the rule compares.
    """

    code: str
    level: str
    reason: str
    step: str
    raised_by: tuple
    not_raised_by: tuple


def question(step_key, link_id):
    return next(q for q in STEPS_BY_KEY[step_key].questions if q.link_id == link_id)


def shown(step_key, link_id, value):
    """The question and answer as the patient saw them (option label, or the number or date typed)."""
    asked = question(step_key, link_id)
    return f"{asked.text} {dict(asked.options).get(value, value)}"


def scored(key, values, instrument=None):
    return {key: (instrument or INSTRUMENTS[key]).score(values)}


def screen(answers_by_step=None, scores=None, age=None, adult_age=18, booked_date_of_birth=None):
    return screening.screen(answers_by_step or {}, scores or {}, age, adult_age, booked_date_of_birth)


DOCUMENTED_RULES = [
    Answer(
        "suicide_risk_phq9",
        URGENT,
        "Thoughts of death or self-harm on PHQ-9 item 9",
        "phq9",
        ("phq9_9",),
        {"1", "2", "3"},
    ),
    Answer(
        "suicide_risk_asq_acute",
        URGENT,
        "ASQ acute positive: thoughts of suicide right now",
        "asq",
        ("asq_5",),
        {"true"},
    ),
    Answer("suicide_risk_asq", URGENT, "ASQ positive suicide risk screen", "asq", ASQ_1_TO_4, {"true"}),
    Threshold(
        "blood_pressure",  # resting BP above 180/100 (UK Ketalar SmPC); the number over its limit is shown
        CLINICIAN_REVIEW,
        "Blood pressure above 180/100",
        "medical",
        (
            (
                {"answers_by_step": {"medical": {"bp_systolic": 181, "bp_diastolic": 100}}},
                shown("medical", "bp_systolic", 181),
            ),
            (
                {"answers_by_step": {"medical": {"bp_systolic": 180, "bp_diastolic": 101}}},
                shown("medical", "bp_diastolic", 101),
            ),
            (
                {"answers_by_step": {"medical": {"bp_systolic": 200, "bp_diastolic": 120}}},
                shown("medical", "bp_systolic", 200),
            ),
        ),
        (
            {"answers_by_step": {"medical": {"bp_systolic": 180, "bp_diastolic": 100}}},
            {"answers_by_step": {"medical": {}}},
        ),
    ),
    Answer(
        "blood_pressure_uncontrolled",
        CLINICIAN_REVIEW,
        "High blood pressure that is not well controlled",
        "medical",
        ("high_blood_pressure",),
        {"uncontrolled"},
    ),
    Answer(
        "blood_pressure_treated",
        INFO,
        "Treated high blood pressure",
        "medical",
        ("high_blood_pressure",),
        {"controlled"},
    ),
    Answer(
        "heart_disease", CLINICIAN_REVIEW, "Heart disease, arrhythmia or angina", "medical", ("heart_disease",), {"yes"}
    ),
    Answer(
        "stroke_or_aneurysm",
        CLINICIAN_REVIEW,
        "History of stroke or aneurysm",
        "medical",
        ("stroke_or_aneurysm",),
        {"yes"},
    ),
    Answer(
        "raised_intracranial_pressure",
        CLINICIAN_REVIEW,
        "Head injury or raised intracranial pressure",
        "medical",
        ("head_injury_or_icp",),
        {"yes"},
    ),
    Answer(
        "raised_intraocular_pressure",
        CLINICIAN_REVIEW,
        "Glaucoma or raised intraocular pressure",
        "medical",
        ("glaucoma_or_eye_pressure",),
        {"yes"},
    ),
    Answer("hyperthyroidism", CLINICIAN_REVIEW, "Overactive thyroid", "medical", ("thyroid",), {"overactive"}),
    Answer("liver_disease", CLINICIAN_REVIEW, "Liver disease", "medical", ("liver_disease",), {"yes"}),
    Answer(
        "bladder_problems",
        CLINICIAN_REVIEW,
        "Bladder or urinary problems (ketamine can irritate the bladder)",
        "medical",
        ("bladder_problems",),
        {"yes"},
    ),
    Answer(
        "pregnancy_or_breastfeeding",
        CLINICIAN_REVIEW,
        "Pregnant, breastfeeding or planning a pregnancy",
        "medical",
        ("pregnancy",),
        {"pregnant", "breastfeeding", "planning"},
    ),
    Answer(
        "psychosis",
        CLINICIAN_REVIEW,
        "Psychosis or schizophrenia, or unsure",
        "psychiatric",
        ("psychosis",),
        {"yes", "unsure"},
    ),
    Answer(
        "family_history_psychosis",
        CLINICIAN_REVIEW,
        "First-degree family history of psychosis or bipolar disorder",
        "psychiatric",
        ("family_psychosis_bipolar",),
        {"yes"},
    ),
    Answer(
        "current_mania",
        CLINICIAN_REVIEW,
        "Mania or hypomania now or in the last month",
        "psychiatric",
        ("mania",),
        {"current"},
    ),
    Answer("dissociation", INFO, "Frequent dissociation", "psychiatric", ("dissociation",), {"yes"}),
    Answer(
        "recent_drug_use",
        CLINICIAN_REVIEW,
        "Recreational drug use in the last 3 months",
        "psychiatric",
        ("drug_last_use",),
        {"week", "month", "three_months"},
    ),
    Answer(
        "benzodiazepines",
        CLINICIAN_REVIEW,
        "Takes a benzodiazepine (may blunt the response)",
        "medications",
        ("takes_benzodiazepines",),
        {"yes"},
    ),
    Answer(
        "gabapentinoids",
        CLINICIAN_REVIEW,
        "Takes gabapentin or pregabalin",
        "medications",
        ("takes_gabapentinoids",),
        {"yes"},
    ),
    Answer(
        "lamotrigine",
        CLINICIAN_REVIEW,
        "Takes lamotrigine (may blunt the response)",
        "medications",
        ("takes_lamotrigine",),
        {"yes"},
    ),
    Answer("opioids", CLINICIAN_REVIEW, "Takes an opioid", "medications", ("takes_opioids",), {"yes"}),
    Answer("maoi", CLINICIAN_REVIEW, "Takes an MAOI", "medications", ("takes_maoi",), {"yes"}),
    Answer(
        "prior_ketamine_reaction",
        CLINICIAN_REVIEW,
        "Prior reaction to ketamine or an anaesthetic",
        "medications",
        ("ketamine_or_anaesthesia_reaction",),
        {"yes"},
    ),
    Threshold(
        "alcohol_harmful",  # AUDIT harmful zone from 16 (WHO, Babor et al. 2001)
        CLINICIAN_REVIEW,
        "AUDIT 16: harmful",
        "audit",
        (({"scores": scored("audit", [4, 4, 4, 4, 0, 0, 0, 0, 0, 0])}, "AUDIT total 16 of 40"),),
        ({"scores": scored("audit", [4, 4, 4, 3, 0, 0, 0, 0, 0, 0])},),
    ),
    Threshold(
        "probable_ptsd",  # PCL-5 at the clinic's cut-off, 33 by default (National Center for PTSD)
        INFO,
        "PCL-5 at or above the probable PTSD cut-off",
        "pcl5",
        (({"scores": scored("pcl5", [4] * 8 + [1] + [0] * 11, make_pcl5())}, "PCL-5 total 33 of 80"),),
        ({"scores": scored("pcl5", [4] * 8 + [0] * 12, make_pcl5())},),
    ),
    Threshold(
        "severe_depression",  # PHQ-9 severe from 20 (Kroenke 2001)
        CLINICIAN_REVIEW,
        "PHQ-9 in the severe range",
        "phq9",
        (({"scores": scored("phq9", [3] * 6 + [2, 0, 0])}, "PHQ-9 total 20 of 27"),),
        ({"scores": scored("phq9", [3] * 6 + [1, 0, 0])},),
    ),
    Threshold(
        "date_of_birth_mismatch",
        CLINICIAN_REVIEW,
        f"Date of birth differs from the one given at booking ({BOOKED})",
        "about",
        (
            (
                {"answers_by_step": {"about": {"date_of_birth": "1990-04-21"}}, "booked_date_of_birth": BOOKED},
                shown("about", "date_of_birth", "1990-04-21"),
            ),
        ),
        (
            {"answers_by_step": {"about": {"date_of_birth": BOOKED}}, "booked_date_of_birth": BOOKED},
            {"answers_by_step": {"about": {"date_of_birth": "1990-04-21"}}},
            {"booked_date_of_birth": BOOKED},
        ),
    ),
    Threshold(
        "under_18",  # parental consent and adolescent assent (Sathappan & Yudkoff 2024)
        CLINICIAN_REVIEW,
        "Under 18: guardian consent and adolescent assent needed",
        "about",
        (({"age": 17}, "Age 17 at the consultation"), ({"age": 0}, "Age 0 at the consultation")),
        ({"age": 18}, {"age": None}),
    ),
]
ANSWER_RULES = [row for row in DOCUMENTED_RULES if isinstance(row, Answer)]
THRESHOLD_RULES = [row for row in DOCUMENTED_RULES if isinstance(row, Threshold)]


def test_the_documented_table_lists_every_rule_in_the_order_its_flags_are_listed():
    assert [rule.code for rule in screening.RULES] == [row.code for row in DOCUMENTED_RULES]


ANSWER_CASES = [
    (row, link_id, option, option in row.raising)
    for row in ANSWER_RULES
    for link_id in row.link_ids
    for option, _ in question(row.step, link_id).options
]


@pytest.mark.parametrize(
    ("row", "link_id", "option", "raises"),
    ANSWER_CASES,
    ids=[f"{row.code}:{link_id}={option}" for row, link_id, option, _ in ANSWER_CASES],
)
def test_each_answer_rule_flags_exactly_its_documented_answers(row, link_id, option, raises):
    flags = screen({row.step: {link_id: option}})

    if not raises:
        assert row.code not in [flag.code for flag in flags]
        return
    assert [flag.as_dict() for flag in flags] == [
        {
            "code": row.code,
            "level": row.level,
            "reason": row.reason,
            "answer": shown(row.step, link_id, option),
            "step": row.step,
        }
    ]


def test_every_question_a_rule_reads_offers_the_answers_the_rule_names():
    # A renamed option code would silently switch a rule off.
    for row in ANSWER_RULES:
        for link_id in row.link_ids:
            assert row.raising <= {option for option, _ in question(row.step, link_id).options}, row.code


@pytest.mark.parametrize("row", THRESHOLD_RULES, ids=[row.code for row in THRESHOLD_RULES])
def test_each_threshold_rule_flags_at_its_documented_limit_and_not_short_of_it(row):
    for raised_by, answer in row.raised_by:
        assert [flag.as_dict() for flag in screen(**raised_by)] == [
            {"code": row.code, "level": row.level, "reason": row.reason, "answer": answer, "step": row.step}
        ], raised_by
    for not_raised_by in row.not_raised_by:
        assert screen(**not_raised_by) == [], not_raised_by


def test_the_unanswered_intake_of_an_adult_raises_no_flag():
    assert screen(age=40) == []


def test_every_rule_at_once_lists_urgent_first_then_each_level_in_table_order():
    answers_by_step, scores = {}, {}
    for row in ANSWER_RULES:
        for link_id in row.link_ids:
            answers_by_step.setdefault(row.step, {})[link_id] = sorted(row.raising)[-1]
    answers_by_step["medical"]["high_blood_pressure"] = "uncontrolled"  # one answer: not also "controlled"
    for row in THRESHOLD_RULES:
        raised_by, _ = row.raised_by[0]
        for step_key, answers in raised_by.get("answers_by_step", {}).items():
            answers_by_step.setdefault(step_key, {}).update(answers)
        scores |= raised_by.get("scores", {})

    flags = screen(answers_by_step, scores, age=17, booked_date_of_birth=BOOKED)

    # The acute ASQ replaces the non-acute one.
    expected = [row for row in DOCUMENTED_RULES if row.code not in ("suicide_risk_asq", "blood_pressure_treated")]
    expected.sort(key=lambda row: screening.LEVEL_ORDER[row.level])
    assert [flag.code for flag in flags] == [row.code for row in expected]


def test_an_acute_asq_replaces_the_non_acute_one_and_a_no_to_acuity_keeps_it():
    acute = screen({"asq": {"asq_2": "true", "asq_5": "true"}})
    not_acute = screen({"asq": {"asq_2": "true", "asq_5": "false"}})

    assert [flag.code for flag in acute] == ["suicide_risk_asq_acute"]
    assert [flag.code for flag in not_acute] == ["suicide_risk_asq"]


def test_the_urgent_signals_of_a_half_finished_step_are_the_urgent_rules_alone():
    # A step that does not validate yet is not saved, but its urgent answers still count; nothing else is read.
    assert [flag.code for flag in screening.urgent_signals("phq9", {"phq9_9": "1"})] == ["suicide_risk_phq9"]
    assert [flag.code for flag in screening.urgent_signals("asq", {"asq_3": "true"})] == ["suicide_risk_asq"]
    assert screening.urgent_signals("medical", {"heart_disease": "yes", "bp_systolic": 200}) == []
    assert screening.urgent_signals("about", {"date_of_birth": "1990-04-21"}) == []
