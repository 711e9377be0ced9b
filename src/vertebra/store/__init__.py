"""The audit store: SQLAlchemy 2 over SQLite (default, zero set-up) or PostgreSQL.

The schema is created and upgraded by the Alembic migrations shipped inside this package
(:func:`upgrade`). Audit events, issued cards and card feedback are append-only: the migrations
install database triggers that refuse ``UPDATE`` and ``DELETE`` on them.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, delete, event, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

try:  # POSIX: serialise SQLite writers across processes with a blocking file lock
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from vertebra.store.models import AuditEvent, Base, CardFeedback, IssuedCard, UsedJti

__all__ = [
    "AuditEvent",
    "Base",
    "CardFeedback",
    "CardRecord",
    "EventRecord",
    "FeedbackRecord",
    "IssuedCard",
    "Store",
    "UnknownCardError",
    "UsedJti",
    "make_engine",
    "upgrade",
]


class UnknownCardError(LookupError):
    """Feedback names a card (or suggestion) this service never issued."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and its parent folder created."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    database = parsed.database
    if not database or database == ":memory:":
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=10,
            max_overflow=20,
        )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if database and database != ":memory:":
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration pointing at the migrations shipped in this package."""
    cfg = Config()
    cfg.set_main_option(
        "script_location", str(resources.files("vertebra.store").joinpath("migrations"))
    )
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade the schema to ``revision`` (idempotent)."""
    with engine.begin() as connection:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    with engine.begin() as connection:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)


class WriteLock:
    """One writer at a time on a SQLite file, across the threads and processes of the server.

    SQLite allows a single writer; a second one gets ``SQLITE_BUSY`` and its busy handler
    *sleeps* (1, 2, 5, 10 … ms) before it retries - on the event loop, under load, that
    sleeping is what the latency percentiles showed. A blocking ``flock`` on a lock file next to
    the database queues the writers instead and wakes the next one as soon as the lock is
    released (a write transaction holds it for well under a millisecond). PostgreSQL and
    in-memory SQLite need no lock (``path`` None).
    """

    def __init__(self, path: Path | None) -> None:
        self._thread = threading.Lock()
        self._fd: int | None = None
        if path is not None and fcntl is not None:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._thread:
            fd = self._fd
            if fd is None:
                yield
                return
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._thread:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None  # URI file names: leave them to SQLite's own locking
    return Path(database).expanduser()


@dataclass(frozen=True)
class CardRecord:
    uuid: str
    recommendation_id: str | None
    suggestion_uuids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EventRecord:
    """What one plan/hook call leaves in the audit trail."""

    caller: str
    hook: str
    input_kind: str
    input_hash: str
    outcome: str
    knowledge_version: str | None = None
    service: str | None = None
    hook_instance: str | None = None
    input_facts: dict[str, Any] | None = None
    pathway: str | None = None
    recommendation_ids: list[str] = field(default_factory=list)
    cards: list[CardRecord] = field(default_factory=list)


@dataclass(frozen=True)
class FeedbackRecord:
    card_uuid: str
    outcome: str
    outcome_timestamp: datetime
    accepted_suggestions: list[str] = field(default_factory=list)
    override_reason: dict[str, Any] | None = None
    user_comment: str | None = None


class Store:
    """Append-only audit trail and JWT replay cache over one database."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        database = _sqlite_file(url)
        self._write = WriteLock(
            database.with_name(database.name + ".writelock") if database is not None else None
        )
        if migrate:
            with self._write.hold():
                upgrade(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        return self._sessions()

    def close(self) -> None:
        self.engine.dispose()
        self._write.close()

    def record_event(self, record: EventRecord) -> str:
        """Append one audit event (and its cards) in one transaction; returns its uuid."""
        event_uuid = str(uuid.uuid4())
        row = {
            "event_uuid": event_uuid,
            "created_at": datetime.now(UTC),
            "caller": record.caller,
            "hook": record.hook,
            "service": record.service,
            "hook_instance": record.hook_instance,
            "input_kind": record.input_kind,
            "input_hash": record.input_hash,
            "input_facts": record.input_facts,
            "knowledge_version": record.knowledge_version,
            "outcome": record.outcome,
            "pathway": record.pathway,
            "recommendation_ids": list(record.recommendation_ids),
            "card_uuids": [c.uuid for c in record.cards],
        }
        # Core statements, not the ORM unit of work: this runs on every call.
        with self._write.hold(), self.engine.begin() as conn:
            result = conn.execute(insert(AuditEvent), row)
            if record.cards:
                (event_id,) = result.inserted_primary_key or (None,)
                conn.execute(
                    insert(IssuedCard),
                    [
                        {
                            "card_uuid": card.uuid,
                            "event_id": event_id,
                            "service": record.service or record.hook,
                            "recommendation_id": card.recommendation_id,
                            "suggestion_uuids": list(card.suggestion_uuids),
                        }
                        for card in record.cards
                    ],
                )
        return event_uuid

    def record_feedback(self, service: str, caller: str, items: Sequence[FeedbackRecord]) -> int:
        """Append feedback on issued cards: all items or none (unknown cards are refused)."""
        with self._write.hold(), self._sessions.begin() as session:
            errors: list[dict[str, Any]] = []
            for index, item in enumerate(items):
                card = session.get(IssuedCard, item.card_uuid)
                if card is None or card.service != service:
                    errors.append(
                        {
                            "field": f"feedback[{index}].card",
                            "message": f"no card {item.card_uuid!r} was issued by {service}",
                            "type": "unknown_card",
                        }
                    )
                    continue
                for j, suggestion in enumerate(item.accepted_suggestions):
                    if suggestion not in card.suggestion_uuids:
                        errors.append(
                            {
                                "field": f"feedback[{index}].acceptedSuggestions[{j}].id",
                                "message": f"card {item.card_uuid!r} has no suggestion "
                            f"{suggestion!r}",
                                "type": "unknown_suggestion",
                            }
                        )
            if errors:
                raise UnknownCardError(errors)
            now = datetime.now(UTC)
            session.add_all(
                CardFeedback(
                    created_at=now,
                    caller=caller,
                    service=service,
                    card_uuid=item.card_uuid,
                    outcome=item.outcome,
                    accepted_suggestions=list(item.accepted_suggestions),
                    override_reason=item.override_reason,
                    user_comment=item.user_comment,
                    outcome_timestamp=item.outcome_timestamp,
                )
                for item in items
            )
        return len(items)

    def use_jti(self, iss: str, jti: str, expires_at: int, now: int) -> bool:
        """Remember a JWT id until it expires; False if it was already used (a replay)."""
        try:
            with self._write.hold(), self.engine.begin() as conn:
                conn.execute(insert(UsedJti), {"iss": iss, "jti": jti, "expires_at": expires_at})
        except IntegrityError:
            with self._write.hold(), self._sessions.begin() as session:
                stale = session.get(UsedJti, (iss, jti))
                if stale is None or stale.expires_at >= now:
                    return False
                # An expired entry that was never pruned: the token itself is expired too, so
                # this cannot be a valid replay; refresh it.
                stale.expires_at = expires_at
            return True
        return True

    def prune_jti(self, now: int) -> int:
        with self._write.hold(), self._sessions.begin() as session:
            result = session.execute(delete(UsedJti).where(UsedJti.expires_at < now))
            return int(getattr(result, "rowcount", 0) or 0)

    def events(self, limit: int = 100) -> list[AuditEvent]:
        with self._sessions() as session:
            rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit))
            return list(rows)

    def feedback(self, limit: int = 100) -> list[CardFeedback]:
        with self._sessions() as session:
            rows = session.scalars(
                select(CardFeedback).order_by(CardFeedback.id.desc()).limit(limit)
            )
            return list(rows)
