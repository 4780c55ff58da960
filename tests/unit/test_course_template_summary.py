"""A course template's shape in plain words, as the admin's edit page says it (admin.course_templates.describe)."""

import pytest

from kapclinic.admin.course_templates import describe
from kapclinic.courses.plan import CourseShape


@pytest.mark.parametrize(
    ("shape", "words"),
    [
        (
            CourseShape(),
            "2 preparation sessions, then 3 × [dosing, then integration 1–3 days later]; "
            "at least 6 days between dosing sessions; at least 1 day after each preparation session",
        ),
        (
            CourseShape(preparation_count=1, cycles=1, integration_min_days=2, integration_max_days=2),
            "1 preparation session, then dosing, then integration 2 days later; "
            "at least 1 day after each preparation session",
        ),
        (
            CourseShape(preparation_count=0, cycles=2, integration_min_days=0, integration_max_days=0),
            "2 × [dosing, then integration the same day]; at least 6 days between dosing sessions",
        ),
        (
            CourseShape(preparation_count=0, cycles=1, integration_min_days=0, integration_max_days=1),
            "Dosing, then integration the same day to 1 day later",
        ),
        (CourseShape(preparation_count=1, cycles=0), "1 preparation session"),
        (
            CourseShape(preparation_count=3, cycles=0, min_days_after_preparation=0),
            "3 preparation sessions; the session after a preparation session may be on the same day",
        ),
    ],
    ids=["demo", "one-each", "no-preparation", "one-cycle-only", "one-preparation-only", "same-day-preparations"],
)
def test_a_template_is_summed_up_in_plain_words(shape, words):
    assert describe(shape) == words
