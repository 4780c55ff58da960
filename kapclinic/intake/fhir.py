"""The intake questionnaire and a patient's answers as HL7 FHIR R4 (4.0.1) resources.

Pure module (standard library and the questionnaire definition only; no Flask, no
database), so an export can be built and checked without the app. Resources are plain
dicts ready for ``json.dumps``:

- ``questionnaire_resource(version, canonical_base)``: the ``Questionnaire``.
- ``questionnaire_response_resource(intake, canonical_base)``: one intake as a
  ``QuestionnaireResponse``, with instrument total scores as contained ``Observation``s.
  The caller builds the ``IntakeAnswers`` from the Intake row.

Spec: https://hl7.org/fhir/R4/questionnaire.html ,
https://hl7.org/fhir/R4/questionnaireresponse.html and https://hl7.org/fhir/R4/observation.html .

linkIds: each step is a ``group`` item whose linkId is the step key; its questions are
``"<step key>.<question linkId>"``. linkIds must be unique across the whole Questionnaire
(invariant que-2), and plain question linkIds are not: the step "reasons" has a
question "reasons". Both resources use the same scheme.

Only the current questionnaire version is defined in code, so only it can be exported.

Subject: the clinic has no FHIR Patient server to point at, so the patient travels with
the response as a contained Patient (name and birth date, what a receiving system
matches on) and ``subject`` is ``{"reference": "#patient"}``; the score Observations
point at it too. A logical reference with only an identifier would need an identifier
system the receiver knows, and the clinic has none to offer.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from kapclinic.intake.instruments import INSTRUMENTS, severity_label
from kapclinic.intake.questionnaire import GUARDIAN, QUESTIONNAIRE_VERSION, STEPS, STEPS_BY_KEY, steps_for

LOINC = "http://loinc.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
QUESTIONNAIRE_SLUG = "kapclinic-intake"

# QuestionnaireResponse.status (http://hl7.org/fhir/R4/valueset-questionnaire-answers-status.html).
RESPONSE_STATUSES = ("in-progress", "completed", "amended", "entered-in-error", "stopped")

# Our question types -> FHIR R4 item types (http://hl7.org/fhir/R4/valueset-item-type.html).
# Email and phone answers are cleaned text, so they travel as strings.
ITEM_TYPES = {
    "string": "string",
    "text": "text",
    "email": "string",
    "phone": "string",
    "date": "date",
    "boolean": "boolean",
    "integer": "integer",
    "choice": "choice",
}

# The answer value[x] each FHIR item type takes (the item-type definitions above).
ANSWER_KEYS = {
    "string": "valueString",
    "text": "valueString",
    "date": "valueDate",
    "boolean": "valueBoolean",
    "integer": "valueInteger",
    "choice": "valueCoding",
}

# que-10: maxLength is only allowed on simple text-like types; of ours, string and text.
TYPES_WITH_MAX_LENGTH = ("string", "text")

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
PATIENT_ID = "patient"

# PCL-5 (panel 101697-1): no item codes were found in a source we could check (the LOINC
# pages found list the panel and its score 101698-9 only), so its items stay uncoded; codes
# LOINC publishes for no item are not made up.

# Every step in the order a patient meets them: the guardian signs just before the
# patient's own consent, where steps_for puts the guardian step for a minor.
ALL_STEPS = (*STEPS[:-1], GUARDIAN, STEPS[-1])


@dataclass(frozen=True)
class IntakeAnswers:
    """What the export needs from an Intake row, so that this module stays free of the database.

    ``answers`` is ``{step key: {linkId: value}}`` as stored; ``results`` holds the stored
    ``{"scores": {instrument key: {"total", "severity", ...}}}``; ``response_status`` is a
    FHIR QuestionnaireResponse status (Intake.response_status); ``authored_dt`` is when the
    answers last changed (Intake.updated_dt), timezone-aware; ``is_minor`` decides whether
    the guardian step belongs to the response. ``patient_name`` and ``birth_date`` (the
    booking's) describe the subject.
    """

    public_id: str
    questionnaire_version: str
    response_status: str
    answers: dict
    results: dict
    authored_dt: datetime
    is_minor: bool
    patient_name: str = ""
    birth_date: date | None = None


def questionnaire_url(canonical_base):
    """The Questionnaire's canonical URL; a response points at it with ``|version``."""
    return f"{canonical_base.rstrip('/')}/Questionnaire/{QUESTIONNAIRE_SLUG}"


def questionnaire_resource(version, canonical_base):
    """The FHIR Questionnaire for ``version``: one group per step, the guardian step included."""
    _check_version(version)
    base = canonical_base.rstrip("/")
    return {
        "resourceType": "Questionnaire",
        "id": _checked_id(f"{QUESTIONNAIRE_SLUG}-{version}"),
        "url": questionnaire_url(base),
        "version": version,
        "name": "KapclinicIntake",
        "title": "Ketamine-assisted psychotherapy intake questionnaire",
        "status": "active",
        # The instruments' publishers ask for their credit lines to travel with the items (once each).
        "copyright": "\n\n".join(dict.fromkeys(step.credit_line for step in ALL_STEPS if step.credit_line)),
        "item": [_group_item(step, base) for step in ALL_STEPS],
    }


def questionnaire_response_resource(intake, canonical_base):
    """The FHIR QuestionnaireResponse for one intake.

    Groups follow the Questionnaire's order and hold only the steps this patient sees
    (steps_for); within them, only enabled questions that have an answer. Instrument total
    scores are contained Observations that point back at the response (``derivedFrom: #``).
    """
    _check_version(intake.questionnaire_version)
    status = str(intake.response_status)
    if status not in RESPONSE_STATUSES:
        raise ValueError(f"{status!r} is not a QuestionnaireResponse status ({', '.join(RESPONSE_STATUSES)})")
    base = canonical_base.rstrip("/")
    authored = _utc_datetime(intake.authored_dt)
    shown = {step.key for step in steps_for(intake.answers, intake.is_minor)}
    answered = {
        step.key: enabled
        for step in ALL_STEPS
        if step.key in shown and (enabled := _enabled_answers(step, intake.answers.get(step.key, {})))
    }
    observations = _score_observations(answered, intake.results, status, authored)
    resource = {
        "resourceType": "QuestionnaireResponse",
        "id": _checked_id(intake.public_id),
        "contained": [_patient(intake), *observations],
        "identifier": {"system": f"{base}/intake", "value": intake.public_id},
        "questionnaire": f"{questionnaire_url(base)}|{intake.questionnaire_version}",
        "status": status,
        "subject": _SUBJECT,
        "authored": authored,
    }
    if answered:
        resource["item"] = [
            _answered_group(STEPS_BY_KEY[step_key], enabled, base) for step_key, enabled in answered.items()
        ]
    return resource


_SUBJECT = {"reference": f"#{PATIENT_ID}"}


def _patient(intake):
    """The patient as a contained Patient: a receiving system matches on name and birth date."""
    patient = {"resourceType": "Patient", "id": PATIENT_ID}
    if intake.patient_name:
        # One name as typed: splitting it into given and family names would guess.
        patient["name"] = [{"text": intake.patient_name}]
    if intake.birth_date:
        patient["birthDate"] = intake.birth_date.isoformat()
    return patient


# --- Questionnaire items ------------------------------------------------------------


def _group_item(step, base):
    group = {"linkId": step.key}
    instrument = INSTRUMENTS.get(step.instrument)
    if instrument and instrument.loinc_panel:
        group["code"] = [_loinc(instrument.loinc_panel)]
    group |= {"text": step.title, "type": "group"}
    if step.shown_when:
        step_key, link_id, code = step.shown_when
        group["enableWhen"] = [_enable_when(STEPS_BY_KEY[step_key], link_id, code, base)]
    children = [{"linkId": _link_id(step, "intro"), "text": step.intro, "type": "display"}] if step.intro else []
    group["item"] = children + [_question_item(step, question, base) for question in step.questions]
    return group


def _question_item(step, question, base):
    item_type = ITEM_TYPES[question.type]
    item = {"linkId": _link_id(step, question.link_id)}
    code = question.loinc
    if code:
        item["code"] = [_loinc(code)]
    item |= {"text": question.text, "type": item_type}
    if question.enable_when:
        item["enableWhen"] = [_enable_when(step, link_id, expected, base) for link_id, expected in question.enable_when]
        if len(question.enable_when) > 1:  # que-12: required once there is more than one condition
            item["enableBehavior"] = question.enable_behavior
    if question.required:
        item["required"] = True
    if question.repeats:
        item["repeats"] = True
    if item_type in TYPES_WITH_MAX_LENGTH:
        item["maxLength"] = question.max_length
    if question.options:
        item["answerOption"] = [{"valueCoding": coding} for coding in _option_codings(step, question, base).values()]
    return item


def _enable_when(step, link_id, expected, base):
    """One enableWhen: ``True`` means "answered" (a name typed in), anything else an option code."""
    question = _question(step, link_id)
    condition = {"question": _link_id(step, link_id)}
    if expected is True:
        if question.type == "choice":
            # Our "any yes" on a choice also rejects "no"; FHIR "exists" would not.
            raise ValueError(f"{step.key}.{link_id}: 'any yes' on a choice has no FHIR enableWhen")
        return condition | {"operator": "exists", "answerBoolean": True}
    return condition | {"operator": "=", "answerCoding": _option_codings(step, question, base)[expected]}


def _option_codings(step, question, base):
    """The Coding of each option, by our answer code.

    Instrument options use their LOINC answer code where the registry has one; other
    options are our own codes in a code system per question, because the same code means
    different things in different questions ("0" is "Never" in AUDIT, "Not at all" in PCL-5).
    """
    loinc_answers = _loinc_answer_codes(step, question)
    own_system = f"{base}/CodeSystem/{QUESTIONNAIRE_SLUG}/{_link_id(step, question.link_id)}"
    return {
        code: {"system": LOINC, "code": loinc_answers[code], "display": label}
        if code in loinc_answers
        else {"system": own_system, "code": code, "display": label}
        for code, label in question.options
    }


def _loinc_answer_codes(step, question):
    """LOINC answer codes (LA...) of an instrument item's options, by our answer code."""
    if not step.instrument:
        return {}
    instrument = INSTRUMENTS[step.instrument]
    item = next(item for item in (*instrument.items, *instrument.extra_items) if item.link_id == question.link_id)
    # The question's options were built from the item's, in the same order.
    pairs = zip(question.options, item.options, strict=True)
    return {code: option.loinc for (code, _label), option in pairs if option.loinc}


# --- QuestionnaireResponse items ----------------------------------------------------


def _enabled_answers(step, saved):
    """The saved answers to enabled questions, decided in question order as validate_step does.

    A leftover answer to a hidden question is neither exported nor allowed to enable another;
    values that are not answers to questions (the consent's signed_at) are left out.
    """
    enabled = {question.link_id: saved[question.link_id] for question in step.questions if question.link_id in saved}
    for question in step.questions:
        if not question.is_enabled(enabled):
            enabled.pop(question.link_id, None)
    return enabled


def _answered_group(step, enabled, base):
    return {
        "linkId": step.key,
        "text": step.title,
        "item": [
            {
                "linkId": _link_id(step, question.link_id),
                "text": question.text,
                "answer": _answers(step, question, enabled[question.link_id], base),
            }
            for question in step.questions
            if question.link_id in enabled
        ],
    }


def _answers(step, question, value, base):
    """One answer per value: a repeating choice gives one answer per option chosen."""
    if question.type == "choice":
        codings = _option_codings(step, question, base)
        return [{"valueCoding": codings[code]} for code in (value if question.repeats else [value])]
    return [{ANSWER_KEYS[ITEM_TYPES[question.type]]: value}]


def _score_observations(answered, results, status, authored):
    """Instrument total scores (those with a LOINC total code) as Observations contained in the response.

    A draft's scores may still change, so they are "preliminary" until the response is complete.
    """
    scores = results.get("scores", {})
    observations = []
    for step_key in answered:
        instrument = INSTRUMENTS.get(STEPS_BY_KEY[step_key].instrument)
        score = scores.get(instrument.key) if instrument else None
        if not score or score["total"] is None or not instrument.loinc_total:
            continue
        observations.append(
            {
                "resourceType": "Observation",
                "id": _checked_id(f"{instrument.key}-total"),
                "status": "preliminary" if status == "in-progress" else "final",
                "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}],
                "code": {"coding": [_loinc(instrument.loinc_total)], "text": f"{instrument.short_title} total score"},
                "subject": _SUBJECT,
                "effectiveDateTime": authored,
                "valueInteger": score["total"],
                "interpretation": [{"text": severity_label(score["severity"])}],
                # "#" is the containing QuestionnaireResponse (invariant dom-3).
                "derivedFrom": [{"reference": "#"}],
            }
        )
    return observations


# --- shared helpers -------------------------------------------------------------------


def _link_id(step, link_id):
    return f"{step.key}.{link_id}"


def _question(step, link_id):
    return next(question for question in step.questions if question.link_id == link_id)


def _loinc(code):
    # No display: the registry holds LOINC codes, not LOINC's official display names.
    return {"system": LOINC, "code": code}


def _check_version(version):
    if version != QUESTIONNAIRE_VERSION:
        raise ValueError(f"questionnaire version {version!r} is not defined here (only {QUESTIONNAIRE_VERSION!r})")


def _checked_id(value):
    if not FHIR_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not a FHIR id (1-64 of A-Z, a-z, 0-9, '-', '.')")
    return value


def _utc_datetime(moment):
    """A FHIR dateTime in UTC with its offset, e.g. 2026-11-25T12:00:00Z."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("authored_dt must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
