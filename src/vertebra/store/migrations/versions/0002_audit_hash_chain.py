"""Audit events carry a hash chain; REPLACE cannot overwrite append-only rows.

Each new audit event stores ``prev_hash`` (the previous event's ``event_hash``, or 64 zeros for
the first) and ``event_hash`` = SHA-256 over ``prev_hash`` and the event's canonical JSON
(:func:`vertebra.store.chain.event_hash`). ``vertebra audit verify`` recomputes the chain.
Events written before this revision have no hash (reported by ``verify`` as unchained).

SQLite: ``INSERT OR REPLACE`` / ``REPLACE INTO`` deletes the conflicting row without firing the
DELETE triggers (unless ``recursive_triggers`` is on, in the connection that does it); a BEFORE
INSERT trigger refuses an insert that would collide with an existing row instead. PostgreSQL
has no REPLACE; ``INSERT … ON CONFLICT DO UPDATE`` fires the existing BEFORE UPDATE trigger.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: table -> the columns whose collision a REPLACE would resolve by deleting the old row
KEYS = {
    "audit_events": ("id", "event_uuid"),
    "issued_cards": ("card_uuid",),
    "card_feedback": ("id",),
}


def upgrade() -> None:
    with op.batch_alter_table("audit_events", recreate="never") as batch:
        batch.add_column(sa.Column("prev_hash", sa.String(64)))
        batch.add_column(sa.Column("event_hash", sa.String(64)))
    if op.get_bind().dialect.name == "sqlite":
        for table, keys in KEYS.items():
            clash = " OR ".join(f"{k} = NEW.{k}" for k in keys)
            op.execute(
                f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
                f"WHEN EXISTS (SELECT 1 FROM {table} WHERE {clash}) "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in KEYS:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_replace")
    with op.batch_alter_table("audit_events", recreate="never") as batch:
        batch.drop_column("event_hash")
        batch.drop_column("prev_hash")
