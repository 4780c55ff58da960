"""One plausible adult's intake answers, as a browser posts them (field -> list of strings).

Used by `flask demo-data` to fill demo intakes, and by the tests as their valid baseline.
"""

SAMPLE_ANSWERS = {
    "about": {
        "legal_name": "Ana Patient",
        "preferred_name": "Ana",
        "pronouns": "she/her",
        "date_of_birth": "1990-04-12",
        "address_line": "12 Elm Street",
        "city": "Springfield",
        "region": "IL",
        "postal_code": "62701",
        "phone": "+1 212 555 0100",
        "emergency_name": "Ben Patient",
        "emergency_relationship": "Brother",
        "emergency_phone": "+1 212 555 0101",
        "driver": "Ben (brother)",
    },
    "reasons": {"reasons": ["depression", "anxiety"], "hopes": "Feel like myself again"},
    "history": {
        "prescriber": "Dr. Shah 555-0102",
        "consent_to_contact_providers": "yes",
        "ad1_name": "Sertraline",
        "ad1_dose": "150 mg",
        "ad1_duration": "8 months",
        "ad1_response": "partly",
        "ad2_name": "Bupropion",
        "ad2_dose": "300 mg",
        "ad2_duration": "6 months",
        "ad2_response": "no_help",
        "psychotherapy": "CBT for a year",
        "had_ect": "no",
        "had_tms": "no",
        "had_esketamine": "no",
        "had_ketamine": "no",
    },
    "medications": {
        "medication_list": "sertraline 150 mg daily",
        "allergies": "none",
        "takes_benzodiazepines": "no",
        "takes_gabapentinoids": "no",
        "takes_lamotrigine": "no",
        "takes_opioids": "no",
        "takes_maoi": "no",
        "takes_stimulants": "no",
        "ketamine_or_anaesthesia_reaction": "no",
    },
    "medical": {
        "bp_systolic": "122",
        "bp_diastolic": "78",
        "high_blood_pressure": "no",
        "heart_disease": "no",
        "stroke_or_aneurysm": "no",
        "head_injury_or_icp": "no",
        "glaucoma_or_eye_pressure": "no",
        "seizures": "no",
        "thyroid": "no",
        "liver_disease": "no",
        "bladder_problems": "no",
        "pregnancy": "no",
    },
    "psychiatric": {
        "psychosis": "no",
        "mania": "no",
        "dissociation": "no",
        "hospitalised": "no",
        "family_psychosis_bipolar": "no",
        "drug_use": "no",
    },
    "phq9": {f"phq9_{number}": "1" for number in range(1, 9)} | {"phq9_9": "0"},
    "asq": {"asq_1": "false", "asq_2": "false", "asq_3": "false", "asq_4": "false"},
    "gad7": {f"gad7_{number}": "2" for number in range(1, 8)},
    "audit": {"audit_1": "1", "audit_2": "0", "audit_3": "0"} | {f"audit_{number}": "0" for number in range(4, 11)},
    "pcl5": {f"pcl5_{number}": "2" for number in range(1, 21)},
    "guardian": {
        "guardian_name": "Grace Guardian",
        "guardian_relationship": "Mother",
        "guardian_email": "grace@example.com",
        "guardian_phone": "+1 212 555 0103",
        "assent": "yes",
    },
    "consent": {"agree": "yes", "signature": "Ana Patient"},
}


def sample_form(step_key, **changes):
    """The step's valid answers with changes, every value as a list the way browsers send them."""
    values = {**SAMPLE_ANSWERS[step_key], **changes}
    return {key: value if isinstance(value, list) else [value] for key, value in values.items() if value is not None}
