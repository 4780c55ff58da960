"""The intake questionnaire as data: steps of FHIR-shaped questions (linkId, type, options, enableWhen).

Pure module (no Flask). The definition is versioned: an intake stores the version it
was answered against, and a changed question gets a new version rather than an edit
in place, so old answers keep their questions.

Validation turns a submitted form (a mapping of field name -> list of strings, as
browsers send it) into typed answers and per-question messages; it never raises on
bad input.
"""

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from kapclinic.core import validation
from kapclinic.intake.instruments import INSTRUMENTS

QUESTIONNAIRE_VERSION = "2026-11.1"
CONSENT_VERSION = "2026-11.1"
TEXT_MAX = 2000
LINE_MAX = 200

YES_NO = (("yes", "Yes"), ("no", "No"))
YES_NO_UNSURE = (("yes", "Yes"), ("no", "No"), ("unsure", "Not sure"))


@dataclass(frozen=True)
class Question:
    link_id: str
    text: str
    type: str  # string | name | text | email | phone | date | boolean | choice | integer
    required: bool = False
    options: tuple = ()  # (code, label) pairs for choice questions
    repeats: bool = False  # a choice question that takes several answers
    hint: str = ""
    minimum: int | None = None
    maximum: int | None = None
    max_length: int = LINE_MAX
    # Shown (and validated) only when another answer in the same step matches:
    # (link_id, expected answer code or True for "any yes/non-empty").
    enable_when: tuple = ()
    # FHIR enableBehavior: "all" conditions must hold, or "any" one of them.
    enable_behavior: str = "all"
    loinc: str | None = None
    # In a step's add-another rows (Step.rows): the row's number, from 1; 0 for a question on its own.
    row: int = 0

    def is_enabled(self, answers):
        if not self.enable_when:
            return True
        results = (_matches(answers.get(link_id), expected) for link_id, expected in self.enable_when)
        return any(results) if self.enable_behavior == "any" else all(results)


def answer_text(question, value):
    """The answer as the patient saw it: option labels, Yes/No for a tick, or what they typed."""
    labels = dict(question.options)
    if isinstance(value, list):
        return ", ".join(labels.get(item, item) for item in value)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return labels.get(value, str(value))


def _matches(value, expected):
    if expected is True:
        return bool(value) and value not in ("no", "false", False)
    if isinstance(value, list):
        return expected in value
    return value == expected


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    intro: str
    questions: tuple
    instrument: str | None = None
    credit_line: str = ""
    # Offered only when an earlier step's answer matches: (step key, link_id, code).
    shown_when: tuple | None = None
    # Rules across answers of this step: functions of the answers returning {link_id: message}.
    checks: tuple = ()
    # The singular noun of this step's add-another rows ("antidepressant"), when it has them.
    row_noun: str = ""

    def is_shown(self, answers_by_step):
        if self.shown_when is None:
            return True
        step_key, link_id, code = self.shown_when
        value = answers_by_step.get(step_key, {}).get(link_id)
        return code in value if isinstance(value, list) else value == code


def _yes_no(link_id, text, hint="", required=True):
    return Question(link_id, text, "choice", required=required, options=YES_NO, hint=hint)


def _details(link_id, about, text="Please tell us more"):
    return Question(link_id, text, "text", enable_when=((about, "yes"),), max_length=TEXT_MAX)


def _code(value):
    """Answer codes in forms and stored answers: "0".."4" for scores, "true"/"false" for yes/no."""
    return str(value).lower()


def _instrument_question(item, scored):
    # A scored item shown only after another answer (the ASQ acuity question) must be
    # answered once it shows: the score cannot be computed without it.
    return Question(
        item.link_id,
        item.text,
        "choice" if item.kind == "choice" else "text",
        required=item.required or (scored and bool(item.enable_when)),
        options=tuple((_code(option.value), option.label) for option in item.options),
        max_length=TEXT_MAX,
        enable_when=tuple((link_id, _code(value)) for link_id, value in item.enable_when),
        enable_behavior="any",
        loinc=item.loinc,
    )


def _instrument_step(key, title, intro, shown_when=None):
    """A step that asks one instrument from the registry, items then its unscored extras."""
    instrument = INSTRUMENTS[key]
    return Step(
        key=key,
        title=title,
        intro=f"{intro} {instrument.instructions}".strip(),
        questions=(
            *(_instrument_question(item, scored=True) for item in instrument.items),
            *(_instrument_question(item, scored=False) for item in instrument.extra_items),
        ),
        instrument=key,
        credit_line=instrument.credit_line,
        shown_when=shown_when,
    )


REASONS = (
    ("depression", "Depression"),
    ("anxiety", "Anxiety"),
    ("trauma", "PTSD or trauma"),
    ("substance", "Alcohol or other substance use"),
    ("bipolar", "Bipolar disorder"),
    ("eating", "An eating disorder"),
    ("other", "Something else"),
)

ABOUT = Step(
    "about",
    "About you",
    "How we reach you, and who helps you get home after a session.",
    (
        Question("legal_name", "Legal name", "string", required=True),
        Question("preferred_name", "Name you would like us to use", "string"),
        Question("pronouns", "Pronouns", "string", max_length=40),
        Question("date_of_birth", "Date of birth", "date", required=True),
        Question("address_line", "Street address", "string", required=True),
        Question("city", "City or town", "string", required=True),
        Question("region", "State, province or county", "string"),
        Question("postal_code", "Postal code", "string", required=True, max_length=20),
        Question("phone", "Phone", "phone", required=True, max_length=32),
        Question("emergency_name", "Emergency contact: name", "string", required=True),
        Question("emergency_relationship", "Emergency contact: relationship to you", "string", required=True),
        Question("emergency_phone", "Emergency contact: phone", "phone", required=True, max_length=32),
        Question(
            "driver",
            "Who can drive you home after a treatment session?",
            "string",
            required=True,
            hint="You cannot drive for the rest of the day after ketamine. "
            "A name and how they relate to you is enough.",
        ),
    ),
)

REASONS_STEP = Step(
    "reasons",
    "Why you are reaching out",
    "There are no wrong answers. Choose everything that applies.",
    (
        Question("reasons", "What would you like help with?", "choice", required=True, options=REASONS, repeats=True),
        Question("reasons_other", "Tell us what else", "string", enable_when=(("reasons", "other"),)),
        Question("hopes", "What do you hope will change?", "text", required=True, max_length=TEXT_MAX),
    ),
)

ANTIDEPRESSANT_ROWS = 5
RESPONSES = (
    ("helped", "Helped"),
    ("partly", "Helped a little"),
    ("no_help", "Did not help"),
    ("side_effects", "Stopped for side effects"),
)


def _antidepressant_rows():
    questions = []
    for row in range(1, ANTIDEPRESSANT_ROWS + 1):
        named = ((f"ad{row}_name", True),)
        questions += [
            Question(
                f"ad{row}_name",
                f"Antidepressant {row}: name",
                "string",
                hint="Start with the most recent. Leave blank if none." if row == 1 else "",
                row=row,
            ),
            Question(f"ad{row}_dose", f"Antidepressant {row}: highest dose", "string", enable_when=named, row=row),
            Question(
                f"ad{row}_duration", f"Antidepressant {row}: how long you took it", "string", enable_when=named, row=row
            ),
            Question(
                f"ad{row}_response",
                f"Antidepressant {row}: how it went",
                "choice",
                options=RESPONSES,
                enable_when=named,
                row=row,
            ),
        ]
    return tuple(questions)


HISTORY = Step(
    "history",
    "Treatment so far",
    "Who cares for you now and what you have tried. It helps the clinician see the whole picture.",
    (
        Question("prescriber", "Current prescriber (name and phone), if any", "string"),
        Question("therapist", "Current therapist (name and phone), if any", "string"),
        Question("primary_care", "Primary care doctor (name and phone), if any", "string"),
        _yes_no("consent_to_contact_providers", "May we contact the people above about your care?"),
        *_antidepressant_rows(),
        Question("psychotherapy", "Talking therapies you have had (kind and how long)", "text", max_length=TEXT_MAX),
        _yes_no("had_ect", "Have you had ECT (electroconvulsive therapy)?"),
        _yes_no("had_tms", "Have you had TMS (transcranial magnetic stimulation)?"),
        _yes_no("had_esketamine", "Have you had esketamine (Spravato)?"),
        _yes_no("had_ketamine", "Have you had ketamine treatment before?"),
        _details("prior_treatment_details", "had_ketamine", "How did ketamine treatment go?"),
    ),
    row_noun="antidepressant",
)

MEDICATIONS = Step(
    "medications",
    "Medicines and allergies",
    "Some medicines change how ketamine works, so we ask about a few by name.",
    (
        Question(
            "medication_list",
            "Every medicine and supplement you take, with the dose",
            "text",
            hint="One per line, for example: sertraline 100 mg daily",
            max_length=TEXT_MAX,
        ),
        Question("allergies", "Allergies (medicines, foods, other)", "text", max_length=TEXT_MAX),
        _yes_no(
            "takes_benzodiazepines",
            "Do you take a benzodiazepine?",
            "For example lorazepam, clonazepam, alprazolam, diazepam",
        ),
        _yes_no("takes_gabapentinoids", "Do you take gabapentin or pregabalin?"),
        _yes_no("takes_lamotrigine", "Do you take lamotrigine?"),
        _yes_no(
            "takes_opioids",
            "Do you take an opioid?",
            "Including tramadol, codeine, oxycodone, buprenorphine, methadone",
        ),
        _yes_no("takes_maoi", "Do you take an MAOI?", "For example phenelzine, tranylcypromine, selegiline"),
        _yes_no("takes_stimulants", "Do you take a stimulant?", "For example methylphenidate or amphetamine salts"),
        _yes_no("ketamine_or_anaesthesia_reaction", "Have you ever reacted badly to ketamine or to an anaesthetic?"),
        _details("reaction_details", "ketamine_or_anaesthesia_reaction", "What happened?"),
    ),
)


def _blood_pressure_pair(answers):
    systolic, diastolic = answers.get("bp_systolic"), answers.get("bp_diastolic")
    if (systolic is None) != (diastolic is None):
        missing = "bp_diastolic" if diastolic is None else "bp_systolic"
        return {missing: "Please give both numbers, or leave both blank."}
    if systolic is not None and systolic <= diastolic:
        return {"bp_systolic": "The top number is normally higher than the bottom one. Please check them."}
    return {}


MEDICAL = Step(
    "medical",
    "Physical health",
    "Ketamine raises blood pressure and heart rate for a while, so these questions matter for your safety.",
    (
        Question(
            "bp_systolic",
            "Your last blood pressure: top number (systolic)",
            "integer",
            minimum=60,
            maximum=260,
            hint="Leave blank if you do not know",
        ),
        Question(
            "bp_diastolic", "Your last blood pressure: bottom number (diastolic)", "integer", minimum=30, maximum=160
        ),
        Question(
            "high_blood_pressure",
            "Have you been told you have high blood pressure?",
            "choice",
            required=True,
            options=(
                ("no", "No"),
                ("controlled", "Yes, and it is controlled"),
                ("uncontrolled", "Yes, and it is not well controlled"),
                ("unsure", "Not sure"),
            ),
        ),
        _yes_no("heart_disease", "Heart disease, heart rhythm problems or chest pain (angina)?"),
        _yes_no("stroke_or_aneurysm", "A stroke, or an aneurysm?"),
        _yes_no("head_injury_or_icp", "A serious head injury, or raised pressure inside the skull?"),
        _yes_no("glaucoma_or_eye_pressure", "Glaucoma or raised pressure in the eye?"),
        _yes_no("seizures", "Seizures or epilepsy?"),
        Question(
            "thyroid",
            "A thyroid condition?",
            "choice",
            required=True,
            options=(
                ("no", "No"),
                ("overactive", "Overactive (hyperthyroid)"),
                ("underactive", "Underactive (hypothyroid)"),
                ("unsure", "Not sure"),
            ),
        ),
        _yes_no("liver_disease", "Liver disease?"),
        _yes_no("bladder_problems", "Bladder or urinary problems (pain, frequency, cystitis)?"),
        Question(
            "pregnancy",
            "Are you pregnant, breastfeeding, or planning a pregnancy?",
            "choice",
            required=True,
            options=(
                ("no", "No"),
                ("pregnant", "Pregnant"),
                ("breastfeeding", "Breastfeeding"),
                ("planning", "Planning a pregnancy"),
                ("not_applicable", "Does not apply to me"),
            ),
        ),
        Question("medical_other", "Anything else about your physical health", "text", max_length=TEXT_MAX),
    ),
    checks=(_blood_pressure_pair,),
)

PSYCHIATRIC = Step(
    "psychiatric",
    "Mental health history",
    "Some experiences change how safe or helpful ketamine is. Answer as best you can.",
    (
        Question(
            "psychosis",
            "Have you ever had psychosis (hearing or seeing things others do not, or fixed beliefs others found "
            "untrue), or a diagnosis of schizophrenia?",
            "choice",
            required=True,
            options=YES_NO_UNSURE,
        ),
        Question(
            "mania",
            "Have you had periods of mania or hypomania (very high energy, little need for sleep, racing thoughts)?",
            "choice",
            required=True,
            options=(
                ("no", "No"),
                ("past", "Yes, in the past"),
                ("current", "Yes, now or in the last month"),
                ("unsure", "Not sure"),
            ),
        ),
        _yes_no("dissociation", "Do you often feel detached from yourself or your surroundings (dissociation)?"),
        _yes_no("hospitalised", "Have you ever stayed in hospital for your mental health?"),
        _details("hospital_details", "hospitalised", "When, and what for?"),
        Question(
            "family_psychosis_bipolar",
            "Has a parent, brother or sister had psychosis, schizophrenia or bipolar disorder?",
            "choice",
            required=True,
            options=YES_NO_UNSURE,
        ),
        _yes_no("drug_use", "Have you used recreational drugs in the last year?"),
        Question(
            "drugs_used",
            "Which, and when did you last use each?",
            "text",
            required=True,
            enable_when=(("drug_use", "yes"),),
            max_length=TEXT_MAX,
        ),
        Question(
            "drug_last_use",
            "When did you last use any of them?",
            "choice",
            required=True,
            enable_when=(("drug_use", "yes"),),
            options=(
                ("week", "In the last week"),
                ("month", "In the last month"),
                ("three_months", "In the last 3 months"),
                ("year", "In the last year"),
            ),
        ),
    ),
)

MOOD = _instrument_step("phq9", "Mood over the last two weeks", "")
SAFETY = _instrument_step("asq", "Your safety", "We ask everyone these questions.")
ANXIETY = _instrument_step("gad7", "Worry and anxiety", "")
ALCOHOL = _instrument_step(
    "audit", "Alcohol", "One drink is a can of beer, a glass of wine or a single measure of spirits."
)
TRAUMA = _instrument_step(
    "pcl5",
    "Stressful experiences",
    "You told us trauma is part of why you are reaching out.",
    shown_when=("reasons", "reasons", "trauma"),
)

CONSENT_TEXT = (
    "I confirm that what I have written is true to the best of my knowledge. I understand that this "
    "questionnaire helps a clinician prepare for my consultation; it does not decide whether treatment "
    "is right for me, and it is not read in real time. I understand that ketamine is used off-label for "
    "mental health conditions, and that the clinician will discuss benefits, risks and alternatives with "
    "me before any treatment. If I am in crisis I will call or text 988 or call 911."
)

CONSENT = Step(
    "consent",
    "Consent and signature",
    CONSENT_TEXT,
    (
        Question("agree", "I have read and agree to the statement above", "boolean", required=True),
        Question("signature", "Type your full name as your signature", "string", required=True),
    ),
)

GUARDIAN = Step(
    "guardian",
    "Parent or guardian",
    "Because you are under 18, a parent or guardian must also read and sign the consent. "
    "We will email them their own link.",
    (
        Question("guardian_name", "Parent or guardian: full name", "string", required=True),
        Question("guardian_relationship", "Their relationship to you", "string", required=True),
        Question("guardian_email", "Their email", "email", required=True, max_length=254),
        Question("guardian_phone", "Their phone", "phone", required=True, max_length=32),
        Question(
            "assent",
            "I want to take part in this consultation, and a parent or guardian will be involved",
            "boolean",
            required=True,
        ),
    ),
)

# The guardian's own consent, in the guardian's voice: they sign for themselves, not the young
# person's first-person statement. Versioned like CONSENT_TEXT; the signed text is stored with it.
GUARDIAN_CONSENT_VERSION = "2026-12.1"
GUARDIAN_STATEMENT = (
    "I am {name}'s parent or legal guardian, and I may consent to their health care. I consent to {name} "
    "having a consultation with {clinic}, and to the clinic using {name}'s questionnaire to prepare for it. "
    "I understand that the consultation helps {name}, the clinician and me decide together whether any "
    "treatment is right; it commits nobody to treatment. I understand that ketamine is used off-label for "
    "mental health conditions, and that the clinician will discuss its benefits, risks and alternatives with "
    "{name} and with me before any treatment. I understand that {name}'s answers are kept within the care "
    "team, and that the clinician will discuss with us both what a parent or guardian is told. If {name} is "
    "in crisis I will call or text 988 or call 911."
)


def guardian_statement(first_name, clinic_name):
    return GUARDIAN_STATEMENT.format(name=first_name or "the young person", clinic=clinic_name)


GUARDIAN_SIGNATURE = Step(
    "guardian_signature",
    "Your consent",
    "",
    (
        Question(
            "relationship",
            "Your relationship to them",
            "string",
            required=True,
            hint="For example: mother, father, legal guardian",
            max_length=60,
        ),
        Question("signature", "Your full name, as your signature", "name", required=True),
        Question("agree", "I have read the statement above and I give my consent", "boolean", required=True),
    ),
)

STEPS = (
    ABOUT,
    REASONS_STEP,
    HISTORY,
    MEDICATIONS,
    MEDICAL,
    PSYCHIATRIC,
    MOOD,
    SAFETY,
    ANXIETY,
    ALCOHOL,
    TRAUMA,
    CONSENT,
)
STEPS_BY_KEY = {step.key: step for step in (*STEPS, GUARDIAN)}


def steps_for(answers_by_step, is_minor):
    """Return the steps this patient sees, in order (trauma only if chosen; guardian for minors)."""
    steps = [step for step in STEPS if step.is_shown(answers_by_step)]
    if is_minor:
        steps.insert(len(steps) - 1, GUARDIAN)
    return steps


@dataclass(frozen=True)
class Section:
    """A named part of the questionnaire: progress counts these, so its total never changes part way."""

    title: str
    step_keys: tuple


SECTIONS = (
    Section("About you", ("about", "reasons")),
    Section("Your health and treatment", ("history", "medications", "medical", "psychiatric")),
    Section("How you have been feeling", ("phq9", "asq", "gad7", "audit", "pcl5")),
    Section("Consent", ("guardian", "consent")),
)


@dataclass(frozen=True)
class Progress:
    sections: tuple  # (title, state) for every section; state is "done", "current" or "to do"
    number: int  # the current section's number, from 1
    page: int  # the page's number within its section, from 1
    pages: int  # the section's pages for this patient (trauma and guardian pages come and go)

    @property
    def count(self):
        return len(self.sections)

    @property
    def title(self):
        return self.sections[self.number - 1][0]


def progress(steps, current_key):
    """Where a page sits in the questionnaire: its section among all of them, and its place in that section."""
    number = next(index for index, section in enumerate(SECTIONS, 1) if current_key in section.step_keys)
    shown = [step.key for step in steps if step.key in SECTIONS[number - 1].step_keys]
    states = tuple(
        (section.title, "done" if index < number else "current" if index == number else "to do")
        for index, section in enumerate(SECTIONS, 1)
    )
    return Progress(states, number, shown.index(current_key) + 1, len(shown))


@dataclass(frozen=True)
class Rows:
    """A step's add-another rows: as many show as have answers (at least one), plus any the patient added."""

    noun: str
    rows: tuple  # one tuple of questions per row
    visible: int

    @property
    def may_add(self):
        return self.visible < len(self.rows)


def layout(step, values, added_rows=0):
    """The step's questions in order, with its add-another rows gathered into one Rows block."""
    blocks, rows = [], {}
    for question in step.questions:
        if not question.row:
            blocks.append(question)
            continue
        if not rows:
            blocks.append(None)  # where the rows go
        rows.setdefault(question.row, []).append(question)
    if not rows:
        return blocks
    answered = [row for row, questions in rows.items() if any(values.get(q.link_id) for q in questions)]
    visible = min(len(rows), max([1, *answered]) + added_rows)
    block = Rows(step.row_noun, tuple(tuple(questions) for _, questions in sorted(rows.items())), visible)
    return [block if each is None else each for each in blocks]


def draft_values(step, form):
    """What was typed on a page saved to finish later, kept only for this step's questions and cut to their size."""
    draft = {}
    for question in step.questions:
        typed = [value[: question.max_length] for value in form.get(question.link_id, []) if isinstance(value, str)]
        if question.repeats:
            codes = {code for code, _ in question.options}
            draft[question.link_id] = [value for value in typed if value in codes]
        elif typed and typed[-1].strip():
            draft[question.link_id] = typed[-1]
    return draft


# --- validation -------------------------------------------------------------------


def _clean_text(raw, question):
    value = unicodedata.normalize("NFC", raw).strip()
    if validation.has_unsafe_characters(value, allow_line_breaks=question.type == "text"):
        return None, "Please remove the invisible characters from this answer."
    if len(value) > question.max_length:
        return None, f"Please keep this under {question.max_length} characters."
    return value, None


def _parse_choices(question, raw):
    """A choice question that takes several answers: every submitted code, in the options' order."""
    codes = {code for code, _ in question.options}
    chosen = [value for value in raw if value]
    if any(value not in codes for value in chosen):
        return None, "Please choose from the options given."
    ordered = [code for code, _ in question.options if code in chosen]
    return (ordered or None), None


def _parse_as_typed(question, text, today):
    """Free text is kept as typed (already normalised, trimmed and checked for unsafe characters)."""
    return text, None


def _parse_by(clean):
    """A parser that keeps what a field rule in core.validation makes of the text, or its message."""

    def parse(question, text, today):
        try:
            return clean(text), None
        except validation.InvalidField as error:
            return None, str(error)

    return parse


def _parse_choice(question, text, today):
    if text not in {code for code, _ in question.options}:
        return None, "Please choose one of the options given."
    return text, None


def _parse_boolean(question, text, today):
    # The values a ticked box may post ("on" is a browser's default); an unticked box posts nothing.
    if text not in ("y", "yes", "on", "true", "1"):
        return None, "Please tick the box or leave it empty."
    return True, None


def _parse_integer(question, text, today):
    if not re.fullmatch(r"[0-9]{1,4}", text):
        return None, "Please enter a whole number."
    number = int(text)
    if (question.minimum is not None and number < question.minimum) or (
        question.maximum is not None and number > question.maximum
    ):
        return None, f"Please check this number: it should be between {question.minimum} and {question.maximum}."
    return number, None


def _parse_date(question, text, today):
    """A past date (the intake asks only for dates of birth), within a lifetime of today."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None, "Please enter a whole date: month, day and year."  # as the browser's date field shows it
    if day >= today:
        return None, "This date must be in the past."
    if day.year < today.year - 120:
        return None, "Please check the year."
    return day.isoformat(), None


# One parser per question type, each given the answer's cleaned, non-empty text.
PARSERS = {
    "string": _parse_as_typed,
    "name": _parse_by(validation.clean_name),
    "text": _parse_as_typed,
    "email": _parse_by(validation.clean_email),
    "phone": _parse_by(validation.clean_phone),
    "choice": _parse_choice,
    "boolean": _parse_boolean,
    "integer": _parse_integer,
    "date": _parse_date,
}


def _parse(question, raw_values, today):
    """Return (value, error) for one question; value None means unanswered."""
    raw = [value for value in raw_values if value is not None]
    if question.type == "choice" and question.repeats:
        return _parse_choices(question, raw)
    text = raw[-1] if raw else ""  # a single answer posted twice (a resubmitted form): the last one counts
    if not isinstance(text, str):
        return None, "Please answer this question."
    text, error = _clean_text(text, question)
    if error:
        return None, error
    if text == "":
        return None, None
    if question.type not in PARSERS:
        raise ValueError(f"unknown question type {question.type}")  # a definition error, not user input
    return PARSERS[question.type](question, text, today)


def validate_step(step, form, today):
    """Return (answers, errors) for a submitted step.

    `form` maps field names to lists of submitted strings. Answers hold JSON-native
    values for the enabled questions only; errors map link_id to a message.
    """
    answers, errors = {}, {}
    for question in step.questions:
        value, error = _parse(question, form.get(question.link_id, []), today)
        if error:
            errors[question.link_id] = error
        elif value is not None:
            answers[question.link_id] = value
    # enableWhen is evaluated on the parsed answers: hidden questions are dropped.
    for question in step.questions:
        if not question.is_enabled(answers):
            answers.pop(question.link_id, None)
            errors.pop(question.link_id, None)
        elif question.required and question.link_id not in answers and question.link_id not in errors:
            errors[question.link_id] = "Please answer this question."
    if not errors:
        for check in step.checks:
            errors.update(check(answers))
    return answers, errors


def instrument_answers(step, answers):
    """Return the scored values of an instrument step, in item order, for INSTRUMENTS[key].score."""
    instrument = INSTRUMENTS[step.instrument]
    values = []
    for item in instrument.items:
        code = answers.get(item.link_id)
        if code is None:
            break
        option = next(option for option in item.options if _code(option.value) == code)
        values.append(option.value)
    return values
