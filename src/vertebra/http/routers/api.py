"""The JSON API (docs/contract.md §5): ``POST /api/plan``, ``GET /api/schema``,
``GET /api/knowledge``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request, Response

from vertebra.engine import plan as make_plan
from vertebra.facts import facts_json_schema
from vertebra.http.audit import input_hash, stored_facts
from vertebra.http.errors import ERROR_RESPONSES
from vertebra.http.limits import INLINE_BYTES, check_counts, check_raw_count
from vertebra.http.state import app_state
from vertebra.intake import check_depth, load_json, read_patient
from vertebra.plan import Plan
from vertebra.settings import Settings
from vertebra.store import EventRecord

log = logging.getLogger("vertebra.api")
router = APIRouter(prefix="/api", tags=["api"])

_FACTS_SCHEMA = facts_json_schema()
_PLAN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/PatientFacts"},
                        {"$ref": "#/components/schemas/FhirBundle"},
                    ]
                },
            }
        },
    }
}


@router.post(
    "/plan",
    summary="A cited management plan for one patient",
    description=(
        "Body: patient facts (docs/contract.md §1) or a FHIR R4 Bundle / resource. Answer: the "
        "plan (docs/contract.md §2), byte-for-byte what `vertebra plan FILE --format json` prints."
    ),
    response_model=Plan,
    responses=ERROR_RESPONSES,
    openapi_extra=_PLAN_BODY,
)
async def post_plan(request: Request) -> Response:
    state = app_state(request)
    body = await request.body()
    if len(body) <= INLINE_BYTES:
        # CPU-bound and short (a few ms): run it on the event loop. A thread hop would only
        # add GIL hand-offs between the loop and the worker threads under load.
        text, event = _read_and_plan(state.settings, body)
    else:  # a big Bundle (parsing alone takes tens of ms): on a worker thread, bounded
        text, event = await state.offloader.run(_read_and_plan, state.settings, body)
    state.store.record_event(event)
    return Response(text, media_type="application/json")


def _read_and_plan(settings: Settings, body: bytes) -> tuple[bytes, EventRecord]:
    """The plan as JSON bytes, and the audit event to record before it is sent."""
    # More resources than VERTEBRA_MAX_BUNDLE_RESOURCES: 413 before the body is parsed (the
    # bench's 4.7 MB Bundle: ~4 ms to count, ~50 ms to parse and count).
    check_raw_count(body, settings, "entry")
    data = load_json(body)  # InputError: HTTP 422 (vertebra.http.app)
    # The caps first: counting the entries is a shallow look (no recursion), and a Bundle over
    # them is refused before the depth walk, which costs ~100 ms on a 6.6 MB Bundle.
    check_counts(data, settings, "entry")
    check_depth(data, settings.max_json_depth)
    patient = read_patient(data)  # InputError: HTTP 422 (vertebra.http.app)
    plan = make_plan(patient.facts)
    if patient.text_evidence:
        plan = plan.model_copy(update={"facts_from_text": patient.text_evidence})
    text = plan.to_json_bytes()
    event = EventRecord(
        caller="api",
        hook="api.plan",
        input_kind=patient.kind,
        input_hash=input_hash(data, settings),
        input_facts=stored_facts(patient.facts, settings),
        knowledge_version=plan.knowledge_version,
        outcome="ok",
        pathway=plan.pathway,
        recommendation_ids=[r.id for r in plan.recommendations],
    )
    log.info(
        "plan: input=%s pathway=%s recommendations=%d",
        patient.kind,
        plan.pathway,
        len(plan.recommendations),
    )
    return text, event


@router.get("/schema", summary="JSON Schema of the patient facts (vertebra schema)")
def get_schema() -> dict[str, Any]:
    return _FACTS_SCHEMA


@router.get(
    "/knowledge",
    summary="The knowledge base: version, decision tables, safety rows, conflicts, bibliography",
)
def get_knowledge() -> dict[str, Any]:
    return knowledge_json()


def knowledge_json() -> dict[str, Any]:
    """What :func:`vertebra.knowledge.load` exposes, as JSON."""
    from vertebra.knowledge import load

    kb = load()
    return {
        "knowledge_version": kb.version,
        "manifest": kb.manifest.model_dump(mode="json"),
        "tables": [t.table.model_dump(mode="json", exclude_none=True) for t in kb.tables],
        "safety": kb.safety.model_dump(mode="json", exclude_none=True),
        "conflicts": [c.model_dump(mode="json", exclude_none=True) for c in kb.conflicts.values()],
        "vocabulary": kb.vocabulary.model_dump(mode="json", exclude_none=True),
        "sources": [s.model_dump(mode="json", exclude_none=True) for s in kb.sources],
    }
