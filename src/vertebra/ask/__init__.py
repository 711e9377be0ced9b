"""Answers to clinicians' questions, from the knowledge base only, with numbered citations.

``answer(question)`` reads patient details from the question into partial facts, runs the plan
engine and answers from the plan; questions about a fact are answered by retrieval over the
knowledge base's statements; anything else is reported as not covered. The HTTP endpoint is
:mod:`vertebra.http.routers.ask`.
"""

from __future__ import annotations

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
    "to_text",
    "validate_question",
]
