"""Read patient details out of a clinician's question into partial patient facts.

The question is read by the clinical language module (:mod:`vertebra.language`): shorthand,
brands, typos, levels and ranges, ages and relative dates are normalised there, and negation,
uncertainty, history and family context come from medspaCy's ConText. This module maps what was
read to patient facts (contract §1 names) with the phrases of ``data/extraction.yaml``. Only what
the question states is extracted; everything else stays unknown.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any, get_args

from vertebra import terminology
from vertebra.ask.lexicon import extraction
from vertebra.facts import DRUGS, LEVELS, MEDICINE_CLASSES, MEDICINES, CurrentBoneDrug
from vertebra.language import Age, ConceptSet, Finding, Reading, Unreadable, read
from vertebra.language.lexicon import lexicon


@dataclass
class Extracted:
    """What a question says about the patient: fact -> value, and the words it came from."""

    values: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, str] = field(default_factory=dict)
    drugs: list[str] = field(default_factory=list)
    """Every drug the question names (its topic or the patient's record)."""
    background_drugs: list[str] = field(default_factory=list)
    """Drugs named as part of the patient's story ("despite paracetamol", "on Prolia")."""
    egfr: bool = False
    age_range: tuple[int, int] | None = None
    """An age written as a range ("in her 80s"): the plan is checked at both ends."""
    unreadable: dict[str, str] = field(default_factory=dict)
    """fact -> the words that gave it but could not be read ("could not read …")."""
    other_levels: list[str] = field(default_factory=list)
    """Cervical or sacral levels named (outside the knowledge base's thoracolumbar scope)."""
    reading: Reading | None = None

    def set(self, fact: str, value: Any, phrase: str) -> None:
        if fact not in self.values:
            self.values[fact] = value
            self.evidence[fact] = phrase.strip()

    @property
    def describes_patient(self) -> bool:
        return bool(self.values) or self.age_range is not None


@cache
def _number_words() -> dict[str, int]:
    """Spelled-out numbers in durations: the language lexicon's cardinals and articles."""
    words = lexicon().number_words
    return {**words.cardinals, **words.articles}


def _number(text: str) -> float:
    words = _number_words()
    return float(words[text]) if text in words else float(text)


@dataclass(frozen=True)
class _Compiled:
    concepts: ConceptSet
    labels: dict[str, tuple[str, str, Any]]
    """concept label -> (kind, name, value)"""
    value_order: tuple[tuple[str, tuple[tuple[int, Any], ...]], ...]
    numbers: tuple[tuple[str, tuple[re.Pattern[str], ...], int | None, float, float], ...]
    drugs: tuple[tuple[str, re.Pattern[str], str], ...]
    current: dict[str, tuple[re.Pattern[str], ...]]
    allergy: dict[str, tuple[re.Pattern[str], ...]]
    not_topic: dict[str, tuple[re.Pattern[str], ...]]
    allergy_classes: tuple[tuple[str, tuple[re.Pattern[str], ...]], ...]
    unreadable: tuple[tuple[str, tuple[re.Pattern[str], ...]], ...]
    drug_history: re.Pattern[str]
    conservative_care: re.Pattern[str]
    duration: re.Pattern[str]
    drug_years_before: tuple[re.Pattern[str], ...]
    prior_fracture: re.Pattern[str]
    prior_fracture_negated: re.Pattern[str]


def _medication_names(patterns: dict[str, list[str]]) -> dict[str, list[str]]:
    """Each medicine of the ``medications`` vocabulary -> the patterns that find it: its names in
    terminology/medicine-names.yaml as whole words, unless extraction.yaml gives patterns."""
    spelled = terminology.medicine_names().spelled
    return {
        name: patterns.get(name) or [rf"(?<![a-z]){re.escape(n)}(?![a-z])" for n in spelled[name]]
        for name in MEDICINES
        if name not in MEDICINE_CLASSES
    }


@cache
def _compiled() -> _Compiled:
    data = extraction()
    concepts: dict[str, list[str]] = {}
    labels: dict[str, tuple[str, str, Any]] = {}
    order: list[tuple[str, tuple[tuple[int, Any], ...]]] = []
    for fact, options in data.values.items():
        opts = []
        for i, o in enumerate(options):
            label = f"value:{fact}:{i}"
            concepts[label] = list(o.patterns)
            labels[label] = ("value", fact, o.value)
            opts.append((i, o.value))
        order.append((fact, tuple(opts)))
    for kind, table in (
        ("condition", data.conditions),
        ("red_flag", data.red_flags),
        (
            "medication",
            {**_medication_names(data.medication_name_patterns), **data.medication_classes},
        ),
    ):
        for name, patterns in table.items():
            label = f"{kind}:{name}"
            concepts[label] = list(patterns)
            labels[label] = (kind, name, True)
    drugs: list[tuple[str, re.Pattern[str], str]] = []
    spelled = terminology.medicine_names().spelled  # the one list of medicine names
    for drug in DRUGS:
        alt = "|".join(re.escape(n) for n in sorted(spelled[drug], key=len, reverse=True))
        drugs.append((drug, re.compile(rf"(?<![a-z])(?:{alt})(?![a-z])"), alt))

    def templates(ts: list[str], alt: str) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(t.replace("{drug}", f"(?:{alt})")) for t in ts)

    words = sorted(_number_words(), key=len, reverse=True)
    number = r"(\d+(?:\.\d+)?|" + "|".join(re.escape(w) for w in words) + ")"

    return _Compiled(
        concepts=ConceptSet(concepts),
        labels=labels,
        value_order=tuple(order),
        numbers=tuple(
            (fact, tuple(re.compile(p) for p in n.patterns), n.unit_to, n.low, n.high)
            for fact, n in data.numbers.items()
        ),
        drugs=tuple(drugs),
        current={d: templates(data.current_drug, alt) for d, _, alt in drugs},
        allergy={d: templates(data.allergy, alt) for d, _, alt in drugs},
        not_topic={d: templates(data.drug_not_topic, alt) for d, _, alt in drugs},
        allergy_classes=tuple(
            (name, templates(data.allergy, "|".join(ps)))
            for name, ps in data.allergy_classes.items()
        ),
        unreadable=tuple(
            (fact, tuple(re.compile(p) for p in ps)) for fact, ps in data.unreadable_cues.items()
        ),
        drug_history=re.compile(rf"(?:{data.drug_history_before})\W*(\w+\W+){{0,2}}$"),
        conservative_care=re.compile(data.conservative_care.replace("{number}", number)),
        duration=re.compile(data.duration.replace("{number}", number)),
        drug_years_before=tuple(re.compile(p) for p in data.drug_years_before),
        prior_fracture=re.compile(data.prior_fracture),
        prior_fracture_negated=re.compile(data.prior_fracture_negated),
    )


def _unit_days(unit: str) -> int:
    """Days in a time unit ("week", "months"): the language lexicon's time units."""
    return lexicon().time.units[unit]


def _age(out: Extracted, reading: Reading) -> None:
    age = reading.age
    if isinstance(age, Age):
        if age.exact:
            out.set("age", age.low, age.text)
        else:
            out.age_range = (age.low, age.high)
            out.evidence["age"] = age.text
        if age.sex is not None:
            out.set("sex", age.sex, age.text)
    elif isinstance(age, Unreadable):
        out.unreadable["age"] = age.text


def _durations(out: Extracted, text: str, c: _Compiled) -> None:
    m = c.conservative_care.search(text)
    if m:
        days = _number(m.group(1)) * _unit_days(m.group(2))
        out.set("weeks_of_conservative_care", round(days / 7, 1), m.group(0))
        out.set("days_since_onset", int(days), m.group(0))
    for m in c.duration.finditer(text):
        phrase = m.group(0)
        unit, tail = m.group(2), m.group(3)
        before = text[max(0, m.start() - 30) : m.start()]
        if unit == "year" and tail != "ago":
            if any(p.search(before) for p in c.drug_years_before):
                out.set("years_on_osteoporosis_drug", _number(m.group(1)), phrase)
            continue
        if c.drug_history.search(before):
            continue  # a drug's history, not the fracture's age
        out.set("days_since_onset", int(_number(m.group(1)) * _unit_days(unit)), phrase)
        break


def _numbers(out: Extracted, text: str, c: _Compiled) -> None:
    for fact, patterns, unit_to, low, high in c.numbers:
        hit = next(
            (
                (value, m.group(0))
                for p in patterns
                for m in p.finditer(text)
                if low <= (value := _value(m, unit_to)) <= high
            ),
            None,
        )
        if hit is not None:
            value, phrase = hit
            out.set(fact, int(value) if value.is_integer() else value, phrase)
    if "egfr" in out.values:
        out.egfr = True


def _value(m: re.Match[str], unit_to: int | None) -> float:
    """The number a ``numbers`` pattern matched, signed and converted to ``unit_to`` days."""
    value = float(m.group("value"))
    groups = m.groupdict()
    if groups.get("sign"):
        value = -value
    unit = groups.get("unit")
    if unit and unit_to:
        value = round(value * _unit_days(unit) / unit_to, 1)
    return value


def _concepts(out: Extracted, found: list[Finding], c: _Compiled) -> None:
    by_label: dict[str, list[Finding]] = {}
    for f in found:
        if f.family or f.hypothetical:
            continue
        by_label.setdefault(f.label, []).append(f)
    for fact, options in c.value_order:
        for i, value in options:
            hits = by_label.get(f"value:{fact}:{i}", [])
            affirmed = [f for f in hits if not f.negated]
            if affirmed:
                out.set(fact, value, affirmed[0].text)
                break
            if hits and isinstance(value, bool) and value:
                out.set(fact, False, f"no {hits[0].text}")
                break
    groups: dict[str, tuple[list[str], list[str]]] = {}
    for label, hits in by_label.items():
        kind, name, _ = c.labels[label]
        if kind == "value":
            continue
        affirmed = [f for f in hits if not f.negated and not f.uncertain]
        if affirmed:
            names, phrases = groups.setdefault(kind, ([], []))
            if name not in names:
                names.append(name)
                phrases.append(affirmed[0].text)
    conditions = groups.get("condition")
    if conditions:
        out.set("conditions", conditions[0], "; ".join(conditions[1]))
    flags = groups.get("red_flag")
    if flags:
        out.set("red_flags", flags[0], "; ".join(flags[1]))
    meds = groups.get("medication")
    if meds:
        names = list(meds[0])
        specific = [n for n in names if n not in MEDICINE_CLASSES]
        if specific:  # a class word next to a named medicine of that class adds nothing
            names = specific + [
                n for n in names if n in MEDICINE_CLASSES and n not in _classes_of(specific)
            ]
        out.set("medications", names, "; ".join(meds[1]))


@cache
def _medicine_classes() -> dict[str, tuple[str, ...]]:
    from vertebra.knowledge.loader import load

    return {m: tuple(v.classes) for m, v in load().medicines.medicines.items()}


def _classes_of(medicines: list[str]) -> set[str]:
    table = _medicine_classes()
    return {cls for m in medicines for cls in table.get(m, ())}


def _drugs(out: Extracted, text: str, c: _Compiled) -> None:
    allergies: list[str] = []
    for name, patterns in c.allergy_classes:
        if any(p.search(text) for p in patterns):
            allergies.append(name)
    for drug, pattern, _alt in c.drugs:
        m = pattern.search(text)
        if m is None:
            continue
        out.drugs.append(drug)
        if any(p.search(text) for p in c.not_topic[drug]):
            out.background_drugs.append(drug)
        if any(p.search(text) for p in c.allergy[drug]):
            allergies.append(drug)
        else:
            for p in c.current[drug]:
                cur = p.search(text)
                if cur and not re.search(
                    r"\b(not|never|no longer|stopped)\s+(\w+\s+)?$",
                    text[max(0, cur.start() - 20) : cur.start()],
                ):
                    out.set("osteoporosis_drug", drug, cur.group(0))
                    break
    if allergies:
        out.set("allergies", list(dict.fromkeys(allergies)), ", ".join(allergies))


def extract(question: str, today: dt.date | None = None) -> Extracted:
    """Partial patient facts stated in ``question``; relative dates count back from ``today``."""
    c = _compiled()
    reading = read(question, today, find_concepts=False)
    text = " " + reading.text + " "
    out = Extracted(reading=reading)

    levels = [lv for lv in reading.levels if lv in LEVELS]
    if levels:
        phrases = ", ".join(m.text for m in reading.level_mentions if not m.disc)
        out.set("fracture_levels", levels, phrases)
    out.other_levels = [lv for lv in reading.levels if lv not in LEVELS]
    _age(out, reading)
    _durations(out, text, c)
    _numbers(out, text, c)
    m = c.prior_fracture.search(text)
    if m and not c.prior_fracture_negated.search(text[max(0, m.start() - 15) : m.start()]):
        out.set("prior_fragility_fractures", 1, m.group(0))
    _concepts(out, c.concepts.find(text), c)
    _drugs(out, text, c)
    for fact, cues in c.unreadable:
        if fact in out.values:
            continue
        hit = next((m for p in cues if (m := p.search(text))), None)
        if hit is not None:
            out.unreadable[fact] = text[max(0, hit.start() - 15) : hit.end() + 20].strip()
    _sanity(out)
    return out


_BONE_DRUGS = frozenset(get_args(CurrentBoneDrug))


def _sanity(out: Extracted) -> None:
    """Drop readings that contradict the facts' own rules."""
    drug = out.values.get("osteoporosis_drug")
    if drug is not None and drug not in _BONE_DRUGS:
        del out.values["osteoporosis_drug"], out.evidence["osteoporosis_drug"]
    if "years_on_osteoporosis_drug" in out.values and out.values.get("osteoporosis_drug") in (
        None,
        "none",
    ):
        del out.values["years_on_osteoporosis_drug"], out.evidence["years_on_osteoporosis_drug"]
    if out.values.get("sex") == "male" and "postmenopausal" in out.values:
        del out.values["postmenopausal"], out.evidence["postmenopausal"]
    if out.values.get("postmenopausal") is not None and "sex" not in out.values:
        out.set("sex", "female", out.evidence["postmenopausal"])
    if "age" in out.values and out.values["age"] < 18:
        out.unreadable.pop("age", None)
