"""``POST /api/ask`` (docs/contract.md §5): body ``{"question": "…"}``, answer as
``vertebra ask --format json``. Invalid input is HTTP 422 with the API's one error shape, naming
``question``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from vertebra.ask.core import answer
from vertebra.ask.model import MAX_QUESTION_CHARS, Answer
from vertebra.errors import InputError
from vertebra.http.errors import ERROR_RESPONSES

router = APIRouter(prefix="/api", tags=["api"])


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(
        min_length=1,
        max_length=MAX_QUESTION_CHARS,
        description="A clinician's question, e.g. 'What referrals are needed for an L2 fracture?'",
    )


@router.post(
    "/ask",
    summary="Answer a clinician's question from the knowledge base, with citations",
    description=(
        'Body: `{"question": "…"}` (1 to `VERTEBRA_MAX_QUESTION_CHARS` characters, default '
        "1,000). Answer: the same JSON as "
        "`vertebra ask QUESTION --format json` — `answer` (Markdown), `citations` (source ids "
        "in footnote order), `intent`, `mode`, `covered`, `facts`, `plan`, `matches`."
    ),
    response_model=Answer,
    responses=ERROR_RESPONSES,
)
def post_ask(body: Annotated[AskRequest, Body()], request: Request) -> Any:
    limit = request.app.state.vertebra.settings.max_question_chars
    if len(body.question) > limit:  # capped here, before the reader sees it
        raise InputError.one(
            "question",
            f"is too long ({len(body.question)} characters; at most {limit}, "
            "VERTEBRA_MAX_QUESTION_CHARS)",
            "string_too_long",
        )  # HTTP 422 (vertebra.http.app)
    result = answer(body.question)  # AskError (an InputError): HTTP 422 (vertebra.http.app)
    return Response(result.to_json(), media_type="application/json")
