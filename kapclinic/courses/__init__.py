"""Treatment courses: a series of sessions with one clinician (preparation, dosing, integration)."""
