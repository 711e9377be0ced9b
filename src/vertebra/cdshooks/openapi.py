"""OpenAPI additions for the CDS Hooks endpoints: the request bodies (validated in the route,
after authentication, so FastAPI does not see them)."""

from __future__ import annotations

from typing import Any


def extend(schema: dict[str, Any]) -> None:
    from vertebra.cdshooks.models import FeedbackRequest, HookRequest

    info = schema.setdefault("info", {})
    info.setdefault("x-cds-hooks-version", "2.0.1")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (HookRequest, FeedbackRequest):
        body = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(body.pop("$defs", {}))
        components[model.__name__] = body
