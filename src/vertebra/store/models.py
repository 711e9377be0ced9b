"""Tables of the audit store. Audit rows are append-only (database triggers refuse changes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class AuditEvent(Base):
    """One plan or hook call: who, when, which hook, a hash of the input, what was advised."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_uuid: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    caller: Mapped[str] = mapped_column(String(512), nullable=False)
    hook: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    service: Mapped[str | None] = mapped_column(String(128))
    hook_instance: Mapped[str | None] = mapped_column(String(64))
    input_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    input_hash: Mapped[str] = mapped_column(String(80), nullable=False)
    input_facts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    knowledge_version: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32), nullable=False)
    pathway: Mapped[str | None] = mapped_column(String(32))
    recommendation_ids: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    card_uuids: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    #: hash chain (vertebra.store.chain); None on events from before revision 0002
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    event_hash: Mapped[str | None] = mapped_column(String(64))


class IssuedCard(Base):
    """A card returned by a hook call, so that feedback can be tied to the call."""

    __tablename__ = "issued_cards"

    card_uuid: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("audit_events.id"), nullable=False)
    service: Mapped[str] = mapped_column(String(128), nullable=False)
    recommendation_id: Mapped[str | None] = mapped_column(String(128))
    suggestion_uuids: Mapped[list[str]] = mapped_column(JSON, nullable=False)


class CardFeedback(Base):
    """What the clinician did with a card: accepted (which suggestion) or overridden (why)."""

    __tablename__ = "card_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    caller: Mapped[str] = mapped_column(String(512), nullable=False)
    service: Mapped[str] = mapped_column(String(128), nullable=False)
    card_uuid: Mapped[str] = mapped_column(
        ForeignKey("issued_cards.card_uuid"), nullable=False, index=True
    )
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    accepted_suggestions: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    override_reason: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    user_comment: Mapped[str | None] = mapped_column(Text)
    outcome_timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class UsedJti(Base):
    """JWT ids already seen, kept until the token expires (replay protection)."""

    __tablename__ = "used_jti"

    iss: Mapped[str] = mapped_column(String(512), primary_key=True)
    jti: Mapped[str] = mapped_column(String(256), primary_key=True)
    expires_at: Mapped[int] = mapped_column(Integer, nullable=False, index=True)
