"""Valid answers for every intake step, as a browser would post them (field -> list of strings)."""

import re

from werkzeug.datastructures import MultiDict

from kapclinic.intake.questionnaire import STEPS_BY_KEY
from tests.conftest import patient_json

VALID = {
    "about": {
        "legal_name": "Ana Patient", "preferred_name": "Ana", "pronouns": "she/her", "date_of_birth": "1990-04-12",
        "address_line": "12 Elm Street", "city": "Springfield", "region": "IL", "postal_code": "62701",
        "phone": "+1 212 555 0100", "emergency_name": "Ben Patient", "emergency_relationship": "Brother",
        "emergency_phone": "+1 212 555 0101", "driver": "Ben (brother)",
    },
    "reasons": {"reasons": ["depression", "anxiety"], "hopes": "Feel like myself again"},
    "history": {
        "prescriber": "Dr. Shah 555-0102", "consent_to_contact_providers": "yes",
        "ad1_name": "Sertraline", "ad1_dose": "150 mg", "ad1_duration": "8 months", "ad1_response": "partly",
        "ad2_name": "Bupropion", "ad2_dose": "300 mg", "ad2_duration": "6 months", "ad2_response": "no_help",
        "psychotherapy": "CBT for a year", "had_ect": "no", "had_tms": "no", "had_esketamine": "no", "had_ketamine": "no",
    },
    "medications": {
        "medication_list": "sertraline 150 mg daily", "allergies": "none",
        "takes_benzodiazepines": "no", "takes_gabapentinoids": "no", "takes_lamotrigine": "no",
        "takes_opioids": "no", "takes_maoi": "no", "takes_stimulants": "no", "ketamine_or_anaesthesia_reaction": "no",
    },
    "medical": {
        "bp_systolic": "122", "bp_diastolic": "78", "high_blood_pressure": "no", "heart_disease": "no",
        "stroke_or_aneurysm": "no", "head_injury_or_icp": "no", "glaucoma_or_eye_pressure": "no", "seizures": "no",
        "thyroid": "no", "liver_disease": "no", "bladder_problems": "no", "pregnancy": "no",
    },
    "psychiatric": {
        "psychosis": "no", "mania": "no", "dissociation": "no", "hospitalised": "no",
        "family_psychosis_bipolar": "no", "drug_use": "no",
    },
    "phq9": {f"phq9_{number}": "1" for number in range(1, 9)} | {"phq9_9": "0"},
    "asq": {"asq_1": "false", "asq_2": "false", "asq_3": "false", "asq_4": "false"},
    "gad7": {f"gad7_{number}": "2" for number in range(1, 8)},
    "audit": {"audit_1": "1", "audit_2": "0", "audit_3": "0"} | {f"audit_{number}": "0" for number in range(4, 11)},
    "pcl5": {f"pcl5_{number}": "2" for number in range(1, 21)},
    "guardian": {
        "guardian_name": "Grace Guardian", "guardian_relationship": "Mother",
        "guardian_email": "grace@example.com", "guardian_phone": "+1 212 555 0103", "assent": "yes",
    },
    "consent": {"agree": "yes", "signature": "Ana Patient"},
}


def form_for(step_key, **changes):
    """The step's valid answers with changes, every value as a list the way browsers send them."""
    assert step_key in STEPS_BY_KEY
    values = {**VALID[step_key], **changes}
    return {key: value if isinstance(value, list) else [value] for key, value in values.items() if value is not None}


def book_for_intake(client, offering, mailbox, date_of_birth="1990-04-12", slot=0, **patient):
    """Book the offering's `slot`-th free start through the API; return the intake link from the confirmation email."""
    response = client.post(
        "/api/v1/bookings",
        json=patient_json(
            offering,
            offering.starts[slot].isoformat(),
            clinician_id=offering.clinician_id,
            date_of_birth=date_of_birth,
            **patient,
        ),
    )
    assert response.status_code == 201, response.json
    body = mailbox.messages[-1].get_body(("plain",)).get_content()
    intake_url = re.search(r"https://clinic\.example\.org(/intake/\S+)", body).group(1)
    return intake_url


def post_step(client, intake_url, key, **changes):
    return client.post(f"{intake_url}/step/{key}", data=MultiDict([(k, v) for k, values in form_for(key, **changes).items() for v in values]))


def complete_steps(client, intake_url, keys, **changes_by_step):
    last = None
    for key in keys:
        last = post_step(client, intake_url, key, **changes_by_step.get(key, {}))
        assert last.status_code == 302, (key, last.text[:2000])
    return last


ADULT_STEPS = ["about", "reasons", "history", "medications", "medical", "psychiatric", "phq9", "asq", "gad7", "audit", "consent"]
