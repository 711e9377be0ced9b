"""The answer to a question (``vertebra ask``, ``POST /api/ask``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vertebra.errors import InputError, field_error
from vertebra.plan import Plan

MAX_QUESTION_CHARS = 2000

Mode = Literal["patient", "fact", "not_covered"]


class AskError(InputError):
    """Invalid question: ``errors`` names the field ``question``."""

    def __init__(self, message: str, kind: str = "value_error") -> None:
        super().__init__([field_error("question", message, kind)])


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AskFacts(_Out):
    """The patient facts used for the plan: read from the question, or assumed (and said so)."""

    extracted: dict[str, Any] = Field(description="Facts stated in the question")
    evidence: dict[str, str] = Field(description="Fact -> the words of the question it came from")
    assumed: dict[str, Any] = Field(
        description="Facts assumed to run the plan (stated in the answer)"
    )
    assumptions: list[str] = Field(description="The assumptions, as stated in the answer")
    ranges: dict[str, list[int]] = Field(
        default_factory=dict,
        description="Facts given as a range ('in her 80s': age [80, 89]); the plan is checked "
        "at both ends",
    )
    unreadable: dict[str, str] = Field(
        default_factory=dict,
        description="Facts present in the question that could not be read (fact -> the words)",
    )


class Match(_Out):
    """A knowledge-base statement retrieved for the question."""

    id: str
    kind: str = Field(description="row, safety, conflict, position or derived")
    title: str
    text: str
    citations: list[str]
    score: float


class Answer(_Out):
    question: str
    answer: str = Field(description="The answer as Markdown, with numbered citations")
    citations: list[str] = Field(description="Source ids in footnote order")
    intent: str
    mode: Mode
    covered: bool
    facts: AskFacts | None = None
    plan: Plan | None = None
    matches: list[Match] = Field(default_factory=list)
    knowledge_version: str

    def to_json(self) -> str:
        return self.model_dump_json(indent=2)
