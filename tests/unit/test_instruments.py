"""User stories for the screening instruments (kapclinic.intake.instruments).

Each test reads as something a patient, a clinician or the clinic's administrator
expects: a patient sees the published wording and answer scale with the publisher's
credit line; every band boundary lands in the band the instrument's authors define
(PHQ-9 and GAD-7: Kroenke/Spitzer; AUDIT zones: WHO 2001; PCL-5 cut-off 33 unless the
clinic picks another); PHQ-9 item 9 flags for review whatever the total; the ASQ is
negative, non-acute positive or acute positive for every one of its 16 x 3 answer
combinations; malformed answers are refused with ValueError rather than scored; and a
clinic can add a licensed instrument by writing a definition, which is checked when it
is built.

Expected values are worked out by hand from the published scoring rules. Answer lists
for a given total are built by `answers_totalling`, which picks, item by item, the
largest option that still lets the remaining items reach the total. The Hypothesis
example database is disabled so that runs leave no files behind.
"""

import dataclasses
import itertools
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapclinic.intake.instruments import (
    INSTRUMENTS,
    PCL5_DEFAULT_CUTOFF,
    AnswerOption,
    Band,
    Instrument,
    Item,
    ItemFlag,
    Score,
    Subscore,
    TotalFlag,
    make_pcl5,
    severity_label,
)

PHQ9 = INSTRUMENTS["phq9"]
GAD7 = INSTRUMENTS["gad7"]
AUDIT = INSTRUMENTS["audit"]
PCL5 = INSTRUMENTS["pcl5"]
ASQ = INSTRUMENTS["asq"]
SUMMED = ("phq9", "gad7", "audit", "pcl5")

FREQUENCY_LABELS = ("Not at all", "Several days", "More than half the days", "Nearly every day")
PCL5_LABELS = ("Not at all", "A little bit", "Moderately", "Quite a bit", "Extremely")
OCCASION_LABELS = ("Never", "Less than monthly", "Monthly", "Weekly", "Daily or almost daily")
EVER_LABELS = ("No", "Yes, but not in the last year", "Yes, during the last year")


def answers_totalling(instrument, total):
    """A valid answer list for `instrument` whose values sum to `total`."""
    items = instrument.items

    @cache
    def reachable(index, remaining):
        if index == len(items):
            return remaining == 0
        return any(reachable(index + 1, remaining - value) for value in items[index].values if value <= remaining)

    assert reachable(0, total), f"{instrument.short_title} cannot total {total}"
    answers, remaining = [], total
    for index, item in enumerate(items):
        value = max(value for value in item.values if value <= remaining and reachable(index + 1, remaining - value))
        answers.append(value)
        remaining -= value
    return answers


def options(item):
    return tuple((option.value, option.label) for option in item.options)


# --- published wording, scales and credits ----------------------------------------


@pytest.mark.parametrize("key", sorted(INSTRUMENTS))
def test_every_question_of_an_instrument_has_its_own_link_id(key):
    instrument = INSTRUMENTS[key]
    link_ids = [item.link_id for item in instrument.items + instrument.extra_items]
    assert len(link_ids) == len(set(link_ids))
    assert all(link_id.startswith(f"{key}_") for link_id in link_ids)


@pytest.mark.parametrize(
    ("key", "count"),
    [("phq9", 9), ("gad7", 7), ("audit", 10), ("pcl5", 20), ("asq", 5)],
)
def test_each_instrument_asks_its_published_number_of_questions(key, count):
    assert len(INSTRUMENTS[key].items) == count


@pytest.mark.parametrize(("key", "labels"), [("phq9", FREQUENCY_LABELS), ("gad7", FREQUENCY_LABELS)])
def test_phq9_and_gad7_offer_the_published_frequency_scale_scored_0_to_3(key, labels):
    for item in INSTRUMENTS[key].items:
        assert options(item) == tuple(enumerate(labels))


def test_pcl5_offers_the_published_five_point_scale_scored_0_to_4():
    for item in PCL5.items:
        assert options(item) == tuple(enumerate(PCL5_LABELS))


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (
            1,
            (
                (0, "Never"),
                (1, "Monthly or less"),
                (2, "2 to 4 times a month"),
                (3, "2 to 3 times a week"),
                (4, "4 or more times a week"),
            ),
        ),
        (2, ((0, "1 or 2"), (1, "3 or 4"), (2, "5 or 6"), (3, "7, 8, or 9"), (4, "10 or more"))),
        *[(number, tuple(enumerate(OCCASION_LABELS))) for number in range(3, 9)],
        *[(number, ((0, EVER_LABELS[0]), (2, EVER_LABELS[1]), (4, EVER_LABELS[2]))) for number in (9, 10)],
    ],
)
def test_audit_offers_the_who_answers_for_each_question(number, expected):
    assert options(AUDIT.items[number - 1]) == expected


def test_asq_questions_are_yes_or_no():
    for item in ASQ.items:
        assert options(item) == ((True, "Yes"), (False, "No"))


@pytest.mark.parametrize(
    ("key", "stem"),
    [
        ("phq9", "Over the last 2 weeks, how often have you been bothered by any of the following problems?"),
        ("gad7", "Over the last 2 weeks, how often have you been bothered by the following problems?"),
        ("pcl5", "Below is a list of problems that people sometimes have in response to a very stressful experience."),
        ("audit", "Because alcohol use can affect your health and can interfere with certain medications"),
    ],
)
def test_a_patient_sees_the_published_instructions(key, stem):
    assert INSTRUMENTS[key].instructions.startswith(stem)


def test_pcl5_instructions_ask_about_the_past_month():
    assert "in the past month" in PCL5.instructions
    assert PCL5.instructions.endswith("In the past month, how much were you bothered by:")


@pytest.mark.parametrize(
    ("link_id", "text"),
    [
        ("phq9_1", "Little interest or pleasure in doing things"),
        ("phq9_6", "Feeling bad about yourself — or that you are a failure or have let yourself or your family down"),
        ("phq9_9", "Thoughts that you would be better off dead or of hurting yourself in some way"),
        ("gad7_1", "Feeling nervous, anxious or on edge"),
        ("gad7_7", "Feeling afraid as if something awful might happen"),
        ("audit_1", "How often do you have a drink containing alcohol?"),
        ("audit_3", "How often do you have six or more drinks on one occasion?"),
        (
            "audit_10",
            "Has a relative or friend or a doctor or another health worker been concerned about your "
            "drinking or suggested you cut down?",
        ),
        ("pcl5_1", "Repeated, disturbing, and unwanted memories of the stressful experience?"),
        ("pcl5_17", 'Being "superalert" or watchful or on guard?'),
        ("pcl5_20", "Trouble falling or staying asleep?"),
        ("asq_1", "In the past few weeks, have you wished you were dead?"),
        ("asq_3", "In the past week, have you been having thoughts about killing yourself?"),
        ("asq_4", "Have you ever tried to kill yourself?"),
        ("asq_5", "Are you having thoughts of killing yourself right now?"),
    ],
)
def test_a_patient_sees_the_published_wording_of_each_question(link_id, text):
    key = link_id.split("_")[0]
    assert {item.link_id: item.text for item in INSTRUMENTS[key].items}[link_id] == text


def test_phq9_shows_the_unscored_difficulty_question_with_its_four_answers():
    (difficulty,) = PHQ9.extra_items
    assert difficulty.loinc == "69722-7"
    assert difficulty.text.startswith("If you checked off any problems, how difficult have these problems made it")
    assert [option.label for option in difficulty.options] == [
        "Not difficult at all",
        "Somewhat difficult",
        "Very difficult",
        "Extremely difficult",
    ]
    assert not difficulty.required


def test_asq_asks_how_and_when_about_a_past_attempt_and_the_acuity_question_only_after_a_yes():
    extras = {item.link_id: item for item in ASQ.extra_items}
    assert extras["asq_4_how"].text == "If yes, how? When?"
    assert extras["asq_4_how"].kind == "text"
    assert extras["asq_4_how"].enable_when == (("asq_4", True),)
    acuity = ASQ.items[-1]
    assert acuity.link_id == "asq_5"
    assert not acuity.required
    assert set(acuity.enable_when) == {(f"asq_{number}", True) for number in range(1, 5)}


@pytest.mark.parametrize("key", ["phq9", "gad7"])
def test_phq9_and_gad7_carry_the_pfizer_credit_line(key):
    credit = INSTRUMENTS[key].credit_line
    assert "Pfizer Inc" in credit
    assert (
        "Developed by Drs. Robert L. Spitzer, Janet B.W. Williams, Kurt Kroenke and colleagues, with an "
        "educational grant from Pfizer Inc. No permission required to reproduce, translate, display or distribute."
    ) in credit


@pytest.mark.parametrize("key", sorted(INSTRUMENTS))
def test_every_instrument_credits_its_publisher_and_states_its_licence(key):
    assert INSTRUMENTS[key].credit_line
    assert INSTRUMENTS[key].licence


@pytest.mark.parametrize(
    ("key", "panel", "total"),
    [
        ("phq9", "44249-1", "44261-6"),
        ("gad7", "69737-5", "70274-6"),
        ("audit", "72110-0", "75624-7"),
        ("pcl5", "101697-1", "101698-9"),
    ],
)
def test_scores_can_travel_as_loinc_coded_observations(key, panel, total):
    assert (INSTRUMENTS[key].loinc_panel, INSTRUMENTS[key].loinc_total) == (panel, total)


@pytest.mark.parametrize(
    ("key", "codes"),
    [
        ("phq9", ("44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3", "44260-8")),
        ("gad7", ("69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7")),
    ],
)
def test_phq9_and_gad7_items_carry_their_loinc_codes(key, codes):
    assert tuple(item.loinc for item in INSTRUMENTS[key].items) == codes


def test_audit_c_questions_and_subscore_carry_their_loinc_codes():
    assert [item.loinc for item in AUDIT.items[:3]] == ["68518-0", "68519-8", "68520-6"]
    (audit_c,) = AUDIT.subscores
    assert (audit_c.name, audit_c.loinc_panel, audit_c.loinc_total) == ("audit_c", "72109-2", "75626-2")


def test_a_stored_answer_reads_back_as_its_published_label():
    assert AUDIT.items[8].label_for(2) == "Yes, but not in the last year"
    assert ASQ.items[0].label_for(True) == "Yes"
    with pytest.raises(ValueError, match="not an option of item audit_9"):
        AUDIT.items[8].label_for(1)
    with pytest.raises(ValueError, match="not an option of item asq_1"):
        ASQ.items[0].label_for(1)


def test_every_answer_code_is_a_published_loinc_answer_on_phq9():
    assert [option.loinc for option in PHQ9.items[0].options] == ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]


# --- severity bands ------------------------------------------------------------------

BOUNDARIES = [
    ("phq9", 0, "none-minimal"),
    ("phq9", 4, "none-minimal"),
    ("phq9", 5, "mild"),
    ("phq9", 9, "mild"),
    ("phq9", 10, "moderate"),
    ("phq9", 14, "moderate"),
    ("phq9", 15, "moderately-severe"),
    ("phq9", 19, "moderately-severe"),
    ("phq9", 20, "severe"),
    ("phq9", 27, "severe"),
    ("gad7", 0, "minimal"),
    ("gad7", 4, "minimal"),
    ("gad7", 5, "mild"),
    ("gad7", 9, "mild"),
    ("gad7", 10, "moderate"),
    ("gad7", 14, "moderate"),
    ("gad7", 15, "severe"),
    ("gad7", 21, "severe"),
    ("audit", 0, "low-risk"),
    ("audit", 7, "low-risk"),
    ("audit", 8, "hazardous"),
    ("audit", 15, "hazardous"),
    ("audit", 16, "harmful"),
    ("audit", 19, "harmful"),
    ("audit", 20, "possible-dependence"),
    ("audit", 40, "possible-dependence"),
    ("pcl5", 0, "below-threshold"),
    ("pcl5", 32, "below-threshold"),
    ("pcl5", 33, "probable-ptsd"),
    ("pcl5", 80, "probable-ptsd"),
]


@pytest.mark.parametrize(("key", "total", "severity"), BOUNDARIES)
def test_a_total_on_a_band_boundary_lands_in_the_published_band(key, total, severity):
    instrument = INSTRUMENTS[key]
    answers = answers_totalling(instrument, total)
    score = instrument.score(answers)
    assert (score.total, score.severity) == (total, severity)


@pytest.mark.parametrize("key", SUMMED)
def test_the_bands_cover_every_possible_total_without_gaps(key):
    instrument = INSTRUMENTS[key]
    covered = [total for band in instrument.bands for total in range(band.low, band.high + 1)]
    assert covered == list(range(instrument.min_total, instrument.max_total + 1))


@pytest.mark.parametrize(("key", "maximum"), [("phq9", 27), ("gad7", 21), ("audit", 40), ("pcl5", 80)])
def test_the_highest_possible_total_is_the_published_maximum(key, maximum):
    instrument = INSTRUMENTS[key]
    assert instrument.max_total == maximum
    assert instrument.score([max(item.values) for item in instrument.items]).total == maximum


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("none-minimal", "None–minimal"),
        ("moderately-severe", "Moderately severe"),
        ("possible-dependence", "Possible dependence"),
        ("probable-ptsd", "Probable PTSD"),
        ("acute-positive", "Acute positive screen"),
        ("some-new-band", "Some new band"),
    ],
)
def test_a_clinician_reads_band_names_as_plain_labels(name, label):
    assert severity_label(name) == label


def test_bands_and_scores_offer_the_same_display_label():
    score = PHQ9.score(answers_totalling(PHQ9, 17))
    assert score.severity_label == "Moderately severe" == PHQ9.band_for(17).label


# --- PHQ-9 item 9 ----------------------------------------------------------------------


@pytest.mark.parametrize("item9", [0, 1, 2, 3])
@pytest.mark.parametrize("others", [[0] * 8, [1, 0, 2, 0, 1, 0, 0, 1], [3] * 8])
def test_phq9_item9_flags_for_review_whatever_the_total(others, item9):
    score = PHQ9.score([*others, item9])
    assert score.total == sum(others) + item9
    assert ("phq9_item9_positive" in score.flags) is (item9 >= 1)


def test_a_patient_whose_only_answer_is_item9_is_flagged_though_the_total_is_minimal():
    score = PHQ9.score([0] * 8 + [1])
    assert (score.total, score.severity, score.flags) == (1, "none-minimal", frozenset({"phq9_item9_positive"}))


def test_a_severe_phq9_without_item9_raises_no_item9_flag():
    score = PHQ9.score([3] * 8 + [0])
    assert (score.total, score.severity, score.flags) == (24, "severe", frozenset())


def test_gad7_raises_no_flags():
    assert GAD7.score([3] * 7).flags == frozenset()


# --- AUDIT -----------------------------------------------------------------------------


@pytest.mark.parametrize("number", [9, 10])
@pytest.mark.parametrize("value", [1, 3])
def test_audit_questions_9_and_10_refuse_the_odd_scores_they_do_not_have(number, value):
    answers = [0] * 10
    answers[number - 1] = value
    with pytest.raises(ValueError, match=f"AUDIT item {number} \\(audit_{number}\\): {value} is not one of 0, 2, 4"):
        AUDIT.score(answers)


@pytest.mark.parametrize("number", [9, 10])
@pytest.mark.parametrize("value", [0, 2, 4])
def test_audit_questions_9_and_10_score_0_2_or_4(number, value):
    answers = [0] * 10
    answers[number - 1] = value
    assert AUDIT.score(answers).total == value


@pytest.mark.parametrize(
    ("first_three", "rest", "audit_c"),
    [
        ([0, 0, 0], [0] * 7, 0),
        ([1, 0, 0], [0] * 7, 1),
        ([2, 1, 0], [4, 4, 4, 4, 4, 4, 4], 3),
        ([2, 1, 1], [0] * 7, 4),
        ([4, 4, 4], [0] * 7, 12),
        ([4, 4, 4], [4, 4, 4, 4, 4, 4, 4], 12),
    ],
)
def test_the_audit_c_subscore_is_questions_1_to_3(first_three, rest, audit_c):
    score = AUDIT.score(first_three + rest)
    assert score.subscores == {"audit_c": audit_c}
    assert score.total == audit_c + sum(rest)


@pytest.mark.parametrize(
    ("total", "flagged"), [(0, False), (15, False), (16, True), (19, True), (20, True), (40, True)]
)
def test_audit_flags_harmful_drinking_from_16(total, flagged):
    score = AUDIT.score(answers_totalling(AUDIT, total))
    assert ("audit_harmful_or_above" in score.flags) is flagged


# --- PCL-5 -----------------------------------------------------------------------------


def test_the_pcl5_cut_off_is_33_by_default():
    assert PCL5_DEFAULT_CUTOFF == 33
    assert PCL5.total_flags == (TotalFlag("pcl5_probable_ptsd", 33),)


@pytest.mark.parametrize(
    ("cutoff", "total", "severity"),
    [
        (33, 32, "below-threshold"),
        (33, 33, "probable-ptsd"),
        (31, 30, "below-threshold"),
        (31, 31, "probable-ptsd"),
        (0, 0, "probable-ptsd"),
        (80, 79, "below-threshold"),
        (80, 80, "probable-ptsd"),
    ],
)
def test_a_clinic_can_choose_the_pcl5_cut_off(cutoff, total, severity):
    answers = answers_totalling(PCL5, total)
    for instrument in (make_pcl5(cutoff), PCL5.with_cutoff(cutoff)):
        score = instrument.score(answers)
        assert (score.total, score.severity) == (total, severity)
        assert ("pcl5_probable_ptsd" in score.flags) is (severity == "probable-ptsd")


def test_the_default_pcl5_flags_from_33():
    assert "pcl5_probable_ptsd" not in PCL5.score(answers_totalling(PCL5, 32)).flags
    assert PCL5.score(answers_totalling(PCL5, 33)).flags == frozenset({"pcl5_probable_ptsd"})


def test_changing_the_cut_off_leaves_the_wording_alone():
    custom = PCL5.with_cutoff(31)
    assert (custom.items, custom.instructions, custom.loinc_total) == (PCL5.items, PCL5.instructions, "101698-9")
    assert INSTRUMENTS["pcl5"].bands == (Band(0, 32, "below-threshold"), Band(33, 80, "probable-ptsd"))


@pytest.mark.parametrize("cutoff", [-1, 81, 33.0, "33", True, None])
def test_a_pcl5_cut_off_outside_0_to_80_is_refused(cutoff):
    with pytest.raises(ValueError, match="cut-off"):
        make_pcl5(cutoff)


@pytest.mark.parametrize("key", ["phq9", "gad7", "audit", "asq"])
def test_only_the_pcl5_has_a_configurable_cut_off(key):
    with pytest.raises(ValueError, match="no configurable cut-off"):
        INSTRUMENTS[key].with_cutoff(10)


# --- ASQ -------------------------------------------------------------------------------

ASQ_COMBINATIONS = list(itertools.product([False, True], repeat=4))


@pytest.mark.parametrize("screening", ASQ_COMBINATIONS)
@pytest.mark.parametrize("acuity", ["omitted", None, False, True])
def test_every_asq_answer_combination_gets_the_nimh_result(screening, acuity):
    answers = list(screening) if acuity == "omitted" else [*screening, acuity]
    if any(screening) and acuity in ("omitted", None):
        with pytest.raises(ValueError, match="acuity question \\(asq_5\\) must be answered"):
            ASQ.score(answers)
        return
    score = ASQ.score(answers)
    assert score.total is None
    assert score.subscores == {}
    if not any(screening):
        assert (score.severity, score.flags) == ("negative", frozenset())
    elif acuity:
        assert (score.severity, score.flags) == ("acute-positive", frozenset({"asq_positive", "asq_acute"}))
    else:
        assert (score.severity, score.flags) == ("non-acute-positive", frozenset({"asq_positive"}))


@pytest.mark.parametrize(
    "answers",
    [
        [0, 0, 0, 0],
        [False, False, 1, False],
        [False, False, False, False, 1],
        [False, False, False, False, 0],
        ["no", False, False, False],
        [None, False, False, False],
    ],
)
def test_the_asq_refuses_anything_but_true_or_false(answers):
    with pytest.raises(ValueError, match="expects True or False"):
        ASQ.score(answers)


@pytest.mark.parametrize("length", [0, 3, 6])
def test_the_asq_refuses_the_wrong_number_of_answers(length):
    with pytest.raises(ValueError, match="ASQ expects 4 yes/no answers"):
        ASQ.score([False] * length)


def test_the_asq_has_no_bands_and_no_total():
    assert ASQ.bands == ()
    assert (ASQ.min_total, ASQ.max_total) == (None, None)
    with pytest.raises(ValueError, match="no total"):
        ASQ.band_for(0)


# --- malformed answers -----------------------------------------------------------------


@pytest.mark.parametrize("key", SUMMED)
@pytest.mark.parametrize("change", [-1, +1])
def test_a_missing_or_extra_answer_is_refused(key, change):
    instrument = INSTRUMENTS[key]
    count = len(instrument.items)
    with pytest.raises(ValueError, match=f"expects {count} answers.*got {count + change}"):
        instrument.score([0] * (count + change))


@pytest.mark.parametrize("key", SUMMED)
@pytest.mark.parametrize("bad", [True, False, 1.0, "1", None, 2.5])
@pytest.mark.parametrize("position", [0, -1])
def test_an_answer_that_is_not_an_int_is_refused(key, bad, position):
    instrument = INSTRUMENTS[key]
    answers = [0] * len(instrument.items)
    answers[position] = bad
    with pytest.raises(ValueError, match="expects an int"):
        instrument.score(answers)


@pytest.mark.parametrize(
    ("key", "bad"), [("phq9", 4), ("phq9", -1), ("gad7", 4), ("audit", 5), ("pcl5", 5), ("pcl5", -1)]
)
def test_a_value_outside_the_scale_is_refused(key, bad):
    instrument = INSTRUMENTS[key]
    answers = [0] * len(instrument.items)
    answers[3] = bad
    with pytest.raises(ValueError, match=f"item 4 \\({key}_4\\): {bad} is not one of"):
        instrument.score(answers)


@pytest.mark.parametrize("key", sorted(INSTRUMENTS))
@pytest.mark.parametrize("answers", ["0000", None, 7, {0: 0}])
def test_answers_that_are_not_a_list_are_refused(key, answers):
    with pytest.raises(ValueError, match="must be a list"):
        INSTRUMENTS[key].score(answers)


def test_a_tuple_of_answers_is_scored_like_a_list():
    assert PHQ9.score(tuple([1] * 9)) == PHQ9.score([1] * 9)


# --- scores are values -------------------------------------------------------------------


def test_a_score_cannot_be_altered_after_scoring():
    score = PHQ9.score([2] * 9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        score.total = 0
    assert score == Score(18, "moderately-severe", frozenset({"phq9_item9_positive"}), {})


def test_the_registry_is_a_plain_dict_of_the_five_shipped_instruments():
    assert type(INSTRUMENTS) is dict
    assert sorted(INSTRUMENTS) == ["asq", "audit", "gad7", "pcl5", "phq9"]
    assert all(key == instrument.key for key, instrument in INSTRUMENTS.items())


# --- a clinic adds a licensed instrument -------------------------------------------------

YES_NO_POINTS = (AnswerOption(0, "No"), AnswerOption(1, "Yes"))


def licensed(**changes):
    definition = {
        "key": "licensed",
        "title": "A Licensed Screen",
        "short_title": "LS-3",
        "instructions": "Answer each question.",
        "items": tuple(Item(f"licensed_{number}", f"Question {number}?", YES_NO_POINTS) for number in (1, 2, 3)),
        "bands": (Band(0, 1, "negative"), Band(2, 3, "positive")),
        "item_flags": (ItemFlag("licensed_item3", "licensed_3", 1),),
        "subscores": (Subscore("first_two", ("licensed_1", "licensed_2")),),
    }
    definition.update(changes)
    return Instrument(**definition)


def test_a_clinic_adds_a_licensed_instrument_by_writing_its_definition():
    registry = {**INSTRUMENTS, "licensed": licensed()}
    score = registry["licensed"].score([1, 0, 1])
    assert score == Score(2, "positive", frozenset({"licensed_item3"}), {"first_two": 1})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"items": ()}, "at least one item"),
        (
            {"items": (Item("licensed_1", "A?", YES_NO_POINTS), Item("licensed_1", "B?", YES_NO_POINTS))},
            "duplicate link ids licensed_1",
        ),
        ({"bands": (Band(0, 1, "negative"), Band(3, 3, "positive"))}, "contiguous"),
        ({"bands": (Band(0, 1, "negative"), Band(2, 2, "positive"))}, "end at the maximum total 3"),
        ({"item_flags": (ItemFlag("typo", "licensed_9", 1),)}, "unknown item licensed_9"),
        ({"subscores": (Subscore("typo", ("licensed_1", "licensed_9")),)}, "unknown items licensed_9"),
        ({"items": (Item("licensed_1", "Tell us", kind="text"),)}, "needs choice options"),
    ],
)
def test_a_mistyped_definition_fails_when_it_is_built_not_when_a_patient_submits(changes, message):
    with pytest.raises(ValueError, match=message):
        licensed(**changes)


# --- properties ------------------------------------------------------------------------


@st.composite
def instrument_and_answers(draw):
    instrument = INSTRUMENTS[draw(st.sampled_from(SUMMED))]
    answers = [draw(st.sampled_from(item.values)) for item in instrument.items]
    return instrument, answers


@settings(max_examples=300, deadline=None, database=None)
@given(instrument_and_answers())
def test_for_any_valid_answers_the_total_is_their_sum_and_its_band_holds_it(case):
    instrument, answers = case
    score = instrument.score(answers)
    assert score.total == sum(answers)
    (band,) = [band for band in instrument.bands if band.name == score.severity]
    assert band.low <= score.total <= band.high
    assert score.flags <= instrument.flag_names


@settings(max_examples=100, deadline=None, database=None)
@given(st.lists(st.booleans(), min_size=4, max_size=4), st.booleans())
def test_for_any_asq_answers_positive_means_any_yes_and_acute_means_acuity_yes(screening, acuity):
    score = ASQ.score([*screening, acuity])
    assert ("asq_positive" in score.flags) is any(screening)
    assert ("asq_acute" in score.flags) is (any(screening) and acuity)
