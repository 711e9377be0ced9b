"""The plan out: a FHIR R4 RequestGroup of proposals.

Each recommendation becomes one contained request with ``intent: proposal`` and
``status: draft`` — a ServiceRequest (referral, imaging, laboratory, assessment, procedure,
education, mobilisation, follow-up) or a MedicationRequest (any recommendation naming a drug).
``avoid`` and ``contraindicated`` become requests with ``doNotPerform: true``. The
RequestGroup action carries the title, the strength and the citations
(``action.documentation``, one RelatedArtifact per source); the request carries the rationale
(``reasonCode``) and the detail (``note``). Output is deterministic: no timestamps, ids from
recommendation ids.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import Any

from vertebra.fhir.codes import ingredient_code
from vertebra.plan import Plan, Recommendation, Source

SNOMED = "http://snomed.info/sct"
# Example SNOMED CT codes of the FHIR R4 servicerequest-category value set.
_CATEGORY = {
    "laboratory": ("108252007", "Laboratory procedure"),
    "imaging": ("363679005", "Imaging"),
    "education": ("409073007", "Education"),
    "procedure": ("387713003", "Surgical procedure"),
}
_PRIORITY = {"immediate": "stat", "urgent": "urgent", "routine": "routine"}
_TARGET_TEXT = {
    "fracture_liaison_service": "Fracture liaison service",
    "osteoporosis_specialist": "Osteoporosis specialist",
    "spine_surgery": "Spine surgery",
    "interventional_radiology": "Interventional radiology",
    "pain_service": "Pain service",
    "physiotherapy": "Physiotherapy",
    "oncology_mdt": "Oncology multidisciplinary team",
}
_NEGATIVE = {"avoid", "contraindicated"}
_BAD_ID = re.compile(r"[^A-Za-z0-9\-.]")


@lru_cache(maxsize=4096)
def fhir_id(text: str) -> str:
    """A valid FHIR id (``[A-Za-z0-9-.]{1,64}``) derived from ``text``."""
    cleaned = _BAD_ID.sub("-", text).strip("-.") or "x"
    return cleaned[:64]


def _subject(patient_ref: str | None) -> dict[str, str]:
    if patient_ref:
        return {"reference": patient_ref}
    return {"display": "Patient (not identified in the request)"}


def _notes(rec: Recommendation) -> list[dict[str, str]]:
    notes = [{"text": rec.detail}]
    if rec.action == "consider":
        notes.append({"text": "Recommendation: consider (not a firm indication)."})
    for caution in rec.cautions:
        notes.append({"text": f"Caution: {caution}"})
    notes.append(
        {"text": f"Strength of recommendation: {rec.strength}. Sources: {', '.join(rec.citations)}"}
    )
    return notes


def narrative(*lines: str) -> dict[str, str]:
    """A generated FHIR narrative (dom-6: "A resource should have narrative"): XHTML with the
    given lines, escaped."""
    return {"status": "generated", "div": _xhtml(lines)}


def _xhtml(lines: tuple[str, ...]) -> str:
    body = "".join([f"<p>{html.escape(line, quote=False)}</p>" for line in lines if line])
    return f'<div xmlns="http://www.w3.org/1999/xhtml">{body}</div>'


#: A recommendation's narrative XHTML by its lines (title, dose, sources: knowledge-base text,
#: the same on every call; cached as a string, so no answer shares anything it could change).
_recommendation_xhtml = lru_cache(maxsize=4096)(_xhtml)


def _common(rec: Recommendation, patient_ref: str | None) -> dict[str, Any]:
    verb = {"avoid": "Avoid", "contraindicated": "Do not use"}.get(rec.action, "Proposed")
    lines = [f"{verb}: {rec.title}", rec.dose or "", f"Sources: {', '.join(rec.citations)}"]
    resource: dict[str, Any] = {
        "id": fhir_id(rec.id),
        "text": {"status": "generated", "div": _recommendation_xhtml(tuple(lines))},
        "status": "draft",
        "intent": "proposal",
        "subject": _subject(patient_ref),
    }
    if rec.urgency:
        resource["priority"] = _PRIORITY[rec.urgency]
    if rec.action in _NEGATIVE:
        resource["doNotPerform"] = True
    if rec.rationale:
        resource["reasonCode"] = [{"text": reason} for reason in rec.rationale]
    resource["note"] = _notes(rec)
    return resource


def _medication_request(rec: Recommendation, patient_ref: str | None) -> dict[str, Any]:
    assert rec.drug is not None
    concept: dict[str, Any] = {"text": rec.drug.replace("_", " ")}
    entry = ingredient_code(rec.drug)
    if entry is not None:
        concept["coding"] = [{"system": entry.system, "code": entry.code, "display": entry.display}]
    resource = {"resourceType": "MedicationRequest", **_common(rec, patient_ref)}
    resource["medicationCodeableConcept"] = concept
    if rec.dose:
        resource["dosageInstruction"] = [{"text": rec.dose}]
    return _ordered(resource)


def _service_request(rec: Recommendation, patient_ref: str | None) -> dict[str, Any]:
    resource = {"resourceType": "ServiceRequest", **_common(rec, patient_ref)}
    category = _CATEGORY.get(rec.category)
    if category is not None:
        code, display = category
        resource["category"] = [{"coding": [{"system": SNOMED, "code": code, "display": display}]}]
    else:
        resource["category"] = [{"text": rec.category.replace("_", " ")}]
    resource["code"] = {"text": rec.title}
    if rec.target:
        resource["performerType"] = {"text": _TARGET_TEXT.get(rec.target, rec.target)}
    return _ordered(resource)


_ORDER = (
    "resourceType",
    "id",
    "text",
    "status",
    "intent",
    "category",
    "priority",
    "doNotPerform",
    "code",
    "medicationCodeableConcept",
    "subject",
    "performerType",
    "reasonCode",
    "note",
    "dosageInstruction",
)


def _ordered(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: resource[k] for k in _ORDER if k in resource}


def recommendation_to_resource(
    rec: Recommendation, patient_ref: str | None = None, *, include_negative: bool = False
) -> dict[str, Any] | None:
    """One recommendation as a FHIR R4 proposal (MedicationRequest or ServiceRequest).

    ``avoid``/``contraindicated`` recommendations are not orders: they return ``None`` unless
    ``include_negative`` is true, in which case the request has ``doNotPerform: true``
    (as in :func:`plan_to_fhir`).
    """
    if rec.action in _NEGATIVE and not include_negative:
        return None
    if rec.drug:
        return _medication_request(rec, patient_ref)
    return _service_request(rec, patient_ref)


def _artifact(source_id: str, sources: dict[str, Source]) -> dict[str, Any]:
    source = sources.get(source_id)
    if source is None:
        return {"type": "citation", "label": source_id}
    artifact: dict[str, Any] = {
        "type": "citation",
        "label": source.id,
        "display": source.title,
        "citation": f"{source.title}. {source.organisation}, {source.year}.",
    }
    if source.url:
        artifact["url"] = source.url
    return artifact


def plan_to_fhir(plan: Plan, *, patient_ref: str | None = None) -> dict[str, Any]:
    """The plan as a FHIR R4 RequestGroup with contained proposals, one action each.

    Pathway, phase, summary, missing information and conflicts are RequestGroup notes.
    """
    sources = {s.id: s for s in plan.sources}
    contained: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    used: set[str] = set()
    for rec in plan.recommendations:
        resource = recommendation_to_resource(rec, patient_ref, include_negative=True)
        assert resource is not None
        rid = resource["id"]
        n = 2
        while rid in used:
            rid = fhir_id(f"{resource['id'][:60]}-{n}")
            n += 1
        used.add(rid)
        resource["id"] = rid
        contained.append(resource)
        action: dict[str, Any] = {
            "id": rid,
            "title": rec.title,
            "description": rec.detail,
        }
        if rec.urgency:
            action["priority"] = _PRIORITY[rec.urgency]
        action["code"] = [{"text": f"{rec.category} / {rec.action}"}]
        action["documentation"] = [_artifact(cid, sources) for cid in rec.citations]
        action["resource"] = {"reference": f"#{rid}"}
        actions.append(action)

    notes = [
        {"text": plan.summary},
        {"text": f"Pathway: {plan.pathway}. Phase: {plan.phase}."},
        {"text": f"Knowledge version: {plan.knowledge_version}."},
    ]
    for missing in plan.missing_information:
        notes.append({"text": f"Missing information — {missing.field}: {missing.why}"})
    for conflict in plan.conflicts:
        text = f"Conflict — {conflict.topic}: {conflict.summary} Followed: {conflict.followed}"
        notes.append({"text": text})

    group: dict[str, Any] = {
        "resourceType": "RequestGroup",
        "id": "vertebra-plan",
        "text": narrative(
            "Vertebral compression fracture management plan (vertebra)",
            plan.summary,
            *(f"{r.title} ({r.action})" for r in plan.recommendations),
        ),
        "contained": contained,
        "status": "draft",
        "intent": "proposal",
        "code": {"text": "Vertebral compression fracture management plan (vertebra)"},
        "subject": _subject(patient_ref),
        "note": notes,
    }
    if actions:
        group["action"] = actions
    else:
        del group["contained"]
    return group
