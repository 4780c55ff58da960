"""Screening rules: turn intake answers and scores into flags for people to review.

Pure module (no Flask). The app flags; it never decides eligibility and never
rejects a patient. Every flag says why, with the answer that raised it.
The rules are one table (RULES) a clinician can review, a row per flag with its
source, applied by one loop; tests/unit/test_screening_rules.py documents each row.
Sources for what KAP clinics screen for are listed in shared CLINICAL.md:
UK Ketalar SmPC (hypertension > 180/100, raised intracranial / intraocular
pressure), Miller's Anesthesia ch. 9, published clinic criteria (Carolinas
Center for KAP, Psyon, Toronto Ketamine Clinic) and NCT05604794.
PHQ-9 item 9: any answer above "Not at all" is reviewed the same day (Simon 2013,
doi 10.1176/appi.ps.201200587); an answer of 0 never clears another flag
(Louzon 2016, doi 10.1176/appi.ps.201500149).
"""

from dataclasses import dataclass, field
from typing import Protocol

from kapclinic.intake.questionnaire import STEPS_BY_KEY, answer_text

URGENT = "urgent"
CLINICIAN_REVIEW = "clinician-review"
INFO = "info"
LEVEL_ORDER = {URGENT: 0, CLINICIAN_REVIEW: 1, INFO: 2}

# Raised for a patient under the adult age at the consultation (guardian consent needed).
UNDER_ADULT_AGE = "under_18"

# Resting blood pressure above which one ketamine label contraindicates use (UK SmPC).
SYSTOLIC_LIMIT = 180
DIASTOLIC_LIMIT = 100


@dataclass(frozen=True)
class Flag:
    code: str
    level: str
    reason: str
    answer: str  # the question and the answer that raised the flag, as the patient saw them
    step: str | None = None  # the step holding that answer

    def as_dict(self):
        return {"code": self.code, "level": self.level, "reason": self.reason, "answer": self.answer, "step": self.step}


def _question(step_key, link_id):
    step = STEPS_BY_KEY[step_key]
    return next(question for question in step.questions if question.link_id == link_id)


def describe_answer(step_key, link_id, value):
    """Render 'Question? Answer' using the option labels the patient saw."""
    question = _question(step_key, link_id)
    return f"{question.text} {answer_text(question, value)}"


# --- what a rule looks at ------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """What a flag shows: the step and answer (as the patient saw it) that raised it, and values its reason names."""

    step: str
    answer: str
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Facts:
    """What the rules read: the stored answers, the scores and what the booking told us."""

    answers_by_step: dict
    scores: dict = field(default_factory=dict)
    age_at_consultation: int | None = None
    adult_age: int = 18
    booked: dict = field(default_factory=dict)  # link_id -> the value given when booking

    def value(self, step_key, link_id):
        return self.answers_by_step.get(step_key, {}).get(link_id)

    def answer(self, step_key, link_id):
        """Evidence showing one stored answer with the question and option labels the patient saw."""
        return Evidence(step_key, describe_answer(step_key, link_id, self.value(step_key, link_id)))


class Condition(Protocol):
    """What a rule looks at and when it holds."""

    def evidence(self, facts: Facts) -> Evidence | None:
        """Return what the flag shows when the condition holds, else None."""


@dataclass(frozen=True)
class AnswerIn:
    """A question (or the first of several) answered with one of `codes`; that answer is shown."""

    step: str
    link_ids: str | tuple
    codes: tuple

    def evidence(self, facts):
        link_ids = (self.link_ids,) if isinstance(self.link_ids, str) else self.link_ids
        found = next((link_id for link_id in link_ids if facts.value(self.step, link_id) in self.codes), None)
        return facts.answer(self.step, found) if found else None


@dataclass(frozen=True)
class AnsweredOtherThan:
    """A question answered with anything but `codes` (unanswered does not count)."""

    step: str
    link_id: str
    codes: tuple

    def evidence(self, facts):
        value = facts.value(self.step, self.link_id)
        return facts.answer(self.step, self.link_id) if value is not None and value not in self.codes else None


@dataclass(frozen=True)
class Above:
    """The first of several numbers above its limit, as (link_id, limit) pairs; a blank answer counts as 0."""

    step: str
    limits: tuple

    def evidence(self, facts):
        for link_id, limit in self.limits:
            if (facts.value(self.step, link_id) or 0) > limit:
                return facts.answer(self.step, link_id)
        return None


@dataclass(frozen=True)
class ScoreIs:
    """An instrument's score carries `flag` (and/or lies in `band`); shown as `shown_as` with its total."""

    instrument: str
    shown_as: str  # names {total}
    flag: str | None = None
    band: str | None = None

    def evidence(self, facts):
        score = facts.scores.get(self.instrument)
        if score is None or (self.flag and self.flag not in score.flags) or (self.band and score.severity != self.band):
            return None
        details = {"total": score.total, "severity": score.severity.replace("-", " ")}
        return Evidence(self.instrument, self.shown_as.format(**details), details)


@dataclass(frozen=True)
class DiffersFromBooking:
    """An answer that differs from what was given when booking (both given)."""

    step: str
    link_id: str

    def evidence(self, facts):
        booked, given = facts.booked.get(self.link_id), facts.value(self.step, self.link_id)
        if not (booked and given and given != booked):
            return None
        return Evidence(self.step, describe_answer(self.step, self.link_id, given), {"booked": booked})


@dataclass(frozen=True)
class UnderAdultAge:
    """The patient's age at the consultation, when known, is under the clinic's adult age."""

    def evidence(self, facts):
        age = facts.age_at_consultation
        if age is None or age >= facts.adult_age:
            return None
        return Evidence("about", f"Age {age} at the consultation", {"adult_age": facts.adult_age})


@dataclass(frozen=True)
class Rule:
    """One row of the table: when `when` holds (and `unless` does not), raise `code` at `level`.

    `reason` is what the reviewer reads; it may name {details} of the evidence.
    """

    when: Condition
    code: str
    level: str
    reason: str
    unless: Condition | None = None


# --- the rules ----------------------------------------------------------------------------
# One row per flag, in the order flags of the same level are listed. Sources: shared
# CLINICAL.md, which names each source in full.

YES = ("yes",)
TRUE = ("true",)  # a ticked yes on an instrument item
ASQ_SCREENING = ("asq_1", "asq_2", "asq_3", "asq_4")
ASQ_ACUITY = "asq_5"

RULES = (
    # Suicide risk, read from the answers themselves (so partial steps count too).
    # PHQ-9 item 9 above "Not at all": same-day review (Simon 2013); 0 clears nothing (Louzon 2016).
    Rule(
        AnsweredOtherThan("phq9", "phq9_9", ("0",)),
        "suicide_risk_phq9",
        URGENT,
        "Thoughts of death or self-harm on PHQ-9 item 9",
    ),
    # ASQ (NIMH): "yes" to the acuity question is an acute positive screen, which
    # replaces the non-acute one (any "yes" to questions 1-4, showing the first).
    Rule(
        AnswerIn("asq", ASQ_ACUITY, TRUE),
        "suicide_risk_asq_acute",
        URGENT,
        "ASQ acute positive: thoughts of suicide right now",
    ),
    Rule(
        AnswerIn("asq", ASQ_SCREENING, TRUE),
        "suicide_risk_asq",
        URGENT,
        "ASQ positive suicide risk screen",
        unless=AnswerIn("asq", ASQ_ACUITY, TRUE),
    ),
    # Cardiovascular and neurological. Resting BP > 180/100: UK Ketalar SmPC; heart disease,
    # arrhythmia, angina, aneurysm, stroke: UK SmPC, Swiss label, Miller's Anesthesia ch. 9, Carolinas Center.
    Rule(
        Above("medical", (("bp_systolic", SYSTOLIC_LIMIT), ("bp_diastolic", DIASTOLIC_LIMIT))),
        "blood_pressure",
        CLINICIAN_REVIEW,
        f"Blood pressure above {SYSTOLIC_LIMIT}/{DIASTOLIC_LIMIT}",
    ),
    Rule(
        AnswerIn("medical", "high_blood_pressure", ("uncontrolled",)),
        "blood_pressure_uncontrolled",
        CLINICIAN_REVIEW,
        "High blood pressure that is not well controlled",
    ),
    Rule(
        AnswerIn("medical", "high_blood_pressure", ("controlled",)),
        "blood_pressure_treated",
        INFO,
        "Treated high blood pressure",
    ),
    Rule(
        AnswerIn("medical", "heart_disease", YES),
        "heart_disease",
        CLINICIAN_REVIEW,
        "Heart disease, arrhythmia or angina",
    ),
    Rule(
        AnswerIn("medical", "stroke_or_aneurysm", YES),
        "stroke_or_aneurysm",
        CLINICIAN_REVIEW,
        "History of stroke or aneurysm",
    ),
    # Raised intracranial / intraocular pressure: Miller's, UK SmPC, Toronto Ketamine Clinic.
    Rule(
        AnswerIn("medical", "head_injury_or_icp", YES),
        "raised_intracranial_pressure",
        CLINICIAN_REVIEW,
        "Head injury or raised intracranial pressure",
    ),
    Rule(
        AnswerIn("medical", "glaucoma_or_eye_pressure", YES),
        "raised_intraocular_pressure",
        CLINICIAN_REVIEW,
        "Glaucoma or raised intraocular pressure",
    ),
    # Hyperthyroidism, liver disease, bladder problems: Carolinas Center, Psyon, ketamine labels.
    Rule(AnswerIn("medical", "thyroid", ("overactive",)), "hyperthyroidism", CLINICIAN_REVIEW, "Overactive thyroid"),
    Rule(AnswerIn("medical", "liver_disease", YES), "liver_disease", CLINICIAN_REVIEW, "Liver disease"),
    Rule(
        AnswerIn("medical", "bladder_problems", YES),
        "bladder_problems",
        CLINICIAN_REVIEW,
        "Bladder or urinary problems (ketamine can irritate the bladder)",
    ),
    # Pregnancy, breastfeeding: Psyon, Carolinas Center, NCT05604794.
    Rule(
        AnswerIn("medical", "pregnancy", ("pregnant", "breastfeeding", "planning")),
        "pregnancy_or_breastfeeding",
        CLINICIAN_REVIEW,
        "Pregnant, breastfeeding or planning a pregnancy",
    ),
    # Psychiatric. Psychosis and first-degree family history: Psyon, Toronto Ketamine Clinic;
    # current mania, dissociative disorder: Carolinas Center.
    Rule(
        AnswerIn("psychiatric", "psychosis", ("yes", "unsure")),
        "psychosis",
        CLINICIAN_REVIEW,
        "Psychosis or schizophrenia, or unsure",
    ),
    Rule(
        AnswerIn("psychiatric", "family_psychosis_bipolar", YES),
        "family_history_psychosis",
        CLINICIAN_REVIEW,
        "First-degree family history of psychosis or bipolar disorder",
    ),
    Rule(
        AnswerIn("psychiatric", "mania", ("current",)),
        "current_mania",
        CLINICIAN_REVIEW,
        "Mania or hypomania now or in the last month",
    ),
    Rule(AnswerIn("psychiatric", "dissociation", YES), "dissociation", INFO, "Frequent dissociation"),
    # Active substance use: Psyon (sober 1 year), NCT05604794 (3 months).
    Rule(
        AnswerIn("psychiatric", "drug_last_use", ("week", "month", "three_months")),
        "recent_drug_use",
        CLINICIAN_REVIEW,
        "Recreational drug use in the last 3 months",
    ),
    # Medicines that interact with ketamine or blunt its effect. Benzodiazepines: Frontiers in
    # Psychiatry 2020 (doi 10.3389/fpsyt.2020.00844), Andrade 2017; the rest: CLINICAL.md's medicines to capture.
    Rule(
        AnswerIn("medications", "takes_benzodiazepines", YES),
        "benzodiazepines",
        CLINICIAN_REVIEW,
        "Takes a benzodiazepine (may blunt the response)",
    ),
    Rule(
        AnswerIn("medications", "takes_gabapentinoids", YES),
        "gabapentinoids",
        CLINICIAN_REVIEW,
        "Takes gabapentin or pregabalin",
    ),
    Rule(
        AnswerIn("medications", "takes_lamotrigine", YES),
        "lamotrigine",
        CLINICIAN_REVIEW,
        "Takes lamotrigine (may blunt the response)",
    ),
    Rule(AnswerIn("medications", "takes_opioids", YES), "opioids", CLINICIAN_REVIEW, "Takes an opioid"),
    Rule(AnswerIn("medications", "takes_maoi", YES), "maoi", CLINICIAN_REVIEW, "Takes an MAOI"),
    # Prior reaction to ketamine: Carolinas Center, Psyon, ketamine labels.
    Rule(
        AnswerIn("medications", "ketamine_or_anaesthesia_reaction", YES),
        "prior_ketamine_reaction",
        CLINICIAN_REVIEW,
        "Prior reaction to ketamine or an anaesthetic",
    ),
    # Instrument results. AUDIT harmful from 16 (WHO, Babor et al. 2001); PCL-5 probable PTSD
    # at the clinic's cut-off (33 by default, National Center for PTSD); PHQ-9 severe from 20 (Kroenke 2001).
    Rule(
        ScoreIs("audit", "AUDIT total {total} of 40", flag="audit_harmful_or_above"),
        "alcohol_harmful",
        CLINICIAN_REVIEW,
        "AUDIT {total}: {severity}",
    ),
    Rule(
        ScoreIs("pcl5", "PCL-5 total {total} of 80", flag="pcl5_probable_ptsd"),
        "probable_ptsd",
        INFO,
        "PCL-5 at or above the probable PTSD cut-off",
    ),
    Rule(
        ScoreIs("phq9", "PHQ-9 total {total} of 27", band="severe"),
        "severe_depression",
        CLINICIAN_REVIEW,
        "PHQ-9 in the severe range",
    ),
    # Identity and age. Adolescents need parental consent and their own assent (Sathappan & Yudkoff 2024).
    Rule(
        DiffersFromBooking("about", "date_of_birth"),
        "date_of_birth_mismatch",
        CLINICIAN_REVIEW,
        "Date of birth differs from the one given at booking ({booked})",
    ),
    Rule(
        UnderAdultAge(),
        UNDER_ADULT_AGE,
        CLINICIAN_REVIEW,
        "Under {adult_age}: guardian consent and adolescent assent needed",
    ),
)


def _apply(rules, facts):
    """Raise each rule's flag whose condition holds, in table order."""
    flags = []
    for rule in rules:
        evidence = rule.when.evidence(facts)
        if evidence is not None and (rule.unless is None or rule.unless.evidence(facts) is None):
            flags.append(
                Flag(rule.code, rule.level, rule.reason.format(**evidence.details), evidence.answer, evidence.step)
            )
    return flags


def urgent_signals(step_key, answers):
    """Urgent flags from the valid answers of one step, even when the step as a whole is not valid yet."""
    return _apply([rule for rule in RULES if rule.level == URGENT], Facts({step_key: answers}))


def screen(answers_by_step, scores, age_at_consultation, adult_age=18, booked_date_of_birth=None):
    """Return the flags for an intake, most urgent first.

    `scores` maps instrument key to its Score (from INSTRUMENTS[key].score);
    `age_at_consultation` is the patient's age in whole years on the consultation date;
    `booked_date_of_birth` (ISO date) is the one given when booking, compared with the intake's.
    """
    facts = Facts(answers_by_step, scores, age_at_consultation, adult_age, {"date_of_birth": booked_date_of_birth})
    return sorted(_apply(RULES, facts), key=lambda flag: LEVEL_ORDER[flag.level])


def is_urgent(flags):
    return any(flag.level == URGENT for flag in flags)
