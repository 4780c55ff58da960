"""Screening rules: turn intake answers and scores into flags for people to review.

Pure module (no Flask). The app flags; it never decides eligibility and never
rejects a patient. Every flag says why, with the answer that raised it.
Sources for what KAP clinics screen for are listed in shared CLINICAL.md:
UK Ketalar SmPC (hypertension > 180/100, raised intracranial / intraocular
pressure), Miller's Anesthesia ch. 9, published clinic criteria (Carolinas
Center for KAP, Psyon, Toronto Ketamine Clinic) and NCT05604794.
PHQ-9 item 9: any answer above "Not at all" is reviewed the same day (Simon 2013,
doi 10.1176/appi.ps.201200587); an answer of 0 never clears another flag
(Louzon 2016, doi 10.1176/appi.ps.201500149).
"""

from dataclasses import dataclass

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


class _Collector:
    def __init__(self, answers_by_step):
        self.answers = answers_by_step
        self.flags = []

    def value(self, step_key, link_id):
        return self.answers.get(step_key, {}).get(link_id)

    def add(self, code, level, reason, step_key, link_id):
        self.flags.append(
            Flag(code, level, reason, describe_answer(step_key, link_id, self.value(step_key, link_id)), step_key)
        )

    def when(self, step_key, link_id, codes, code, level, reason):
        value = self.value(step_key, link_id)
        if value in codes:
            self.add(code, level, reason, step_key, link_id)


ASQ_SCREENING = ("asq_1", "asq_2", "asq_3", "asq_4")
ASQ_ACUITY = "asq_5"


def _suicide_risk(rules):
    """PHQ-9 item 9 and the ASQ, read from the answers themselves (so partial steps count too).

    ASQ (NIMH): any "yes" to questions 1-4 is a positive screen; "yes" to the acuity
    question makes it acute.
    """
    if rules.value("phq9", "phq9_9") not in (None, "0"):
        rules.add("suicide_risk_phq9", URGENT, "Thoughts of death or self-harm on PHQ-9 item 9", "phq9", "phq9_9")
    first_yes = next((link_id for link_id in ASQ_SCREENING if rules.value("asq", link_id) == "true"), None)
    if rules.value("asq", ASQ_ACUITY) == "true":
        rules.add(
            "suicide_risk_asq_acute", URGENT, "ASQ acute positive: thoughts of suicide right now", "asq", ASQ_ACUITY
        )
    elif first_yes:
        rules.add("suicide_risk_asq", URGENT, "ASQ positive suicide risk screen", "asq", first_yes)


def urgent_signals(step_key, answers):
    """Urgent flags from the valid answers of one step, even when the step as a whole is not valid yet."""
    rules = _Collector({step_key: answers})
    _suicide_risk(rules)
    return rules.flags


def screen(answers_by_step, scores, age_at_consultation, adult_age=18, booked_date_of_birth=None):
    """Return the flags for an intake, most urgent first.

    `scores` maps instrument key to its Score (from INSTRUMENTS[key].score);
    `age_at_consultation` is the patient's age in whole years on the consultation date;
    `booked_date_of_birth` (ISO date) is the one given when booking, compared with the intake's.
    """
    rules = _Collector(answers_by_step)
    yes = ("yes",)
    _suicide_risk(rules)

    # Cardiovascular and neurological.
    systolic, diastolic = rules.value("medical", "bp_systolic"), rules.value("medical", "bp_diastolic")
    if (systolic or 0) > SYSTOLIC_LIMIT:
        rules.add(
            "blood_pressure",
            CLINICIAN_REVIEW,
            f"Blood pressure above {SYSTOLIC_LIMIT}/{DIASTOLIC_LIMIT}",
            "medical",
            "bp_systolic",
        )
    elif (diastolic or 0) > DIASTOLIC_LIMIT:
        rules.add(
            "blood_pressure",
            CLINICIAN_REVIEW,
            f"Blood pressure above {SYSTOLIC_LIMIT}/{DIASTOLIC_LIMIT}",
            "medical",
            "bp_diastolic",
        )
    rules.when(
        "medical",
        "high_blood_pressure",
        ("uncontrolled",),
        "blood_pressure_uncontrolled",
        CLINICIAN_REVIEW,
        "High blood pressure that is not well controlled",
    )
    rules.when(
        "medical", "high_blood_pressure", ("controlled",), "blood_pressure_treated", INFO, "Treated high blood pressure"
    )
    rules.when(
        "medical", "heart_disease", yes, "heart_disease", CLINICIAN_REVIEW, "Heart disease, arrhythmia or angina"
    )
    rules.when(
        "medical", "stroke_or_aneurysm", yes, "stroke_or_aneurysm", CLINICIAN_REVIEW, "History of stroke or aneurysm"
    )
    rules.when(
        "medical",
        "head_injury_or_icp",
        yes,
        "raised_intracranial_pressure",
        CLINICIAN_REVIEW,
        "Head injury or raised intracranial pressure",
    )
    rules.when(
        "medical",
        "glaucoma_or_eye_pressure",
        yes,
        "raised_intraocular_pressure",
        CLINICIAN_REVIEW,
        "Glaucoma or raised intraocular pressure",
    )
    rules.when("medical", "thyroid", ("overactive",), "hyperthyroidism", CLINICIAN_REVIEW, "Overactive thyroid")
    rules.when("medical", "liver_disease", yes, "liver_disease", CLINICIAN_REVIEW, "Liver disease")
    rules.when(
        "medical",
        "bladder_problems",
        yes,
        "bladder_problems",
        CLINICIAN_REVIEW,
        "Bladder or urinary problems (ketamine can irritate the bladder)",
    )
    rules.when(
        "medical",
        "pregnancy",
        ("pregnant", "breastfeeding", "planning"),
        "pregnancy_or_breastfeeding",
        CLINICIAN_REVIEW,
        "Pregnant, breastfeeding or planning a pregnancy",
    )

    # Psychiatric.
    rules.when(
        "psychiatric",
        "psychosis",
        ("yes", "unsure"),
        "psychosis",
        CLINICIAN_REVIEW,
        "Psychosis or schizophrenia, or unsure",
    )
    rules.when(
        "psychiatric",
        "family_psychosis_bipolar",
        ("yes",),
        "family_history_psychosis",
        CLINICIAN_REVIEW,
        "First-degree family history of psychosis or bipolar disorder",
    )
    rules.when(
        "psychiatric",
        "mania",
        ("current",),
        "current_mania",
        CLINICIAN_REVIEW,
        "Mania or hypomania now or in the last month",
    )
    rules.when("psychiatric", "dissociation", yes, "dissociation", INFO, "Frequent dissociation")
    rules.when(
        "psychiatric",
        "drug_last_use",
        ("week", "month", "three_months"),
        "recent_drug_use",
        CLINICIAN_REVIEW,
        "Recreational drug use in the last 3 months",
    )

    # Medicines that interact with ketamine or blunt its effect.
    for link_id, code, reason in (
        ("takes_benzodiazepines", "benzodiazepines", "Takes a benzodiazepine (may blunt the response)"),
        ("takes_gabapentinoids", "gabapentinoids", "Takes gabapentin or pregabalin"),
        ("takes_lamotrigine", "lamotrigine", "Takes lamotrigine (may blunt the response)"),
        ("takes_opioids", "opioids", "Takes an opioid"),
        ("takes_maoi", "maoi", "Takes an MAOI"),
    ):
        rules.when("medications", link_id, yes, code, CLINICIAN_REVIEW, reason)
    rules.when(
        "medications",
        "ketamine_or_anaesthesia_reaction",
        yes,
        "prior_ketamine_reaction",
        CLINICIAN_REVIEW,
        "Prior reaction to ketamine or an anaesthetic",
    )

    # Instrument results.
    audit = scores.get("audit")
    if audit is not None and "audit_harmful_or_above" in audit.flags:
        rules.flags.append(
            Flag(
                "alcohol_harmful",
                CLINICIAN_REVIEW,
                f"AUDIT {audit.total}: {audit.severity.replace('-', ' ')}",
                f"AUDIT total {audit.total} of 40",
                "audit",
            )
        )
    pcl5 = scores.get("pcl5")
    if pcl5 is not None and "pcl5_probable_ptsd" in pcl5.flags:
        rules.flags.append(
            Flag(
                "probable_ptsd",
                INFO,
                "PCL-5 at or above the probable PTSD cut-off",
                f"PCL-5 total {pcl5.total} of 80",
                "pcl5",
            )
        )
    phq9 = scores.get("phq9")
    if phq9 is not None and phq9.severity == "severe":
        rules.flags.append(
            Flag(
                "severe_depression",
                CLINICIAN_REVIEW,
                "PHQ-9 in the severe range",
                f"PHQ-9 total {phq9.total} of 27",
                "phq9",
            )
        )

    given = rules.value("about", "date_of_birth")
    if booked_date_of_birth and given and given != booked_date_of_birth:
        rules.add(
            "date_of_birth_mismatch",
            CLINICIAN_REVIEW,
            f"Date of birth differs from the one given at booking ({booked_date_of_birth})",
            "about",
            "date_of_birth",
        )
    if age_at_consultation is not None and age_at_consultation < adult_age:
        rules.flags.append(
            Flag(
                UNDER_ADULT_AGE,
                CLINICIAN_REVIEW,
                f"Under {adult_age}: guardian consent and adolescent assent needed",
                f"Age {age_at_consultation} at the consultation",
                "about",
            )
        )

    return sorted(rules.flags, key=lambda flag: LEVEL_ORDER[flag.level])


def is_urgent(flags):
    return any(flag.level == URGENT for flag in flags)
