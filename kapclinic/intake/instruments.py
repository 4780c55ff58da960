"""Standardised screening instruments: published wording, answer scales, scoring, LOINC codes.

Pure module (stdlib only, no Flask, no database). Each instrument is data: its items in
order with their published wording and answer options, unscored items shown with it,
the credit line its publisher asks for, LOINC codes, severity bands, and declarative
flag and subscore rules. ``Instrument.score(answers)`` validates and scores.

The registry ``INSTRUMENTS`` is a plain dict keyed by instrument key. A clinic that
licenses another instrument (MDQ, C-SSRS, ...) adds an ``Instrument`` definition to it;
the definition is checked when it is built (unique link ids, contiguous bands covering
every possible total, rules naming real items), and no view has to change.

Answers passed to ``score`` are the items' scored values in item order:

- summed instruments (PHQ-9, GAD-7, AUDIT, PCL-5): one int per item, each one of that
  item's option values. A bool is rejected even though Python treats it as an int.
- ASQ: a bool for each of questions 1-4, then the acuity answer (question 5) as a bool
  or None; it may be left off entirely when questions 1-4 are all "No". If any of 1-4
  is "Yes" the acuity answer is required (the form must ask it). Ints are rejected.

Anything else (wrong length, wrong type, a value not among the item's options) raises
ValueError with a message naming the instrument, the item and what was expected.

Item wording is copied from the published instruments, not paraphrased; each
definition below names the source it was checked against. Where a published stem
includes a direction that only makes sense on paper (tick a box, place an X) and is a
separate sentence or parenthesis, it is left out and the comment says so.
"""

from dataclasses import dataclass, field

__all__ = [
    "INSTRUMENTS",
    "PCL5_DEFAULT_CUTOFF",
    "SEVERITY_LABELS",
    "AnswerOption",
    "AsqInstrument",
    "Band",
    "Instrument",
    "Item",
    "ItemFlag",
    "Score",
    "Subscore",
    "TotalFlag",
    "make_pcl5",
    "severity_label",
]


# --- building blocks -------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerOption:
    """One answer choice: the value that is scored (or stored) and the published label."""

    value: int | bool
    label: str
    loinc: str | None = None  # LOINC answer code (LA...), where verified


@dataclass(frozen=True)
class Item:
    """One question. ``kind`` is "choice" (pick one option) or "text" (free text).

    ``enable_when`` lists (link_id, value) pairs; the item applies when ANY of them
    matches the answer given to that item (FHIR enableWhen with enableBehavior "any").
    An empty tuple means the item always applies.
    """

    link_id: str
    text: str
    options: tuple[AnswerOption, ...] = ()
    loinc: str | None = None
    kind: str = "choice"
    required: bool = True
    enable_when: tuple[tuple[str, int | bool], ...] = ()

    @property
    def values(self):
        return tuple(option.value for option in self.options)

    def label_for(self, value):
        """The published label of an option value (ValueError if it is not one)."""
        for option in self.options:
            if option.value == value and type(option.value) is type(value):
                return option.label
        raise ValueError(f"{value!r} is not an option of item {self.link_id}")


@dataclass(frozen=True)
class Band:
    """A severity band: totals from ``low`` to ``high`` inclusive are called ``name``."""

    low: int
    high: int
    name: str

    def __contains__(self, total):
        return self.low <= total <= self.high

    @property
    def label(self):
        return severity_label(self.name)


@dataclass(frozen=True)
class ItemFlag:
    """Raise flag ``name`` when the answer to item ``link_id`` is at least ``at_least``."""

    name: str
    link_id: str
    at_least: int


@dataclass(frozen=True)
class TotalFlag:
    """Raise flag ``name`` when the total is at least ``at_least``."""

    name: str
    at_least: int


@dataclass(frozen=True)
class Subscore:
    """A named sum of some items (e.g. AUDIT-C = AUDIT items 1-3), with its own LOINC codes."""

    name: str
    link_ids: tuple[str, ...]
    loinc_panel: str | None = None
    loinc_total: str | None = None


@dataclass(frozen=True)
class Score:
    """The result of scoring one completed instrument.

    ``total`` is None for instruments without a total (ASQ). ``severity`` is a band
    name (see ``severity_label`` for display). ``subscores`` maps subscore name to value.
    """

    total: int | None
    severity: str
    flags: frozenset[str] = frozenset()
    subscores: dict[str, int] = field(default_factory=dict, hash=False)

    @property
    def severity_label(self):
        return severity_label(self.severity)


# Human labels for band names. PHQ-9 labels follow the PHQ-9 scoring table (Kroenke,
# Spitzer & Williams 2001); AUDIT zones follow the WHO manual (Babor et al. 2001).
SEVERITY_LABELS = {
    "none-minimal": "None–minimal",
    "minimal": "Minimal",
    "mild": "Mild",
    "moderate": "Moderate",
    "moderately-severe": "Moderately severe",
    "severe": "Severe",
    "low-risk": "Low risk",
    "hazardous": "Hazardous",
    "harmful": "Harmful",
    "possible-dependence": "Possible dependence",
    "below-threshold": "Below threshold",
    "probable-ptsd": "Probable PTSD",
    "negative": "Negative screen",
    "non-acute-positive": "Non-acute positive screen",
    "acute-positive": "Acute positive screen",
}


def severity_label(name):
    """Display text for a band name: "moderately-severe" -> "Moderately severe"."""
    if name in SEVERITY_LABELS:
        return SEVERITY_LABELS[name]
    text = name.replace("-", " ").replace("_", " ").strip()
    return text[:1].upper() + text[1:]


# --- instruments -----------------------------------------------------------------------


@dataclass(frozen=True)
class Instrument:
    """A summed instrument: total = sum of the item values; severity = the band holding it."""

    key: str
    title: str
    short_title: str
    instructions: str
    items: tuple[Item, ...]
    bands: tuple[Band, ...]
    extra_items: tuple[Item, ...] = ()
    credit_line: str = ""
    licence: str = ""
    source: str = ""
    loinc_panel: str | None = None
    loinc_total: str | None = None
    item_flags: tuple[ItemFlag, ...] = ()
    total_flags: tuple[TotalFlag, ...] = ()
    subscores: tuple[Subscore, ...] = ()

    def __post_init__(self):
        self._check_definition()

    # Definition checks: run once, when the instrument is built, so a clinic-added
    # definition with a typo fails at import rather than when a patient submits.
    def _check_definition(self):
        name = self.short_title or self.key
        if not self.items:
            raise ValueError(f"{name}: an instrument needs at least one item")
        link_ids = [item.link_id for item in self.items + self.extra_items]
        duplicates = sorted({link_id for link_id in link_ids if link_ids.count(link_id) > 1})
        if duplicates:
            raise ValueError(f"{name}: duplicate link ids {', '.join(duplicates)}")
        for item in self.items:
            if item.kind != "choice" or not item.options:
                raise ValueError(f"{name}: scored item {item.link_id} needs choice options")
        scored = {item.link_id for item in self.items}
        for rule in self.item_flags:
            if rule.link_id not in scored:
                raise ValueError(f"{name}: flag {rule.name} names unknown item {rule.link_id}")
        for subscore in self.subscores:
            unknown = [link_id for link_id in subscore.link_ids if link_id not in scored]
            if unknown:
                raise ValueError(f"{name}: subscore {subscore.name} names unknown items {', '.join(unknown)}")
        self._check_bands(name)

    def _check_bands(self, name):
        for item in self.items:
            for value in item.values:
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValueError(f"{name}: item {item.link_id} option values must be ints")
        expected_low = self.min_total
        for band in self.bands:
            if band.low != expected_low or band.high < band.low:
                raise ValueError(f"{name}: bands must be contiguous from {self.min_total}; {band} does not follow")
            expected_low = band.high + 1
        if expected_low != self.max_total + 1:
            raise ValueError(f"{name}: bands must end at the maximum total {self.max_total}")

    @property
    def min_total(self):
        return sum(min(item.values) for item in self.items)

    @property
    def max_total(self):
        return sum(max(item.values) for item in self.items)

    @property
    def flag_names(self):
        """Every flag this instrument can raise."""
        return frozenset(rule.name for rule in self.item_flags + self.total_flags)

    def band_for(self, total):
        for band in self.bands:
            if total in band:
                return band
        raise ValueError(f"{self.short_title}: total {total} is outside {self.min_total}-{self.max_total}")

    def with_cutoff(self, cutoff):
        """``INSTRUMENTS["pcl5"].with_cutoff(31)``: the PCL-5 with another cut-off (0-80)."""
        if self.key != "pcl5":
            raise ValueError(f"{self.short_title} has no configurable cut-off")
        return make_pcl5(cutoff)

    def score(self, answers):
        values = self._validate(answers)
        total = sum(values)
        by_link_id = {item.link_id: value for item, value in zip(self.items, values, strict=True)}
        flags = {rule.name for rule in self.item_flags if by_link_id[rule.link_id] >= rule.at_least}
        flags |= {rule.name for rule in self.total_flags if total >= rule.at_least}
        subscores = {sub.name: sum(by_link_id[link_id] for link_id in sub.link_ids) for sub in self.subscores}
        return Score(total=total, severity=self.band_for(total).name, flags=frozenset(flags), subscores=subscores)

    def _validate(self, answers):
        name = self.short_title
        answers = _as_list(name, answers)
        if len(answers) != len(self.items):
            raise ValueError(f"{name} expects {len(self.items)} answers, one per item in order; got {len(answers)}")
        for number, (item, value) in enumerate(zip(self.items, answers, strict=True), start=1):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(
                    f"{name} item {number} ({item.link_id}) expects an int, got {type(value).__name__} {value!r}"
                )
            if value not in item.values:
                allowed = ", ".join(str(option) for option in item.values)
                raise ValueError(f"{name} item {number} ({item.link_id}): {value} is not one of {allowed}")
        return tuple(answers)


@dataclass(frozen=True)
class AsqInstrument(Instrument):
    """The ASQ: yes/no questions 1-4 and an acuity question asked when any of them is yes.

    ``items`` are questions 1-4 followed by the acuity question; ``bands`` is empty
    (the ASQ has no total). ``positive_flag`` and ``acute_flag`` name the flags raised.
    """

    positive_flag: str = "asq_positive"
    acute_flag: str = "asq_acute"

    def _check_bands(self, name):
        if self.bands:
            raise ValueError(f"{name}: the ASQ has no total, so no bands")
        for item in self.items:
            if set(item.values) != {True, False} or not all(isinstance(v, bool) for v in item.values):
                raise ValueError(f"{name}: item {item.link_id} must be a yes/no (bool) item")

    @property
    def min_total(self):
        return None

    @property
    def max_total(self):
        return None

    @property
    def flag_names(self):
        return frozenset({self.positive_flag, self.acute_flag})

    @property
    def screening_items(self):
        return self.items[:-1]

    @property
    def acuity_item(self):
        return self.items[-1]

    def band_for(self, total):
        raise ValueError(f"{self.short_title} has no total and no bands")

    def score(self, answers):
        screening, acuity = self._validate(answers)
        if not any(screening):
            return Score(total=None, severity="negative", flags=frozenset())
        if acuity:
            return Score(total=None, severity="acute-positive", flags=frozenset({self.positive_flag, self.acute_flag}))
        return Score(total=None, severity="non-acute-positive", flags=frozenset({self.positive_flag}))

    def _validate(self, answers):
        name = self.short_title
        answers = _as_list(name, answers)
        count = len(self.screening_items)
        if len(answers) not in (count, count + 1):
            raise ValueError(
                f"{name} expects {count} yes/no answers, then the acuity answer (optional when all are no); "
                f"got {len(answers)} answers"
            )
        for number, (item, value) in enumerate(zip(self.items, answers, strict=False), start=1):
            if number == count + 1 and value is None:
                continue
            if type(value) is not bool:
                raise ValueError(
                    f"{name} question {number} ({item.link_id}) expects True or False, "
                    f"got {type(value).__name__} {value!r}"
                )
        screening = tuple(answers[:count])
        acuity = answers[count] if len(answers) > count else None
        if any(screening) and acuity is None:
            raise ValueError(
                f"{name}: a question 1-{count} was answered yes, so the acuity question "
                f"({self.acuity_item.link_id}) must be answered"
            )
        return screening, acuity


def _as_list(name, answers):
    if not isinstance(answers, list | tuple):
        raise ValueError(f"{name} answers must be a list of values in item order, got {type(answers).__name__}")
    return list(answers)


def _scale(*labels, start=0, step=1):
    return tuple(AnswerOption(start + index * step, label) for index, label in enumerate(labels))


def _items(prefix, texts, options, loincs=None):
    loincs = loincs or (None,) * len(texts)
    return tuple(
        Item(f"{prefix}_{number}", text, options, loinc=loinc)
        for number, (text, loinc) in enumerate(zip(texts, loincs, strict=True), start=1)
    )


# --- PHQ-9 -----------------------------------------------------------------------------
# Wording: the PHQ-9 form at phqscreeners.com (Pfizer), as transcribed at
# https://therandomtandem.com/mood-screening-questionnaire-printable-4892 and
# https://www.scribd.com/document/724517444/Adult-Patient-Health-Questionnaire-PHQ9-GAD7
# (both copies of the same form); Kroenke, Spitzer & Williams, J Gen Intern Med
# 2001;16(9):606-613. The form's "(Use "✔" to indicate your answer)" is left out.
# Item LOINC codes, order and answer codes: HL7 US Core Questionnaire PHQ-9 example
# (github.com/HL7/US-Core input/examples/Questionnaire-phq-9-example.json).
# Credit line: the copyright text LOINC and US Core carry for PHQ-9/GAD-7
# (https://www.hl7.org/fhir/us/core/STU9/Questionnaire-phq-9-example.html); its second
# and third sentences are the footer printed on the form itself.

PFIZER_CREDIT_LINE = (
    "Copyright © Pfizer Inc. All rights reserved. Developed by Drs. Robert L. Spitzer, "
    "Janet B.W. Williams, Kurt Kroenke and colleagues, with an educational grant from "
    "Pfizer Inc. No permission required to reproduce, translate, display or distribute."
)
PFIZER_LICENCE = (
    "© Pfizer Inc. Free to reproduce, translate, display or distribute without permission; "
    "keep the credit line with the instrument."
)

FREQUENCY_OPTIONS = (
    AnswerOption(0, "Not at all", "LA6568-5"),
    AnswerOption(1, "Several days", "LA6569-3"),
    AnswerOption(2, "More than half the days", "LA6570-1"),
    AnswerOption(3, "Nearly every day", "LA6571-9"),
)

PHQ9 = Instrument(
    key="phq9",
    title="Patient Health Questionnaire-9 (PHQ-9)",
    short_title="PHQ-9",
    instructions="Over the last 2 weeks, how often have you been bothered by any of the following problems?",
    items=_items(
        "phq9",
        (
            "Little interest or pleasure in doing things",
            "Feeling down, depressed, or hopeless",
            "Trouble falling or staying asleep, or sleeping too much",
            "Feeling tired or having little energy",
            "Poor appetite or overeating",
            "Feeling bad about yourself — or that you are a failure or have let yourself or your family down",
            "Trouble concentrating on things, such as reading the newspaper or watching television",
            "Moving or speaking so slowly that other people could have noticed? Or the opposite — being so "
            "fidgety or restless that you have been moving around a lot more than usual",
            "Thoughts that you would be better off dead or of hurting yourself in some way",
        ),
        FREQUENCY_OPTIONS,
        ("44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3", "44260-8"),
    ),
    extra_items=(
        Item(
            "phq9_difficulty",
            "If you checked off any problems, how difficult have these problems made it for you to do "
            "your work, take care of things at home, or get along with other people?",
            # LOINC answer list LL359-1: the German Medical Informatics Initiative's PROMs module,
            # github.com/medizininformatik-initiative/kerndatensatzmodul-proms,
            # input/fsh/definitions/phq-9/mii-vs-phq-9-answer-list-ll359-1.fsh, and the same four codes
            # in other public FHIR implementation guides. "Very difficult" is LA6575-0 and "Extremely
            # difficult" LA6574-3 (some public code has the two swapped).
            (
                AnswerOption(0, "Not difficult at all", loinc="LA6572-7"),
                AnswerOption(1, "Somewhat difficult", loinc="LA6573-5"),
                AnswerOption(2, "Very difficult", loinc="LA6575-0"),
                AnswerOption(3, "Extremely difficult", loinc="LA6574-3"),
            ),
            loinc="69722-7",
            required=False,
        ),
    ),
    bands=(
        Band(0, 4, "none-minimal"),
        Band(5, 9, "mild"),
        Band(10, 14, "moderate"),
        Band(15, 19, "moderately-severe"),
        Band(20, 27, "severe"),
    ),
    credit_line=PFIZER_CREDIT_LINE,
    licence=PFIZER_LICENCE,
    source="Kroenke K, Spitzer RL, Williams JBW. J Gen Intern Med 2001;16(9):606-613; form at phqscreeners.com",
    loinc_panel="44249-1",
    loinc_total="44261-6",
    # Item 9 >= 1 is flagged whatever the total (Simon 2013, doi 10.1176/appi.ps.201200587).
    item_flags=(ItemFlag("phq9_item9_positive", "phq9_9", 1),),
)


# --- GAD-7 -----------------------------------------------------------------------------
# Wording: the GAD-7 form at phqscreeners.com (Pfizer) as transcribed at
# https://www.scribd.com/document/724517444/Adult-Patient-Health-Questionnaire-PHQ9-GAD7
# and https://scales.arabpsychology.com/index.php/s/gad-7-anxiety-severity/ ; Spitzer,
# Kroenke, Williams & Löwe, Arch Intern Med 2006;166(10):1092-1097. Item texts agree
# with the LOINC GAD-7 panel 69737-5 (HL7 PCO IG, github.com/HL7/pco-ig
# input/resources/questionnaire/Questionnaire-GAD7.json), which also gives the item
# LOINC codes below. The form's "(Use "✔" to indicate your answer)" is left out.

GAD7 = Instrument(
    key="gad7",
    title="Generalized Anxiety Disorder 7-item (GAD-7)",
    short_title="GAD-7",
    instructions="Over the last 2 weeks, how often have you been bothered by the following problems?",
    items=_items(
        "gad7",
        (
            "Feeling nervous, anxious or on edge",
            "Not being able to stop or control worrying",
            "Worrying too much about different things",
            "Trouble relaxing",
            "Being so restless that it is hard to sit still",
            "Becoming easily annoyed or irritable",
            "Feeling afraid as if something awful might happen",
        ),
        FREQUENCY_OPTIONS,
        ("69725-0", "68509-9", "69733-4", "69734-2", "69735-9", "69689-8", "69736-7"),
    ),
    bands=(
        Band(0, 4, "minimal"),
        Band(5, 9, "mild"),
        Band(10, 14, "moderate"),
        Band(15, 21, "severe"),
    ),
    credit_line=PFIZER_CREDIT_LINE,
    licence=PFIZER_LICENCE,
    source="Spitzer RL, Kroenke K, Williams JBW, Löwe B. Arch Intern Med 2006;166(10):1092-1097; phqscreeners.com",
    loinc_panel="69737-5",
    loinc_total="70274-6",
)


# --- AUDIT -----------------------------------------------------------------------------
# Wording and options: WHO, "AUDIT: The Alcohol Use Disorders Identification Test.
# Guidelines for Use in Primary Care", 2nd ed., Babor, Higgins-Biddle, Saunders &
# Monteiro, 2001 (WHO/MSD/MSB/01.6a), Box 4 (the questionnaire). Manual copy:
# https://studylib.net/doc/8651865/the-alcohol-use-disorders-identification-test ;
# Box 4 wording checked against several independent transcriptions in public code that
# agree word for word, and the option lists against
# https://ess1.blog/case-study-details-jeff-is-a-66-year-old-caucasian-man-whose-wife
# and https://paperzz.com/doc/9020877/patient--because-alcohol-use-can-affect-your-health-and-can
# (NIAAA reprint). The instructions are the patient preamble of the manual's
# self-report version (Appendix C); its last sentence, "Place an X in one box that best
# describes your answer to each question.", is left out. Box 4's skip directions
# (item 1 "Never" -> items 9-10; items 2+3 = 0 -> items 9-10) are not encoded: the form
# asks all ten, and a skipped item scores 0.
# LOINC: panel 72110-0 and total 75624-7 as given in /work/shared/CLINICAL.md; AUDIT-C
# panel 72109-2 and total 75626-2 per HL7 US Core (Observation-AUDIT-C-panel-example-
# 72109-2); item codes 68518-0, 68519-8, 68520-6 (AUDIT items 1-3, shared with AUDIT-C)
# per several FHIR/CDA implementations. Codes for items 4-10 were not verified and are
# left out.

OCCASION_OPTIONS = _scale("Never", "Less than monthly", "Monthly", "Weekly", "Daily or almost daily")
EVER_OPTIONS = _scale("No", "Yes, but not in the last year", "Yes, during the last year", step=2)

AUDIT = Instrument(
    key="audit",
    title="Alcohol Use Disorders Identification Test (AUDIT)",
    short_title="AUDIT",
    instructions=(
        "Because alcohol use can affect your health and can interfere with certain medications and "
        "treatments, it is important that we ask some questions about your use of alcohol. Your answers "
        "will remain confidential so please be honest."
    ),
    items=(
        Item(
            "audit_1",
            "How often do you have a drink containing alcohol?",
            _scale("Never", "Monthly or less", "2 to 4 times a month", "2 to 3 times a week", "4 or more times a week"),
            loinc="68518-0",
        ),
        Item(
            "audit_2",
            "How many drinks containing alcohol do you have on a typical day when you are drinking?",
            _scale("1 or 2", "3 or 4", "5 or 6", "7, 8, or 9", "10 or more"),
            loinc="68519-8",
        ),
        Item("audit_3", "How often do you have six or more drinks on one occasion?", OCCASION_OPTIONS, loinc="68520-6"),
        # Items 4-10: LOINC panel 72110-0, LOINC 2.80, https://cdn.loinc.org/72110-0 (items 1-3 match it too).
        # No LOINC answer codes for the AUDIT's answers were found in a source we could check.
        Item(
            "audit_4",
            "How often during the last year have you found that you were not able to stop drinking once you "
            "had started?",
            OCCASION_OPTIONS,
            loinc="97734-8",
        ),
        Item(
            "audit_5",
            "How often during the last year have you failed to do what was normally expected from you because "
            "of drinking?",
            OCCASION_OPTIONS,
            loinc="97735-5",
        ),
        Item(
            "audit_6",
            "How often during the last year have you needed a first drink in the morning to get yourself going "
            "after a heavy drinking session?",
            OCCASION_OPTIONS,
            loinc="97736-3",
        ),
        Item(
            "audit_7",
            "How often during the last year have you had a feeling of guilt or remorse after drinking?",
            OCCASION_OPTIONS,
            loinc="97737-1",
        ),
        Item(
            "audit_8",
            "How often during the last year have you been unable to remember what happened the night before "
            "because you had been drinking?",
            OCCASION_OPTIONS,
            loinc="97738-9",
        ),
        Item(
            "audit_9",
            "Have you or someone else been injured as a result of your drinking?",
            EVER_OPTIONS,
            loinc="97739-7",
        ),
        Item(
            "audit_10",
            "Has a relative or friend or a doctor or another health worker been concerned about your drinking "
            "or suggested you cut down?",
            EVER_OPTIONS,
            loinc="97740-5",
        ),
    ),
    bands=(
        Band(0, 7, "low-risk"),
        Band(8, 15, "hazardous"),
        Band(16, 19, "harmful"),
        Band(20, 40, "possible-dependence"),
    ),
    credit_line=(
        "AUDIT: The Alcohol Use Disorders Identification Test. Guidelines for Use in Primary Care, "
        "2nd edition. Babor TF, Higgins-Biddle JC, Saunders JB, Monteiro MG. World Health Organization, 2001."
    ),
    licence=(
        "World Health Organization. Free to use: the WHO manual may be freely reviewed, abstracted, "
        "reproduced and translated (rights otherwise reserved by WHO)."
    ),
    source="WHO/MSD/MSB/01.6a (2001), Box 4",
    loinc_panel="72110-0",
    loinc_total="75624-7",
    total_flags=(TotalFlag("audit_harmful_or_above", 16),),
    subscores=(Subscore("audit_c", ("audit_1", "audit_2", "audit_3"), loinc_panel="72109-2", loinc_total="75626-2"),),
)


# --- PCL-5 -----------------------------------------------------------------------------
# Wording: PTSD Checklist for DSM-5 (PCL-5), standard version, Weathers, Litz, Keane,
# Palmieri, Marx & Schnurr, US National Center for PTSD, 2013 (public domain; form at
# www.ptsd.va.gov). Checked against https://strongpointlaw.com/4915/do-you-have-ptsd-take-this-test/ ,
# https://epavt.org/guia_eng/files/assets/basic-html/page-17.html ,
# https://forms.childandfamilyagency.org/?p=21013 and the HEAL CDE PCL-5 CRF
# (github.com/helxplatform/dug/issues/403). The instructions are kept whole although
# they say "circle one of the numbers to the right" (one sentence; the form should
# present the five options next to each item). The second paragraph is the form's
# column heading.
# LOINC: panel 101697-1, score 101698-9 (CLINICAL.md; 101698-9 "PTSD PCL-5 score"
# also seen in public FHIR code). Item codes not verified, left out.

PCL5_DEFAULT_CUTOFF = 33

PCL5_ITEMS = _items(
    "pcl5",
    (
        "Repeated, disturbing, and unwanted memories of the stressful experience?",
        "Repeated, disturbing dreams of the stressful experience?",
        "Suddenly feeling or acting as if the stressful experience were actually happening again "
        "(as if you were actually back there reliving it)?",
        "Feeling very upset when something reminded you of the stressful experience?",
        "Having strong physical reactions when something reminded you of the stressful experience "
        "(for example, heart pounding, trouble breathing, sweating)?",
        "Avoiding memories, thoughts, or feelings related to the stressful experience?",
        "Avoiding external reminders of the stressful experience (for example, people, places, "
        "conversations, activities, objects, or situations)?",
        "Trouble remembering important parts of the stressful experience?",
        "Having strong negative beliefs about yourself, other people, or the world (for example, having "
        "thoughts such as: I am bad, there is something seriously wrong with me, no one can be trusted, "
        "the world is completely dangerous)?",
        "Blaming yourself or someone else for the stressful experience or what happened after it?",
        "Having strong negative feelings such as fear, horror, anger, guilt, or shame?",
        "Loss of interest in activities that you used to enjoy?",
        "Feeling distant or cut off from other people?",
        "Trouble experiencing positive feelings (for example, being unable to feel happiness or have "
        "loving feelings for people close to you)?",
        "Irritable behavior, angry outbursts, or acting aggressively?",
        "Taking too many risks or doing things that could cause you harm?",
        'Being "superalert" or watchful or on guard?',
        "Feeling jumpy or easily startled?",
        "Having difficulty concentrating?",
        "Trouble falling or staying asleep?",
    ),
    _scale("Not at all", "A little bit", "Moderately", "Quite a bit", "Extremely"),
)


def make_pcl5(cutoff=PCL5_DEFAULT_CUTOFF):
    """The PCL-5 with probable PTSD at totals >= ``cutoff`` (an int 0-80; 31-33 are usual)."""
    if isinstance(cutoff, bool) or not isinstance(cutoff, int):
        raise ValueError(f"PCL-5 cut-off must be an int from 0 to 80, got {type(cutoff).__name__} {cutoff!r}")
    if not 0 <= cutoff <= 80:
        raise ValueError(f"PCL-5 cut-off must be from 0 to 80, got {cutoff}")
    below = (Band(0, cutoff - 1, "below-threshold"),) if cutoff > 0 else ()
    return Instrument(
        key="pcl5",
        title="PTSD Checklist for DSM-5 (PCL-5)",
        short_title="PCL-5",
        instructions=(
            "Below is a list of problems that people sometimes have in response to a very stressful experience. "
            "Please read each problem carefully and then circle one of the numbers to the right to indicate how "
            "much you have been bothered by that problem in the past month.\n\n"
            "In the past month, how much were you bothered by:"
        ),
        items=PCL5_ITEMS,
        bands=(*below, Band(cutoff, 80, "probable-ptsd")),
        credit_line="PCL-5: Weathers, Litz, Keane, Palmieri, Marx, & Schnurr, 2013 – National Center for PTSD.",
        licence="Public domain (US Department of Veterans Affairs, National Center for PTSD).",
        source="Weathers FW et al. The PTSD Checklist for DSM-5 (PCL-5), 2013. www.ptsd.va.gov",
        loinc_panel="101697-1",
        loinc_total="101698-9",
        total_flags=(TotalFlag("pcl5_probable_ptsd", cutoff),),
    )


PCL5 = make_pcl5()


# --- ASQ -------------------------------------------------------------------------------
# Wording: NIMH Ask Suicide-Screening Questions (ASQ) tool, ASQ Suicide Risk Screening
# Toolkit (https://www.nimh.nih.gov/research/research-conducted-at-nimh/asq-toolkit-materials),
# as reproduced at https://www.scribd.com/document/487904290/ASQ-pdf and
# https://studylib.net/doc/26104741/asq-toolkit ; item texts cross-checked against
# https://www.chop.edu/clinical-pathway/behavioral-health-issues-ask-suicide-screening-questions-asq
# (which writes "thoughts of" in question 3; the NIMH tool and most copies read "thoughts
# about", used here). The tool's "Ask the patient:" is addressed to the clinician, so the
# patient-facing instructions are empty. Question 5 is asked only if any of 1-4 is yes
# ("If the patient answers Yes to any of the above, ask the following acuity question").

YES_NO_OPTIONS = (AnswerOption(True, "Yes"), AnswerOption(False, "No"))
ASQ_ANY_YES = tuple((f"asq_{number}", True) for number in range(1, 5))

ASQ = AsqInstrument(
    key="asq",
    title="Ask Suicide-Screening Questions (ASQ)",
    short_title="ASQ",
    instructions="",
    items=(
        Item("asq_1", "In the past few weeks, have you wished you were dead?", YES_NO_OPTIONS),
        Item(
            "asq_2",
            "In the past few weeks, have you felt that you or your family would be better off if you were dead?",
            YES_NO_OPTIONS,
        ),
        Item("asq_3", "In the past week, have you been having thoughts about killing yourself?", YES_NO_OPTIONS),
        Item("asq_4", "Have you ever tried to kill yourself?", YES_NO_OPTIONS),
        Item(
            "asq_5",
            "Are you having thoughts of killing yourself right now?",
            YES_NO_OPTIONS,
            required=False,
            enable_when=ASQ_ANY_YES,
        ),
    ),
    extra_items=(
        Item("asq_4_how", "If yes, how? When?", kind="text", required=False, enable_when=(("asq_4", True),)),
        Item("asq_5_describe", "If yes, please describe:", kind="text", required=False, enable_when=(("asq_5", True),)),
    ),
    bands=(),
    credit_line="Ask Suicide-Screening Questions (ASQ), National Institute of Mental Health (NIMH).",
    licence="Public domain (NIMH, US Government); free to use. Validated for youth and adults in medical settings.",
    source="NIMH ASQ Suicide Risk Screening Toolkit, www.nimh.nih.gov/asq",
)


INSTRUMENTS = {
    "phq9": PHQ9,
    "gad7": GAD7,
    "audit": AUDIT,
    "pcl5": PCL5,
    "asq": ASQ,
}
