"""Audit store: audit events, issued cards, card feedback (append-only), used JWT ids.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("audit_events", "issued_cards", "card_feedback")


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_uuid", sa.String(36), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("caller", sa.String(512), nullable=False),
        sa.Column("hook", sa.String(64), nullable=False),
        sa.Column("service", sa.String(128)),
        sa.Column("hook_instance", sa.String(64)),
        sa.Column("input_kind", sa.String(16), nullable=False),
        sa.Column("input_hash", sa.String(80), nullable=False),
        sa.Column("input_facts", sa.JSON),
        sa.Column("knowledge_version", sa.String(64)),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("pathway", sa.String(32)),
        sa.Column("recommendation_ids", sa.JSON, nullable=False),
        sa.Column("card_uuids", sa.JSON, nullable=False),
    )
    op.create_index("ix_audit_events_hook", "audit_events", ["hook"])
    op.create_table(
        "issued_cards",
        sa.Column("card_uuid", sa.String(64), primary_key=True),
        sa.Column("event_id", sa.Integer, sa.ForeignKey("audit_events.id"), nullable=False),
        sa.Column("service", sa.String(128), nullable=False),
        sa.Column("recommendation_id", sa.String(128)),
        sa.Column("suggestion_uuids", sa.JSON, nullable=False),
    )
    op.create_table(
        "card_feedback",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("caller", sa.String(512), nullable=False),
        sa.Column("service", sa.String(128), nullable=False),
        sa.Column(
            "card_uuid", sa.String(64), sa.ForeignKey("issued_cards.card_uuid"), nullable=False
        ),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("accepted_suggestions", sa.JSON, nullable=False),
        sa.Column("override_reason", sa.JSON),
        sa.Column("user_comment", sa.Text),
        sa.Column("outcome_timestamp", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_card_feedback_card_uuid", "card_feedback", ["card_uuid"])
    op.create_table(
        "used_jti",
        sa.Column("iss", sa.String(512), primary_key=True),
        sa.Column("jti", sa.String(256), primary_key=True),
        sa.Column("expires_at", sa.Integer, nullable=False),
    )
    op.create_index("ix_used_jti_expires_at", "used_jti", ["expires_at"])

    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            """
            CREATE FUNCTION vertebra_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
            END $$
            """
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION vertebra_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION vertebra_append_only()"
            )
    elif dialect == "sqlite":
        for table in APPEND_ONLY:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS vertebra_append_only()")
    op.drop_table("used_jti")
    op.drop_table("card_feedback")
    op.drop_table("issued_cards")
    op.drop_table("audit_events")
