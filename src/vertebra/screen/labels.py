"""The worklist for people: column headings, what each column means, and cell values in words.

One place for ``report.html`` and the web app's ``/fls`` page. The CSV and Parquet files keep
their stable machine names (the output contract of ``vertebra screen``); only what people read
changes: headings instead of snake_case, yes/no instead of true/false, a code system's name
instead of its URL, care gaps in words, and a priority order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: Every worklist column: (heading, what it means). Order = order in worklist.csv.
COLUMNS: dict[str, tuple[str, str]] = {
    "patient_id": ("Patient", "FHIR Patient id (the page shows its first 8 characters)."),
    "patient_name": ("Name", "The patient's name, when the export's Patient resource has one."),
    "mrn": ("MRN", "Medical record number (Patient.identifier of type MR), when present."),
    "patient_record_found": ("Patient record", "Yes when the export holds the Patient resource."),
    "sex": ("Sex", "Administrative sex from the Patient resource."),
    "birth_date": ("Born", "Date of birth."),
    "age_at_fracture": ("Age at fracture", "Age in years on the index fracture date."),
    "deceased": ("Deceased", "Yes when the Patient resource records a death."),
    "index_fracture_date": ("Index fracture", "Date of the latest fragility fracture episode."),
    "index_fracture_site": ("Site", "Site of the index fracture (vertebral first)."),
    "index_fracture_system": ("Code system", "Code system of the fracture diagnosis."),
    "index_fracture_code": ("Code", "Diagnosis code of the index fracture."),
    "vertebral_fracture": ("Vertebral", "Yes when any fragility fracture is vertebral."),
    "found_by": (
        "Found by",
        "How the fracture was found: coded (a diagnosis), report_text (only in a radiology "
        "report) or both.",
    ),
    "evidence": ("Evidence", "For a fracture found in text: report id and its sentence."),
    "fracture_acuity": ("Acuity", "Acute, chronic or age-indeterminate, as the report says."),
    "fracture_levels": ("Levels", "Vertebral levels, when the code gives them."),
    "prior_fracture_count": ("Prior fractures", "Earlier fracture episodes."),
    "first_fracture_date": ("First fracture", "Date of the first recorded fracture."),
    "days_since_fracture": ("Days since", "Days from the index fracture to the data cut-off."),
    "dxa_date": ("DXA", "Date of a bone density scan after the fracture."),
    "dxa_requested_date": ("DXA requested", "Date a bone density scan was requested."),
    "dxa_within_12_weeks": ("DXA ≤ 12 weeks", "Scan within 84 days (blank: window still open)."),
    "t_score_lowest": ("Lowest T-score", "Lowest DXA T-score recorded."),
    "medication_start_date": ("Treatment started", "First osteoporosis prescription after it."),
    "medication_started_drug": ("Started drug", "The medicine first prescribed."),
    "medication_started_within_16_weeks": (
        "Treated ≤ 16 weeks",
        "Osteoporosis medicine within 112 days (blank: window still open).",
    ),
    "medication_at_52_weeks": ("On treatment at 52 weeks", "Still prescribed a year on."),
    "current_drug": ("Current drug", "Most recent osteoporosis medicine."),
    "current_drug_date": ("Current drug date", "Date of that prescription."),
    "egfr": ("eGFR", "Latest eGFR (mL/min/1.73 m²)."),
    "egfr_date": ("eGFR date", "Date of that eGFR."),
    "last_encounter_date": ("Last seen", "Date of the last encounter."),
    "gaps": ("Care gaps", "What fracture liaison care is missing (IOF Capture the Fracture)."),
    "plan_safety_gaps": (
        "Plan safety",
        "The current drug is one the plan engine would avoid for this patient, and the rule why.",
    ),
    "priority": ("Priority", "1 = first to review: see the order described above the table."),
}

#: Columns the web page and the report show, in this order: who, what is missing, then context.
SHOWN: tuple[str, ...] = (
    "priority",
    "patient_name",
    "mrn",
    "patient_id",
    "gaps",
    "plan_safety_gaps",
    "sex",
    "age_at_fracture",
    "index_fracture_site",
    "index_fracture_date",
    "days_since_fracture",
    "t_score_lowest",
    "current_drug",
)

GAP_WORDS: dict[str, str] = {
    "no_dxa_within_12_weeks": "No DXA within 12 weeks",
    "no_medication_within_16_weeks": "No treatment within 16 weeks",
    "medication_not_continued_at_52_weeks": "Treatment not continued at 52 weeks",
    "no_current_osteoporosis_medication": "No current osteoporosis medicine",
    "patient_record_missing": "Patient record missing",
    "vertebral_fracture_reported_not_coded": "Vertebral fracture reported, not coded",
}
SYSTEMS: dict[str, str] = {
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
    "http://snomed.info/sct": "SNOMED CT",
}

PRIORITY_ORDER = (
    "Priority: patients whose current drug the plan engine would avoid first, then by the "
    "number of care gaps (most first), then in the worklist's own order (vertebral fractures "
    "first, the most recent fracture first). Patients with no gap come last."
)


def heading(column: str) -> str:
    return COLUMNS.get(column, (column.replace("_", " ").capitalize(), ""))[0]


def words(text: str) -> str:
    return text.replace("_", " ")


def gap_list(value: Any) -> list[str]:
    """``"no_dxa_within_12_weeks;…"`` → ["No DXA within 12 weeks", …]."""
    if not value:
        return []
    return [GAP_WORDS.get(g, words(g).capitalize()) for g in str(value).split(";") if g]


def safety_list(value: Any) -> list[str]:
    """``"avoid:alendronate:safety-alendronate-renal"`` → ["Avoid alendronate (rule …)"]."""
    out: list[str] = []
    for item in str(value or "").split(";"):
        if not item:
            continue
        parts = item.split(":")
        if len(parts) >= 2:
            rule = f" (rule {parts[2]})" if len(parts) > 2 else ""
            out.append(f"{parts[0].capitalize()} {words(parts[1])}{rule}")
        else:
            out.append(words(item))
    return out


def cell(column: str, value: Any) -> str:
    """A worklist value as people read it: yes/no, names not URLs, words not snake_case."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or (isinstance(value, str) and value in ("true", "false")):
        return "yes" if value in (True, "true") else "no"
    if column == "index_fracture_system":
        return SYSTEMS.get(str(value), str(value))
    if column in ("sex", "index_fracture_site", "current_drug", "medication_started_drug"):
        return words(str(value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def priority_order(gaps: Sequence[Any], safety: Sequence[Any]) -> list[int]:
    """Row indices in priority order (see :data:`PRIORITY_ORDER`) from the two gap columns."""
    return sorted(range(len(gaps)), key=lambda i: priority_key(gaps[i], safety[i], i))


def priority_key(gaps: Any, safety: Any, index: int) -> tuple[bool, int, int]:
    """The sort key of row ``index`` (its position in the worklist) by priority."""
    return (not safety, -len([g for g in str(gaps or "").split(";") if g]), index)


def by_priority(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows in priority order, each with its ``priority`` (1 = first)."""
    order = priority_order([r.get("gaps") for r in rows], [r.get("plan_safety_gaps") for r in rows])
    return [{**rows[i], "priority": n} for n, i in enumerate(order, start=1)]
