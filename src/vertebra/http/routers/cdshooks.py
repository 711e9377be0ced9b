"""CDS Hooks 2.0 endpoints: discovery, the services, and card feedback."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, TypeVar

import anyio.to_thread
import httpx
import orjson
import pydantic_core
from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ValidationError

from vertebra.cdshooks import prefetch as prefetching
from vertebra.cdshooks.cards import CardBuilder
from vertebra.cdshooks.models import CardsResponse, FeedbackRequest, HookRequest
from vertebra.cdshooks.orders import draft_orders, drug_conflicts, with_plan_verdict
from vertebra.cdshooks.services import PREFETCH, SERVICES, Service, discovery
from vertebra.engine import plan as make_plan
from vertebra.errors import NO_FRACTURE, FieldError, InputError, field_error
from vertebra.facts import FactsError, PatientFacts
from vertebra.fhir import prefetch_to_resources, recommendation_to_resource
from vertebra.fhir.report_text import REPORT_TYPES
from vertebra.http.audit import input_hash, stored_facts
from vertebra.http.errors import ERROR_RESPONSES, ApiError, invalid_input, validation_errors
from vertebra.http.limits import INLINE_BYTES, check_counts
from vertebra.http.state import AppState, app_state, get_state
from vertebra.intake import check_depth, from_resources, load_json
from vertebra.security import ANONYMOUS_DEV, AuthError, Caller
from vertebra.security.jwt import FetchNeeded
from vertebra.settings import Settings
from vertebra.store import EventRecord, FeedbackRecord

log = logging.getLogger("vertebra.cdshooks")
M = TypeVar("M", bound=BaseModel)
router = APIRouter(prefix="/cds-services", tags=["cds-hooks"])

_AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    401: {"description": "Missing or invalid CDS Hooks JWT"},
    404: {"description": "No such service"},
    400: {"description": "context.draftOrders is not a Bundle"},
    412: {
        "description": "Needed data missing from the prefetch and not obtainable from fhirServer"
    },
    413: {"description": "More resources than the configured limits"},
}


def endpoint_url(request: Request, state: AppState) -> str:
    """The URL of the endpoint called, as the EHR knows it (the JWT ``aud``)."""
    base = state.settings.public_base_url
    if base:
        return base + request.url.path
    return str(request.url.replace(query="", fragment=""))


def authenticate(
    request: Request, state: AppState, audiences: list[str], *, use_jti: bool = True
) -> Caller:
    """The verified caller (HTTP 401 otherwise). ``use_jti=False``: the token's ``jti`` is
    left for :func:`record` (with the audit event) or :func:`use_jti` to record."""
    if not state.settings.auth_enabled:
        return ANONYMOUS_DEV
    try:
        return state.verifier.verify(
            request.headers.get("authorization"), audiences, use_jti=use_jti
        )
    except AuthError as exc:
        raise _unauthorized(exc) from None


def _unauthorized(exc: AuthError) -> ApiError:
    log.warning("CDS Hooks call refused: %s", exc.message)
    return ApiError(
        401,
        "unauthorized",
        exc.message,
        headers={"WWW-Authenticate": f'Bearer error="{exc.code}"'},
    )


def use_jti(state: AppState, caller: Caller) -> None:
    """Record the jti of a caller authenticated with ``use_jti=False`` (HTTP 401 on replay)."""
    if caller.jti is None:
        return
    try:
        state.verifier.use_jti(caller)
    except AuthError as exc:
        raise _unauthorized(exc) from None


def record(state: AppState, event: EventRecord, caller: Caller) -> None:
    """The audit event and the caller's jti in one transaction (HTTP 401 on replay)."""
    try:
        state.record(event, caller)
    except AuthError as exc:
        raise _unauthorized(exc) from None


def _service(service_id: str) -> Service:
    service = SERVICES.get(service_id)
    if service is None:
        raise ApiError(404, "not_found", f"no CDS service {service_id!r}; see GET /cds-services")
    return service


@router.get("", summary="CDS Hooks discovery")
def get_discovery() -> dict[str, Any]:
    return discovery()


_HOOK_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HookRequest"}}},
    }
}
_FEEDBACK_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/FeedbackRequest"}}
        },
    }
}


async def authenticate_async(
    request: Request, state: AppState, audiences: list[str], *, use_jti: bool = True
) -> Caller:
    """:func:`authenticate` on the event loop when the keys are at hand; on a worker thread
    when a JWKS must be fetched (rate-limited per issuer, with a deadline)."""
    if not state.settings.auth_enabled:
        return ANONYMOUS_DEV
    try:
        return state.verifier.verify(
            request.headers.get("authorization"), audiences, use_jti=use_jti, fetch=False
        )
    except FetchNeeded:
        # JWKS fetches get threads of their own (VERTEBRA_JWKS_TIMEOUT_SECONDS each): a slow
        # JWKS host cannot take the threads that FHIR fetches and feedback writes use.
        return await anyio.to_thread.run_sync(
            partial(authenticate, request, state, audiences, use_jti=use_jti),
            limiter=state.jwks_threads,
        )
    except AuthError as exc:
        raise _unauthorized(exc) from None


def parse_body(model: type[M], raw: bytes, settings: Settings) -> M:
    """Validate a request body (after authentication): HTTP 422 naming every field."""
    data = load_json(raw)  # InputError: HTTP 422
    check_depth(data, settings.max_json_depth)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_input(validation_errors(exc)) from None


@dataclass(frozen=True)
class _Answer:
    """A hook call's answer (the cards as JSON) and the audit event to record before it."""

    body: bytes
    event: EventRecord


@dataclass(frozen=True)
class _Refusal:
    """A hook call refused on a worker thread, with the digest its audit event keeps."""

    status: int
    code: str
    message: str
    errors: list[FieldError]
    digest: str


def _answer(
    settings: Settings,
    http: httpx.Client,
    service: Service,
    raw: bytes,
    caller: Caller,
    url: str,
    *,
    may_fetch: bool,
) -> _Answer | None:
    """Parse, check and answer one call; None when it needs a FHIR fetch and ``may_fetch``
    is off (network I/O: the caller runs it again on a thread)."""
    body = parse_body(HookRequest, raw, settings)
    _validate(service, body)
    if not may_fetch and _may_block(body):
        return None
    cards, event = _run_hook(settings, http, service, body, caller, url)
    # The cards are built from validated parts: send them without re-validating 50 kB of JSON.
    # orjson writes the same bytes as pydantic_core.to_json (compared on the bench's 500
    # patient-view answers) in about a third of the time.
    return _Answer(orjson.dumps(cards, default=pydantic_core.to_jsonable_python), event)


def _answer_or_refusal(
    settings: Settings,
    http: httpx.Client,
    service: Service,
    raw: bytes,
    caller: Caller,
    url: str,
) -> _Answer | _Refusal | None:
    """:func:`_answer` for a big body, on a worker thread: a refusal comes back with the digest
    its audit event keeps (hashing megabytes is work for the thread, not the event loop)."""
    try:
        return _answer(settings, http, service, raw, caller, url, may_fetch=False)
    except InputError as exc:
        refusal = invalid_input(exc.errors)
    except ApiError as exc:
        refusal = exc
    digest = _refusal_digest(raw, settings)
    return _Refusal(refusal.status, refusal.code, refusal.message, refusal.errors, digest)


@router.post(
    "/{service_id}",
    summary="Call a CDS service",
    response_model=CardsResponse,
    responses=_AUTH_RESPONSES,
    openapi_extra=_HOOK_BODY,
)
async def call_service(service_id: str, request: Request) -> Response:
    state = app_state(request)
    service = _service(service_id)
    url = endpoint_url(request, state)
    # Authenticate before the body is even parsed: an unauthenticated caller learns nothing
    # about what a valid request looks like. The jti is recorded with the audit event.
    caller = await authenticate_async(request, state, [url], use_jti=False)
    raw = await request.body()
    settings = state.settings
    try:
        answer: _Answer | _Refusal | None = None
        if len(raw) > INLINE_BYTES:  # a big prefetch: parsed and planned on a worker thread
            answer = await state.offloader.run(
                _answer_or_refusal, settings, state.http, service, raw, caller, url
            )
        else:  # CPU-bound and short: a thread hop would only add GIL hand-offs under load
            answer = _answer(settings, state.http, service, raw, caller, url, may_fetch=False)
        if answer is None:  # network I/O (FHIR fetch, with its deadline): a worker thread
            answer = await run_in_threadpool(
                partial(_answer, may_fetch=True), settings, state.http, service, raw, caller, url
            )
    except InputError as exc:  # bad input (HTTP 422), audited as a refusal like the below
        refusal = invalid_input(exc.errors)
        _record_refusal(state, service, caller, _refusal_digest(raw, settings), refusal)
        raise refusal from None
    except ApiError as exc:
        # Audited all the same (with the jti, in one transaction): an authenticated call that
        # was refused is part of the trail, and its token is used up.
        _record_refusal(state, service, caller, _refusal_digest(raw, settings), exc)
        raise
    except Exception:
        use_jti(state, caller)
        raise
    if isinstance(answer, _Refusal):
        error = ApiError(answer.status, answer.code, answer.message, answer.errors)
        _record_refusal(state, service, caller, answer.digest, error)
        raise error
    assert answer is not None
    record(state, answer.event, caller)
    return Response(answer.body, media_type="application/json")


def _refusal_digest(raw: bytes, settings: Settings) -> str:
    payload = raw[: 4 * 1024 * 1024]
    return input_hash(payload.decode("utf-8", "replace"), settings)


def _record_refusal(
    state: AppState, service: Service, caller: Caller, digest: str, exc: ApiError
) -> None:
    event = EventRecord(
        caller=caller.label,
        hook=service.hook,
        service=service.id,
        input_kind="fhir",
        input_hash=digest,
        outcome=f"refused:{exc.status}:{exc.code}"[:32],
    )
    record(state, event, caller)


def _may_block(body: HookRequest) -> bool:
    given = prefetching.known(body.prefetch)
    return body.fhirServer is not None and any(
        key not in given or prefetching.not_available(given[key]) for key in PREFETCH
    )


def _validate(service: Service, body: HookRequest) -> None:
    errors: list[FieldError] = []
    if body.hook != service.hook:
        message = f"service {service.id} answers the {service.hook} hook"
        errors.append(field_error("hook", message, "literal_error", [service.hook]))
    for name in service.required_context:
        value = body.context.get(name)
        if value is None:
            errors.append(field_error(f"context.{name}", "this field is required", "missing"))
            continue
        expected = {"patientId": str, "selections": list, "draftOrders": dict}[name]
        if not isinstance(value, expected) or (expected is str and not value):
            kind = {str: "a non-empty string", list: "a list", dict: "an object"}[expected]
            errors.append(field_error(f"context.{name}", f"must be {kind}", "type_error"))
    selections = body.context.get("selections")
    if isinstance(selections, list) and not all(isinstance(s, str) for s in selections):
        errors.append(field_error("context.selections", "must be a list of strings", "type_error"))
    errors.extend(prefetching.check_shapes(prefetching.known(body.prefetch)))
    if errors:
        raise invalid_input(errors)
    drafts = body.context.get("draftOrders")
    if (
        "draftOrders" in service.required_context
        and isinstance(drafts, dict)
        and (
            drafts.get("resourceType") != "Bundle" or not isinstance(drafts.get("entry", []), list)
        )
    ):
        raise ApiError(
            400,
            "invalid_request",
            "context.draftOrders must be a FHIR Bundle of draft orders",
            [
                field_error(
                    "context.draftOrders.resourceType",
                    "must be Bundle",
                    "literal_error",
                    ["Bundle"],
                )
            ],
        )


def _facts_and_evidence(
    resources: list[dict[str, Any]],
) -> tuple[PatientFacts | None, list[FieldError], list[Any]]:
    """Facts, errors, and the facts read from report text (plan.TextEvidence)."""
    try:
        patient = from_resources(resources)
        return patient.facts, [], patient.text_evidence
    except FactsError as exc:
        return None, exc.errors, []


def _report_text_card(builder: CardBuilder, evidence: list[Any]) -> dict[str, Any]:
    """Say that the fracture came from report text, quoting each sentence."""
    lines = [f'- {e.resource}{f" ({e.date})" if e.date else ""}: "{e.sentence}"' for e in evidence]
    return builder.info_card(
        "Vertebral fracture read from a report, not coded",
        "The plan's fracture facts (levels, acuity) were read from report text:\n"
        + "\n".join(lines)
        + "\nConsider coding the fracture in the problem list.",
    )


def _note_text_card(builder: CardBuilder, evidence: list[Any]) -> dict[str, Any]:
    """Say which facts came from free-text notes (Condition.note, Observation.note)."""
    lines = [f'- {e.resource}: {", ".join(e.facts)} — "{e.sentence}"' for e in evidence]
    return builder.info_card(
        "Facts read from clinical notes, not coded",
        "These facts were read from free-text notes (coded data gave none):\n"
        + "\n".join(lines)
        + "\nCheck them with the patient's record.",
    )


def _run_hook(
    settings: Settings,
    http: httpx.Client,
    service: Service,
    body: HookRequest,
    caller: Caller,
    url: str,
) -> tuple[dict[str, Any], EventRecord]:
    """The cards, and the audit event that must be recorded before they are sent."""
    from vertebra.knowledge import load

    try:
        prefetch = prefetching.resolve(body, http, settings)
    except prefetching.PrefetchError as exc:
        raise ApiError(exc.status, exc.code, exc.message, exc.errors) from None
    try:
        resources = prefetch_to_resources({k: v for k, v in prefetch.items() if v is not None})
    except FactsError as exc:  # a malformed Bundle (entry "x", null entries …)
        raise invalid_input(exc.errors) from None
    check_counts(resources, settings, "prefetch")
    facts, errors, evidence = _facts_and_evidence(resources)
    kb = load()
    plan = make_plan(facts) if facts is not None else None
    if plan is not None and evidence:
        plan = plan.model_copy(update={"facts_from_text": evidence})
    builder = CardBuilder(plan, kb, url)
    patient_ref = f"Patient/{body.context['patientId']}"
    cards: list[dict[str, Any]] = []
    outcome = "ok"
    if facts is None:
        if not errors or any(e["type"] == NO_FRACTURE for e in errors):
            outcome = "not_applicable"  # no vertebral fracture recorded: nothing to say
        else:
            outcome = "insufficient_data"
            problems = [f"- {kb.label(e['field'])}: {e['message']}" for e in errors]
            cards.append(
                builder.info_card(
                    "Vertebral fracture: vertebra needs more facts to build a plan",
                    "These facts could not be read from the record:\n" + "\n".join(problems),
                )
            )
    elif service.hook == "patient-view":
        cards = builder.plan_cards(patient_ref, recommendation_to_resource)
        reports = [e for e in evidence if e.resource.split("/", 1)[0] in REPORT_TYPES]
        if reports:
            cards.append(_report_text_card(builder, reports))
        if notes := [e for e in evidence if e not in reports]:
            cards.append(_note_text_card(builder, notes))
    else:
        selections = body.context.get("selections") if service.hook == "order-select" else None
        for order in draft_orders(body.context["draftOrders"], selections):
            for drug in order.drugs:
                conflict = with_plan_verdict(drug_conflicts(kb, facts, drug), plan, drug)
                if conflict is not None:
                    cards.append(builder.order_card(order, conflict))
    event = EventRecord(
        caller=caller.label,
        hook=service.hook,
        service=service.id,
        hook_instance=body.hookInstance,
        input_kind="fhir",
        input_hash=input_hash({"context": body.context, "prefetch": prefetch}, settings),
        input_facts=stored_facts(facts, settings),
        knowledge_version=kb.version,
        outcome=outcome,
        pathway=plan.pathway if plan else None,
        recommendation_ids=[r.id for r in plan.recommendations] if plan else [],
        cards=builder.records,
    )
    log.info("hook %s: outcome=%s cards=%d", service.id, outcome, len(cards))
    return {"cards": cards}, event


@router.post(
    "/{service_id}/feedback",
    summary="Record what the clinician did with the cards (accepted / overridden)",
    responses=_AUTH_RESPONSES,
    openapi_extra=_FEEDBACK_BODY,
)
async def post_feedback(
    service_id: str,
    request: Request,
    state: Annotated[AppState, Depends(get_state)],
) -> dict[str, Any]:
    service = _service(service_id)
    url = endpoint_url(request, state)
    audiences = [url, url.removesuffix("/feedback")]
    caller = await authenticate_async(request, state, audiences)  # before parsing the body
    body = parse_body(FeedbackRequest, await request.body(), state.settings)
    return await run_in_threadpool(_record_feedback, state, service, body, caller)


def _record_feedback(
    state: AppState, service: Service, body: FeedbackRequest, caller: Caller
) -> dict[str, Any]:
    keep_comment = state.settings.audit_store_facts
    items = [
        FeedbackRecord(
            card_uuid=item.card,
            outcome=item.outcome,
            outcome_timestamp=item.outcomeTimestamp,
            accepted_suggestions=[s.id for s in item.acceptedSuggestions],
            override_reason=(
                item.overrideReason.reason.model_dump(exclude_none=True)
                if item.overrideReason and item.overrideReason.reason
                else None
            ),
            # Free text may identify the patient: kept only where raw facts are kept.
            user_comment=(
                item.overrideReason.userComment if keep_comment and item.overrideReason else None
            ),
        )
        for item in body.feedback
    ]
    count = state.store.record_feedback(service.id, caller.label, items)  # InputError: 422
    log.info("feedback %s: %d items", service.id, count)
    return {"recorded": count}
