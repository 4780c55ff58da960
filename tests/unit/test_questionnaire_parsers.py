"""The questionnaire's parsers: one per question type (kapclinic.intake.questionnaire.PARSERS).

A question whose type has no parser would fail only when a patient answers it, as a
server error on their step; these tests catch that when the definition is written.
"""

from dataclasses import replace
from datetime import date

import pytest

from kapclinic.intake import questionnaire
from kapclinic.intake.questionnaire import PARSERS, STEPS_BY_KEY

TODAY = date(2026, 6, 1)
QUESTIONS = [question for step in STEPS_BY_KEY.values() for question in step.questions]


@pytest.mark.parametrize("question_type", sorted({question.type for question in QUESTIONS}))
def test_every_type_of_question_the_patient_is_asked_has_a_parser(question_type):
    assert question_type in PARSERS


def test_a_question_of_a_type_without_a_parser_is_a_definition_error_once_answered():
    legal_name = STEPS_BY_KEY["about"].questions[0]
    misspelt = replace(legal_name, type="strng")
    step = replace(STEPS_BY_KEY["about"], questions=(misspelt,))

    with pytest.raises(ValueError, match="unknown question type strng"):
        questionnaire.validate_step(step, {misspelt.link_id: ["Ana"]}, TODAY)
