"""The one JSON error shape of every vertebra HTTP answer that is not a success.

.. code-block:: json

    {"error": "invalid_input", "message": "2 invalid fields: age, sex",
     "errors": [{"field": "age", "message": "…", "type": "greater_than_equal"},
                {"field": "sex", "message": "…", "type": "literal_error",
                 "allowed": ["female", "male"]}]}

``errors`` lists every offending field (empty when the problem is not about a field).
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from vertebra.errors import BODY, FieldError, field_error


class ErrorBody(BaseModel):
    error: str = Field(description="Machine-readable error code")
    message: str
    errors: list[FieldError] = Field(
        default_factory=list,
        description="Every offending field: `field` (path, e.g. `fracture_levels[1]`), "
        "`message`, `type`, and `allowed` values when they are listed",
    )


class ApiError(Exception):
    """Raise anywhere in a request to answer with the error shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors or []
        self.headers = headers


def invalid_input(errors: list[FieldError]) -> ApiError:
    """HTTP 422 naming every offending field."""
    fields = list(dict.fromkeys(e["field"] for e in errors))
    noun = "field" if len(fields) == 1 else "fields"
    return ApiError(
        422, "invalid_input", f"{len(errors)} invalid {noun}: {', '.join(fields)}", errors
    )


def validation_errors(exc: Any) -> list[FieldError]:
    """A pydantic / FastAPI validation error as the error shape's ``errors`` (no input values:
    they may hold patient data)."""
    errors: list[FieldError] = []
    for item in exc.errors():
        loc = [p for p in item.get("loc", ()) if p not in ("body", "query", "path")]
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        message, kind = str(item.get("msg", "")), str(item.get("type", "invalid"))
        errors.append(field_error(field or BODY, message, kind))
    return errors


def error_response(
    status: int,
    code: str,
    message: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"error": code, "message": message, "errors": errors or []}
    return JSONResponse(body, status_code=status, headers=headers)


#: OpenAPI ``responses`` entries for the error shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "Invalid input: every offending field is named"},
    413: {"model": ErrorBody, "description": "Request body too large"},
}
