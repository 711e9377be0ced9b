"""Read patient details out of a clinician's question into partial patient facts.

Only what the question states is extracted; everything else stays unknown. Phrases come from
``data/extraction.yaml``; the numeric patterns (levels, age, durations, scores, clearance) are
the grammar below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from vertebra.ask.lexicon import extraction
from vertebra.facts import LEVELS

_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip
_UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
_NUM = r"(\d+(?:\.\d+)?|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"

_LEVEL = re.compile(r"(?<![a-z0-9])([tl])\s?-?(\d{1,2})(?![0-9])")
_LEVEL_WORDS = re.compile(r"\b(lumbar|thoracic) (?:vertebra|vertebral body|level) (\d{1,2})\b")
_AGE = (
    re.compile(r"\b(\d{2,3})[- ]?(?:years?|yrs?|yr)[- ]?old\b"),
    re.compile(r"\baged? (\d{2,3})\b"),
    re.compile(r"\b(\d{2,3}) ?(?:yo|y/o|y\.o\.)(?![a-z])"),
    re.compile(r"\b(\d{2,3}) ?(?:f|m)\b"),
    re.compile(
        r"\b(?:woman|man|female|male|lady|gentleman|patient),? (?:of |aged )?(\d{2,3})\b"
        r"(?! ?(?:%|mg|ml|kg|iu|days?|weeks?|months?))"
    ),
)
_CONSERVATIVE = re.compile(
    _NUM + r"[- ](day|week|month)s?(?:'s)? (?:of )?(?:\w+ ){0,2}"
    r"(?:conservative|medical|non-?operative|nonsurgical|non-surgical) "
    r"(?:care|management|treatment|therapy)"
)
_DURATION = re.compile(_NUM + r"[- ](day|week|month|year)s?(?:'s)?(?! old)(?:[- ]old)?")
_RELATIVE = (
    (re.compile(r"\b(?:yesterday|last night)\b"), 1),
    (re.compile(r"\b(?:today|this morning)\b"), 0),
    (re.compile(r"\blast week\b"), 7),
)
_PAIN = (
    re.compile(
        r"\b(?:pain|vas|nrs)(?: score)?(?: of| is| was|:|=| at)?\s*"
        r"(\d{1,2}(?:\.\d)?)\s*(?:/|out of )\s*10\b"
    ),
    re.compile(r"\b(\d{1,2}(?:\.\d)?)\s*/\s*10\b"),
)
_CRCL = re.compile(
    r"\b(creatinine clearance|crcl|cr cl|egfr|gfr)\s*"
    r"(?:of|is|was|=|:|at|around|about|only|below|under|<)?"
    r"\s*(\d{1,3}(?:\.\d+)?)"
)
_TSCORE = re.compile(r"\bt[- ]?score\s*(?:of|is|was|=|:)?\s*(-|−|minus )?(\d(?:\.\d+)?)")
_WEIGHT = re.compile(r"\b(\d{2,3}(?:\.\d+)?)\s*kg\b")
_PRIOR = re.compile(
    r"\b(?:previous|prior|earlier|old|history of (?:an? )?|had an? )(?:\w+ )?(?:\w+ )?fractures?\b"
)


@dataclass
class Extracted:
    """What a question says about the patient: fact -> value, and the words it came from."""

    values: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, str] = field(default_factory=dict)
    drugs: list[str] = field(default_factory=list)
    """Every drug the question names (its topic or the patient's record)."""
    egfr: bool = False

    def set(self, fact: str, value: Any, phrase: str) -> None:
        if fact not in self.values:
            self.values[fact] = value
            self.evidence[fact] = phrase.strip()

    @property
    def describes_patient(self) -> bool:
        return bool(self.values)


def _number(text: str) -> float:
    return float(_NUMBER_WORDS.get(text, 0) or text) if text in _NUMBER_WORDS else float(text)


@dataclass(frozen=True)
class _Compiled:
    negations: re.Pattern[str]
    values: tuple[tuple[str, tuple[tuple[Any, tuple[re.Pattern[str], ...]], ...]], ...]
    conditions: tuple[tuple[str, tuple[re.Pattern[str], ...]], ...]
    red_flags: tuple[tuple[str, tuple[re.Pattern[str], ...]], ...]
    drugs: tuple[tuple[str, re.Pattern[str], str], ...]
    current: tuple[str, ...]
    allergy: tuple[str, ...]


@cache
def _compiled() -> _Compiled:
    data = extraction()
    neg = "|".join(re.escape(n) for n in data.negations)
    drugs: list[tuple[str, re.Pattern[str], str]] = []
    for drug, names in data.drugs.items():
        alt = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        drugs.append((drug, re.compile(rf"(?<![a-z])(?:{alt})(?![a-z])"), alt))
    return _Compiled(
        negations=re.compile(rf"\b(?:{neg})\b(?:\W+\w+){{0,3}}\W*$"),
        values=tuple(
            (
                fact,
                tuple((o.value, tuple(re.compile(p) for p in o.patterns)) for o in options),
            )
            for fact, options in data.values.items()
        ),
        conditions=tuple(
            (cond, tuple(re.compile(p) for p in patterns))
            for cond, patterns in data.conditions.items()
        ),
        red_flags=tuple(
            (flag, tuple(re.compile(p) for p in patterns))
            for flag, patterns in data.red_flags.items()
        ),
        drugs=tuple(drugs),
        current=tuple(data.current_drug),
        allergy=tuple(data.allergy),
    )


_NO_RED_FLAGS = re.compile(r"\b(no|without) red flags?\b")


def _words_found(
    text: str, table: tuple[tuple[str, tuple[re.Pattern[str], ...]], ...]
) -> tuple[list[str], list[str]]:
    """The vocabulary words whose phrases occur in ``text`` (not negated), with the phrases."""
    words: list[str] = []
    phrases: list[str] = []
    for word, patterns in table:
        for p in patterns:
            m = p.search(text)
            if m and not _negated(text, m.start()):
                words.append(word)
                phrases.append(m.group(0))
                break
    return words, phrases


def _negated(text: str, start: int) -> bool:
    before = text[max(0, start - 40) : start]
    before = re.split(r"[.;,:!?]| but | and ", before)[-1]
    return _compiled().negations.search(before) is not None


def extract(question: str) -> Extracted:
    """Partial patient facts stated in ``question`` (lower-cased matching)."""
    text = " " + question.lower().replace("’", "'").replace("–", "-") + " "
    out = Extracted()
    c = _compiled()

    m: re.Match[str] | None
    levels: list[str] = []
    for m in _LEVEL.finditer(text):
        level = f"{m.group(1).upper()}{int(m.group(2))}"
        if level in LEVELS and level not in levels:
            levels.append(level)
    for m in _LEVEL_WORDS.finditer(text):
        level = f"{m.group(1)[0].upper()}{int(m.group(2))}"
        if level in LEVELS and level not in levels:
            levels.append(level)
    if levels:
        out.set("fracture_levels", levels, ", ".join(levels))

    for pattern in _AGE:
        m = pattern.search(text)
        if m and 18 <= int(m.group(1)) <= 120:
            out.set("age", int(m.group(1)), m.group(0))
            break

    m = _CONSERVATIVE.search(text)
    if m:
        days = _number(m.group(1)) * _UNIT_DAYS[m.group(2)]
        out.set("weeks_of_conservative_care", round(days / 7, 1), m.group(0))
        out.set("days_since_onset", int(days), m.group(0))
    for pattern, days in _RELATIVE:
        m = pattern.search(text)
        if m:
            out.set("days_since_onset", days, m.group(0))
    for m in _DURATION.finditer(text):
        phrase = m.group(0)
        if phrase.endswith("old"):
            continue
        after = text[m.end() : m.end() + 12]
        before = text[max(0, m.start() - 30) : m.start()]
        if m.group(2) == "year" and not after.lstrip().startswith(("ago", "since")):
            if re.search(r"\bfor\s*$", before):
                out.set("years_on_osteoporosis_drug", _number(m.group(1)), phrase)
            continue
        out.set("days_since_onset", int(_number(m.group(1)) * _UNIT_DAYS[m.group(2)]), phrase)
        break

    for pattern in _PAIN:
        m = pattern.search(text)
        if m and float(m.group(1)) <= 10:
            out.set("pain_score", float(m.group(1)), m.group(0))
            break
    m = _CRCL.search(text)
    if m and float(m.group(2)) <= 300:
        out.set("creatinine_clearance", float(m.group(2)), m.group(0))
        out.egfr = "gfr" in m.group(1)
    m = _TSCORE.search(text)
    if m:
        value = float(m.group(2)) * (-1 if m.group(1) else 1)
        if -7 <= value <= 4:
            out.set("t_score", value, m.group(0))
    m = _WEIGHT.search(text)
    if m and 0 < float(m.group(1)) <= 400:
        out.set("weight_kg", float(m.group(1)), m.group(0))
    m = _PRIOR.search(text)
    if m and not _negated(text, m.start()):
        out.set("prior_fragility_fractures", 1, m.group(0))

    for fact, options in c.values:
        for value, patterns in options:
            hit = next((m for p in patterns if (m := p.search(text))), None)
            if hit is None:
                continue
            if _negated(text, hit.start()):
                if isinstance(value, bool) and value:
                    out.set(fact, False, text[max(0, hit.start() - 20) : hit.end()])
                    break
                continue
            out.set(fact, value, hit.group(0))
            break

    conditions, phrases = _words_found(text, c.conditions)
    if conditions:
        out.set("conditions", conditions, "; ".join(phrases))

    flags, flag_phrases = _words_found(text, c.red_flags)
    if flags:
        out.set("red_flags", flags, "; ".join(flag_phrases))
    elif out.values.get("suspected_malignancy") is False and _NO_RED_FLAGS.search(text):
        out.set("red_flags", [], _NO_RED_FLAGS.search(text).group(0))  # type: ignore[union-attr]

    allergies: list[str] = []
    for drug, pattern, alt in c.drugs:
        m = pattern.search(text)
        if m is None:
            continue
        out.drugs.append(drug)
        for template in c.allergy:
            a = re.search(template.replace("{drug}", f"(?:{alt})"), text)
            if a:
                allergies.append(drug)
                break
        else:
            for template in c.current:
                cur = re.search(template.replace("{drug}", f"(?:{alt})"), text)
                if cur and not _negated(text, cur.start()):
                    out.set("osteoporosis_drug", drug, cur.group(0))
                    break
    if allergies:
        out.set("allergies", allergies, ", ".join(allergies))
    _sanity(out)
    return out


_BONE_DRUGS = frozenset(
    ("alendronate", "risedronate", "ibandronate", "zoledronic_acid", "denosumab", "teriparatide",
     "abaloparatide", "romosozumab", "raloxifene", "strontium_ranelate", "calcitonin")
)  # fmt: skip


def _sanity(out: Extracted) -> None:
    """Drop readings that contradict the facts' own rules."""
    drug = out.values.get("osteoporosis_drug")
    if drug is not None and drug not in _BONE_DRUGS:
        del out.values["osteoporosis_drug"], out.evidence["osteoporosis_drug"]
    if "years_on_osteoporosis_drug" in out.values and "osteoporosis_drug" not in out.values:
        del out.values["years_on_osteoporosis_drug"], out.evidence["years_on_osteoporosis_drug"]
    if out.values.get("sex") == "male" and "postmenopausal" in out.values:
        del out.values["postmenopausal"], out.evidence["postmenopausal"]
    if out.values.get("postmenopausal") is not None and "sex" not in out.values:
        out.set("sex", "female", out.evidence["postmenopausal"])
