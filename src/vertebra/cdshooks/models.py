"""CDS Hooks 2.0 request and response bodies (validated; OpenAPI documents them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator


class FhirAuthorization(BaseModel):
    model_config = ConfigDict(extra="allow")

    access_token: str = Field(min_length=1)
    token_type: Literal["Bearer"]
    expires_in: int = Field(ge=0)
    scope: str
    subject: str
    patient: str | None = None


class HookRequest(BaseModel):
    """A CDS Hooks call."""

    model_config = ConfigDict(extra="allow")

    hook: str = Field(min_length=1)
    hookInstance: str = Field(min_length=1, max_length=64)
    fhirServer: str | None = Field(default=None, pattern=r"^https?://")
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _server_with_auth(self) -> HookRequest:
        if self.fhirAuthorization is not None and self.fhirServer is None:
            raise ValueError("fhirAuthorization is given, so fhirServer is required")
        return self


class Coding(BaseModel):
    model_config = ConfigDict(extra="allow")

    system: str | None = None
    code: str = Field(min_length=1)
    display: str | None = None


class OverrideReason(BaseModel):
    model_config = ConfigDict(extra="allow")

    reason: Coding | None = None
    userComment: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _not_empty(self) -> OverrideReason:
        # cds-fb-3: "overrideReason SHALL contain a reason and/or a userComment"
        if self.reason is None and not self.userComment:
            raise ValueError("overrideReason needs a reason or a userComment (cds-fb-3)")
        return self


class AcceptedSuggestion(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1)


class FeedbackItem(BaseModel):
    model_config = ConfigDict(extra="allow")

    card: str = Field(min_length=1, description="uuid of the card")
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] = Field(default_factory=list)
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: AwareDatetime = Field(
        description="ISO 8601 instant with a time zone (e.g. 2026-11-30T10:00:00Z)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> FeedbackItem:
        if self.outcome == "overridden" and self.acceptedSuggestions:
            raise ValueError("an overridden card has no accepted suggestions")
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("an accepted card needs acceptedSuggestions (cds-fb-2)")
        if self.outcome == "accepted" and self.overrideReason is not None:
            raise ValueError("an accepted card has no override reason")
        return self


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    feedback: list[FeedbackItem] = Field(min_length=1, max_length=100)


class CardsResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    cards: list[dict[str, Any]]
