"""The patient form: which field goes in which group, what kind of input it is, and how the
posted form becomes patient facts (docs/contract.md §1).

Nothing clinical happens here. An empty input, an "unknown" radio button or an unticked list
marked "not reviewed" leaves the fact out, which the engine reads as *unknown*. Values are
converted to JSON types only as far as they clearly are numbers or words; anything else is
passed through unchanged so :func:`vertebra.facts.parse_facts` rejects it naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from vertebra.facts import FACT_NAMES, PatientFacts, value_range

Kind = Literal["bool", "int", "float", "choice", "levels", "multi"]

#: Groups in the order a clinician works through a patient. Every fact appears exactly once.
GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "patient",
        "Patient",
        (
            "age",
            "sex",
            "postmenopausal",
            "weight_kg",
            "comorbidity_count",
            "pregnant",
            "breastfeeding",
            "falls_last_year",
            "immobilised",
        ),
    ),
    (
        "fracture",
        "Fracture",
        (
            "fracture_levels",
            "days_since_onset",
            "mechanism",
            "columns_involved",
            "spinal_instability",
            "deformity",
        ),
    ),
    (
        "course",
        "Symptoms and course",
        (
            "pain_score",
            "pain_trend",
            "analgesia_failed",
            "weeks_of_conservative_care",
            "hospitalised",
            "pulmonary_dysfunction",
        ),
    ),
    (
        "red-flags",
        "Red flags",
        ("neurological_deficit", "history_of_cancer", "suspected_malignancy", "red_flags"),
    ),
    ("imaging", "Imaging", ("mri_done", "mri_oedema", "mri_contraindicated")),
    (
        "bone",
        "Bone health",
        (
            "t_score",
            "prior_fragility_fractures",
            "osteoporosis_drug",
            "years_on_osteoporosis_drug",
            "months_since_last_dose",
            "bmd_loss_percent_per_year",
            "fracture_on_treatment",
        ),
    ),
    (
        "kidney",
        "Kidney, medicines and contraindications",
        (
            "creatinine_clearance",
            "egfr",
            "conditions",
            "allergies",
            "medications",
            "vte_history",
            "glucocorticoid_mg_per_day",
            "glucocorticoid_months",
        ),
    ),
)

#: Form inputs that say whether a list fact (conditions, allergies) has been reviewed.
KNOWN_SUFFIX = "__reviewed"


def _choices(annotation: Any) -> tuple[str, ...]:
    if getattr(annotation, "__origin__", None) is Literal:
        return tuple(get_args(annotation))
    for arg in get_args(annotation):
        found = _choices(arg)
        if found:
            return found
    return ()


def _kind(name: str) -> Kind:
    annotation = PatientFacts.model_fields[name].annotation
    text = str(annotation)
    if name == "fracture_levels":
        return "levels"
    if "list[" in text:
        return "multi"
    if "bool" in text:
        return "bool"
    if _choices(annotation):
        return "choice"
    if "int" in text and "float" not in text:
        return "int"
    return "float"


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: Kind
    choices: tuple[str, ...] = ()
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None


def _spec(name: str) -> FieldSpec:
    info = PatientFacts.model_fields[name]
    low, high = value_range(name)
    return FieldSpec(
        name=name,
        kind=_kind(name),
        choices=_choices(info.annotation),
        required=info.is_required(),
        minimum=low,
        maximum=high,
    )


FIELDS: dict[str, FieldSpec] = {name: _spec(name) for name in FACT_NAMES}


def _number(text: str, integer: bool) -> Any:
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        return text
    if isinstance(value, float) and not math.isfinite(value):
        return text
    return value


def facts_from_form(items: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The posted form (name/value pairs, repeated names for lists) → a facts JSON object.

    Unknown form names are ignored (the form's own controls), but every fact the form can send
    is read: nothing the clinician entered is dropped silently."""
    values: dict[str, list[str]] = {}
    for key, value in items:
        values.setdefault(key, []).append(value)
    facts: dict[str, Any] = {}
    for name, spec in FIELDS.items():
        raw = [v.strip() for v in values.get(name, [])]
        if spec.kind in ("levels", "multi"):
            ticked = [v for v in raw if v]
            reviewed = values.get(name + KNOWN_SUFFIX, [""])[-1] == "yes"
            if ticked or reviewed:
                facts[name] = ticked
            continue
        text = raw[-1] if raw else ""
        if not text:
            continue
        if spec.kind == "bool":
            facts[name] = {"yes": True, "no": False}.get(text, text)
        elif spec.kind in ("int", "float"):
            facts[name] = _number(text, spec.kind == "int")
        else:
            facts[name] = text
    return facts


@dataclass
class FormState:
    """What the form shows: each field's value as text (lists as lists), and the errors."""

    values: dict[str, str] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)
    reviewed: dict[str, bool] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    general_errors: list[str] = field(default_factory=list)

    def value(self, name: str) -> str:
        return self.values.get(name, "")

    def ticked(self, name: str, option: str) -> bool:
        return option in self.lists.get(name, [])

    def add_errors(self, errors: Iterable[Mapping[str, Any]]) -> None:
        for error in errors:
            where = str(error.get("field", "(body)"))
            base = where.split("[", 1)[0].split(".", 1)[0]
            message = str(error.get("message", "invalid"))
            allowed = error.get("allowed")
            if allowed:
                message += " (allowed: " + ", ".join(map(str, allowed)) + ")"
            if base in FIELDS:
                self.errors.setdefault(base, []).append(message)
            else:
                self.general_errors.append(f"{where}: {message}")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def state_from_facts(facts: Mapping[str, Any]) -> FormState:
    """Fill the form from a facts JSON object (a demo patient)."""
    state = FormState()
    for name, spec in FIELDS.items():
        if name not in facts or facts[name] is None:
            continue
        value = facts[name]
        if spec.kind in ("levels", "multi"):
            state.lists[name] = [str(v) for v in value]
            state.reviewed[name] = True
        else:
            state.values[name] = _text(value)
    return state


def state_from_form(items: Iterable[tuple[str, str]]) -> FormState:
    """Refill the form with exactly what was posted (invalid text included)."""
    pairs = list(items)
    state = FormState()
    for key, value in pairs:
        if key.endswith(KNOWN_SUFFIX):
            state.reviewed[key[: -len(KNOWN_SUFFIX)]] = value == "yes"
        elif key in FIELDS and FIELDS[key].kind in ("levels", "multi"):
            if value.strip():
                state.lists.setdefault(key, []).append(value.strip())
        elif key in FIELDS:
            state.values[key] = value.strip()
    for name in state.lists:
        state.reviewed[name] = True
    return state
