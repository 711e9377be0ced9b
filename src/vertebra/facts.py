"""Patient facts: the input of every plan (docs/contract.md §1).

Every field but ``age``, ``sex`` and ``fracture_levels`` is optional, and ``None`` means
*unknown*, never "no". The model is strict: wrong types, out-of-range values, unknown fields,
unknown vocabulary words and duplicate levels are rejected with an error that names the field.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vertebra.errors import BODY, FieldError, InputError, field_error

if TYPE_CHECKING:
    from pydantic import TypeAdapter

Level = Literal[
    "T1",
    "T2",
    "T3",
    "T4",
    "T5",
    "T6",
    "T7",
    "T8",
    "T9",
    "T10",
    "T11",
    "T12",
    "L1",
    "L2",
    "L3",
    "L4",
    "L5",
]
Drug = Literal[
    "paracetamol",
    "naproxen",
    "diclofenac",
    "ibuprofen",
    "oxycodone",
    "laxative",
    "amitriptyline",
    "gabapentin",
    "calcitonin",
    "calcium",
    "vitamin_d",
    "alendronate",
    "risedronate",
    "ibandronate",
    "zoledronic_acid",
    "denosumab",
    "teriparatide",
    "abaloparatide",
    "romosozumab",
    "raloxifene",
    "strontium_ranelate",
]
Condition = Literal[
    "oesophageal_disorder",
    "cannot_sit_upright_30_min",
    "hypocalcaemia",
    "oral_bisphosphonate_intolerance",
    "dementia",
    "malabsorption",
    "poor_adherence",
    "gi_bleeding_history",
    "cardiovascular_disease",
    "mi_or_stroke_history",
    "hepatic_impairment",
    "hyperthyroidism",
    "hyperparathyroidism",
    "hypercalciuria",
    "hyperprolactinaemia",
    "abnormal_alkaline_phosphatase",
    "abnormal_phosphate",
    "pagets_disease",
    "prior_skeletal_radiation",
    "high_bed_rest_complication_risk",
    "glucocorticoid_use",
]
BoneDrug = Literal[
    "alendronate",
    "risedronate",
    "ibandronate",
    "zoledronic_acid",
    "denosumab",
    "teriparatide",
    "abaloparatide",
    "romosozumab",
    "raloxifene",
    "strontium_ranelate",
    "calcitonin",
]
CurrentBoneDrug = Literal[BoneDrug, "none"]  # "none" = known to take none
AllergyClass = Literal["nsaid", "opioid", "bisphosphonate"]
Allergen = Literal[Drug, AllergyClass]  # a drug, or a class (cross-reactivity)
# Other current medicines (v2): a medicine or a class. Each medicine's classes are knowledge data
# (``knowledge/data/medicines.yaml``); the loader fails when this list and that file disagree.
MedicineClass = Literal[
    "anticoagulant",
    "antiplatelet",
    "ssri_snri",
    "glucocorticoid",
    "aromatase_inhibitor",
    "androgen_deprivation",
    "proton_pump_inhibitor",
    "opioid",
    "benzodiazepine",
]
_MedicineName = Literal[
    "warfarin",
    "apixaban",
    "rivaroxaban",
    "edoxaban",
    "dabigatran",
    "heparin",
    "enoxaparin",
    "aspirin",
    "clopidogrel",
    "ticagrelor",
    "prasugrel",
    "prednisolone",
    "prednisone",
    "dexamethasone",
    "hydrocortisone",
    "methylprednisolone",
    "sertraline",
    "citalopram",
    "escitalopram",
    "fluoxetine",
    "paroxetine",
    "venlafaxine",
    "duloxetine",
    "mirtazapine",
    "anastrozole",
    "letrozole",
    "exemestane",
    "tamoxifen",
    "goserelin",
    "leuprorelin",
    "triptorelin",
    "degarelix",
    "bicalutamide",
    "levothyroxine",
    "omeprazole",
    "lansoprazole",
    "esomeprazole",
    "pantoprazole",
    "methotrexate",
    "lithium",
    "morphine",
    "codeine",
    "tramadol",
    "fentanyl",
    "diazepam",
    "lorazepam",
    "temazepam",
    "zopiclone",
]
Medicine = Literal[_MedicineName, MedicineClass]  # a medicine, or a class word
RedFlag = Literal[
    "night_pain",
    "unexplained_weight_loss",
    "fever",
    "immunosuppression",
    "iv_drug_use",
    "saddle_anaesthesia",
    "bladder_bowel_dysfunction",
    "progressive_weakness",
]
Sex = Literal["female", "male"]
Mechanism = Literal["low_energy", "high_energy"]
Columns = Literal["anterior", "multiple"]
Deformity = Literal["none", "significant", "progressive"]
PainTrend = Literal["improving", "stable", "worsening"]

LEVELS: tuple[str, ...] = get_args(Level)
DRUGS: tuple[str, ...] = get_args(Drug)
CONDITIONS: tuple[str, ...] = get_args(Condition)
BONE_DRUGS: tuple[str, ...] = get_args(BoneDrug)
ALLERGY_CLASSES: tuple[str, ...] = get_args(AllergyClass)
MEDICINE_CLASSES: tuple[str, ...] = get_args(MedicineClass)
MEDICINES: tuple[str, ...] = get_args(Medicine)
RED_FLAGS: tuple[str, ...] = get_args(RedFlag)

NonNegInt = Annotated[int, Field(ge=0)]
NonNegFloat = Annotated[float, Field(ge=0)]


class PatientFacts(BaseModel):
    """What is known about one patient. ``None`` is unknown."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    age: Annotated[int, Field(ge=18, le=120, description="Age in years")]
    sex: Sex
    postmenopausal: bool | None = None
    weight_kg: Annotated[float, Field(gt=0, le=400)] | None = None
    fracture_levels: Annotated[
        list[Level], Field(min_length=1, description="Levels with a compression fracture")
    ]
    days_since_onset: NonNegInt | None = None
    mechanism: Mechanism | None = None
    columns_involved: Columns | None = None
    neurological_deficit: bool | None = None
    spinal_instability: bool | None = None
    deformity: Deformity | None = None
    pulmonary_dysfunction: bool | None = None
    history_of_cancer: bool | None = None
    suspected_malignancy: bool | None = None
    pain_score: Annotated[float, Field(ge=0, le=10)] | None = None
    pain_trend: PainTrend | None = None
    analgesia_failed: bool | None = None
    weeks_of_conservative_care: NonNegFloat | None = None
    hospitalised: bool | None = None
    mri_done: bool | None = None
    mri_oedema: bool | None = None
    mri_contraindicated: bool | None = None
    t_score: Annotated[float, Field(ge=-7, le=4)] | None = None
    prior_fragility_fractures: NonNegInt | None = None
    osteoporosis_drug: CurrentBoneDrug | None = None
    years_on_osteoporosis_drug: NonNegFloat | None = None
    bmd_loss_percent_per_year: Annotated[float, Field(ge=-100, le=100)] | None = None
    fracture_on_treatment: bool | None = None
    creatinine_clearance: Annotated[float, Field(ge=0, le=300)] | None = None
    comorbidity_count: NonNegInt | None = None
    conditions: list[Condition] | None = None
    allergies: list[Allergen] | None = None
    # v2 (docs/contract.md §1 "Added in v2")
    medications: list[Medicine] | None = None
    months_since_last_dose: NonNegFloat | None = None
    egfr: Annotated[float, Field(ge=0, le=200)] | None = None
    pregnant: bool | None = None
    breastfeeding: bool | None = None
    vte_history: bool | None = None
    immobilised: bool | None = None
    falls_last_year: NonNegInt | None = None
    glucocorticoid_mg_per_day: NonNegFloat | None = None
    glucocorticoid_months: NonNegFloat | None = None
    red_flags: list[RedFlag] | None = None

    @field_validator("fracture_levels", "conditions", "allergies", "medications", "red_flags")
    @classmethod
    def _no_duplicates(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        seen: set[str] = set()
        dupes = sorted({v for v in value if v in seen or seen.add(v)})  # type: ignore[func-returns-value]
        if dupes:
            raise ValueError(f"duplicate values are not allowed: {', '.join(dupes)}")
        return value


FACT_NAMES: tuple[str, ...] = tuple(PatientFacts.model_fields)


class RecordFacts(PatientFacts):
    """Facts read from a health record (FHIR), where a vertebral fracture may be coded without
    its level. ``fracture_levels`` may then be unknown; the plan asks for it to be confirmed.
    Patient facts sent as JSON (docs/contract.md §1) always need at least one level."""

    # Built on first use (FHIR input), not at every start of `vertebra plan FACTS.json`.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)

    fracture_levels: Annotated[list[Level], Field(min_length=1)] | None = None  # type: ignore[assignment]


class FactsError(InputError):
    """Invalid patient facts. ``errors`` names every offending field."""


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(body)"


def _allowed(field: str) -> list[str] | None:
    name = field.split("[", 1)[0].split(".", 1)[0]
    info = PatientFacts.model_fields.get(name)
    if info is None:
        return None
    for candidate in _literal_args(info.annotation):
        return candidate
    return None


def _literal_args(annotation: Any) -> list[list[str]]:
    found: list[list[str]] = []
    args = get_args(annotation)
    if getattr(annotation, "__origin__", None) is Literal:
        return [list(args)]
    for arg in args:
        found.extend(_literal_args(arg))
    return found


def explain(error: ValidationError) -> list[FieldError]:
    """Turn a pydantic error into ``[{field, message, type, allowed?}]`` naming each field."""
    out: list[FieldError] = []
    for item in error.errors(include_url=False):
        field = _field_path(tuple(item["loc"]))
        kind = item["type"]
        if kind == "extra_forbidden":
            message = f"unknown field; allowed fields are: {', '.join(FACT_NAMES)}"
        elif kind == "missing":
            message = "this field is required"
        else:
            message = str(item["msg"])
        entry = field_error(field, message, kind)
        if kind in ("literal_error", "enum"):
            allowed = _allowed(field)
            if allowed:
                entry["allowed"] = allowed
        out.append(entry)
    return out


def parse_facts(data: Any) -> PatientFacts:
    """Validate a JSON-like object into :class:`PatientFacts` or raise :class:`FactsError`."""
    if not isinstance(data, dict):
        raise FactsError.one(BODY, "patient facts must be a JSON object", "type")
    try:
        return PatientFacts.model_validate(data)
    except ValidationError as exc:
        raise FactsError(explain(exc)) from None


def parse_record_facts(data: dict[str, Any]) -> PatientFacts:
    """Validate facts read from a record: like :func:`parse_facts`, but the fracture level may be
    unknown (see :class:`RecordFacts`)."""
    try:
        return RecordFacts.model_validate(data)
    except ValidationError as exc:
        raise FactsError(explain(exc)) from None


def value_range(name: str) -> tuple[float | None, float | None]:
    """The lower and upper bounds of a numeric fact, from the model (the one place they are
    written); None where there is no bound."""
    low: float | None = None
    high: float | None = None
    stack: list[Any] = list(PatientFacts.model_fields[name].metadata)
    for arg in get_args(PatientFacts.model_fields[name].annotation):
        stack.extend(getattr(arg, "__metadata__", ()))
    for meta in stack:
        for attr in ("ge", "gt"):
            if getattr(meta, attr, None) is not None:
                low = float(getattr(meta, attr))
        for attr in ("le", "lt"):
            if getattr(meta, attr, None) is not None:
                high = float(getattr(meta, attr))
        stack.extend(getattr(meta, "metadata", ()))
    return low, high


@cache
def _adapter(name: str) -> TypeAdapter[Any]:
    from pydantic import TypeAdapter  # on first use: pydantic.type_adapter is not needed to plan

    info = PatientFacts.model_fields[name]
    annotation: Any = info.annotation
    if info.metadata:
        annotation = Annotated.__class_getitem__((annotation, *info.metadata))  # type: ignore[attr-defined]
    return TypeAdapter(annotation)


def in_range(name: str, value: float) -> bool:
    """Whether ``value`` is a valid value of the numeric fact ``name`` (its model's bounds)."""
    try:
        _adapter(name).validate_python(value)
    except ValidationError:
        return False
    return True


def facts_json_schema() -> dict[str, Any]:
    """The JSON Schema of the patient facts (``vertebra schema``)."""
    return PatientFacts.model_json_schema()
