"""Answers to clinicians' questions, from the knowledge base only, with numbered citations.

``answer(question)`` reads patient details from the question into partial facts, runs the plan
engine and answers from the plan; questions about a fact are answered by retrieval over the
knowledge base's statements; anything else is reported as not covered. ``router`` is the FastAPI
router with ``POST /api/ask`` (imported on first use).
"""

from __future__ import annotations

from typing import Any

from vertebra.ask.core import answer, validate_question
from vertebra.ask.model import MAX_QUESTION_CHARS, Answer, AskError, AskFacts, Match
from vertebra.ask.render import to_text

__all__ = [
    "MAX_QUESTION_CHARS",
    "Answer",
    "AskError",
    "AskFacts",
    "Match",
    "answer",
    "router",
    "to_text",
    "validate_question",
]


def __getattr__(name: str) -> Any:
    if name == "router":
        from vertebra.ask.routes import router

        return router
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
