"""The one error model for bad input, from every layer to the CLI, the HTTP 422 and the web form.

A :class:`FieldError` names *where* (``field``: a path such as ``fracture_levels[1]`` or
``context.patientId``; ``(body)`` for the input as a whole), *what* (``message``, ``type``) and,
for a closed vocabulary, the ``allowed`` values. It is a ``TypedDict``: what the layers pass
around is exactly the JSON the API answers with, and mypy checks every key.

:class:`InputError` carries a list of them. Its subclasses (:class:`~vertebra.facts.FactsError`,
:class:`~vertebra.ask.AskError`, :class:`~vertebra.store.UnknownCardError`) only say where the
error came from: the CLI exits with code 2, the HTTP layer answers 422 and the web form shows
each message next to its field, all from ``errors``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NotRequired, Self

from typing_extensions import TypedDict  # pydantic needs it for a TypedDict on Python 3.11

BODY = "(body)"
#: ``type`` of the error when a record holds no vertebral fracture at all: the CDS Hooks services
#: answer "not applicable" rather than "insufficient data".
NO_FRACTURE = "no_vertebral_fracture"


class FieldError(TypedDict):
    """One offending field: location, message, error type and (when listed) allowed values."""

    field: str
    message: str
    type: str
    allowed: NotRequired[list[str]]


def field_error(
    field: str, message: str, type: str = "value_error", allowed: Iterable[str] | None = None
) -> FieldError:
    """A :class:`FieldError`; ``allowed`` is left out when not given."""
    error = FieldError(field=field, message=message, type=type)
    if allowed is not None:
        error["allowed"] = list(allowed)
    return error


class InputError(ValueError):
    """Bad input. ``errors`` names every offending field (at least one)."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__(describe(errors))

    @classmethod
    def one(
        cls,
        field: str,
        message: str,
        type: str = "value_error",
        allowed: Iterable[str] | None = None,
    ) -> Self:
        return cls([field_error(field, message, type, allowed)])


def describe(errors: Iterable[FieldError]) -> str:
    """``field: message; field: message (allowed: a, b)`` - the CLI's one-line form."""
    parts = []
    for e in errors:
        text = f"{e['field']}: {e['message']}"
        if e.get("allowed"):
            text += " (allowed: " + ", ".join(e["allowed"]) + ")"
        parts.append(text)
    return "; ".join(parts)


class MissingExtra(Exception):
    """A feature needs an optional dependency group (``pip install 'vertebra[NAME]'``) that is
    not installed. The CLI prints the message alone and exits with code 2."""

    def __init__(self, feature: str, extra: str) -> None:
        self.feature = feature
        self.extra = extra
        super().__init__(f"{feature} needs the '{extra}' extra: pip install 'vertebra[{extra}]'")


def require_extra(module: str, extra: str, feature: str) -> None:
    """Raise :class:`MissingExtra` unless the third-party ``module`` can be imported."""
    from importlib.util import find_spec

    if find_spec(module) is None:
        raise MissingExtra(feature, extra)
