"""The audit store: SQLAlchemy 2 over SQLite (default, zero set-up) or PostgreSQL.

The schema is created and upgraded by the Alembic migrations shipped inside this package
(:func:`upgrade`). Audit events, issued cards and card feedback are append-only: the migrations
install database triggers that refuse ``UPDATE`` and ``DELETE`` on them.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from importlib import resources
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any, NamedTuple

from alembic import command
from alembic.config import Config
from sqlalchemy import JSON, Engine, create_engine, delete, event, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

try:  # POSIX: serialise SQLite writers across processes with a blocking file lock
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from vertebra.errors import FieldError, InputError, field_error, require_extra
from vertebra.store import chain
from vertebra.store.ids import new_uuid
from vertebra.store.models import AuditEvent, Base, CardFeedback, IssuedCard, UsedJti

__all__ = [
    "AuditEvent",
    "Base",
    "CardFeedback",
    "CardRecord",
    "EventRecord",
    "FeedbackRecord",
    "IssuedCard",
    "JtiUse",
    "ReplayError",
    "Store",
    "UnknownCardError",
    "UsedJti",
    "make_engine",
    "upgrade",
]


log = logging.getLogger("vertebra.store")


class UnknownCardError(InputError):
    """Feedback names a card (or suggestion) this service never issued."""


class ReplayError(Exception):
    """The JWT id was already used (and has not expired): the call is a replay."""


class JtiUse(NamedTuple):
    """One use of a JWT id: remembered until ``expires_at`` (epoch seconds); ``now`` decides
    whether an earlier entry for the same id has expired."""

    iss: str
    jti: str
    expires_at: int
    now: int


def _sqlite_pragmas(dbapi_connection: Any, file: bool) -> None:
    cursor = dbapi_connection.cursor()
    if file:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def require_driver(url: str) -> None:
    """:class:`~vertebra.errors.MissingExtra` when ``url`` needs a driver that is an extra."""
    if make_url(url).get_backend_name() == "postgresql":
        require_extra("psycopg", "postgres", "a PostgreSQL database (VERTEBRA_DATABASE_URL)")


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and its parent folder created."""
    parsed = make_url(url)
    require_driver(url)
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
        _sqlite_pragmas(dbapi_connection, bool(database and database != ":memory:"))

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


class _SqliteWriter:
    """The per-call writes on a SQLite file: one connection of its own and prepared INSERTs.

    Every plan and hook call appends an audit event (and its cards) and, for an authenticated
    hook, its JWT id; this does all of it in one transaction with one commit, without the
    SQLAlchemy statement machinery (which cost more than the inserts themselves). Values are
    converted with the column types' own SQLAlchemy bind processors, so rows are stored exactly
    as the Core inserts stored them. The caller holds the :class:`WriteLock`, so one thread at a
    time uses the connection.

    Checkpoints: SQLite's automatic checkpoint runs inside the commit that crosses 1,000 WAL
    pages, copying the whole WAL back into the database while that call (and, through the
    write lock, every other writer) waits - milliseconds on the event loop, seen in the load
    test's tail. This connection's automatic checkpoint is set far higher (a safety net only);
    :class:`_Checkpointer` does the copying on a thread of its own instead.
    """

    #: Automatic checkpoint of the writer connection, in WAL pages: only if the checkpointer
    #: thread cannot keep up.
    AUTOCHECKPOINT_PAGES = 20_000

    def __init__(self, database: Path, engine: Engine) -> None:
        self.conn = sqlite3.connect(
            str(database), timeout=30, isolation_level=None, check_same_thread=False
        )
        _sqlite_pragmas(self.conn, file=True)
        self.conn.execute(f"PRAGMA wal_autocheckpoint={self.AUTOCHECKPOINT_PAGES}")
        dialect = engine.dialect
        event_columns = [c for c in AuditEvent.__table__.columns if c.name != "id"]
        card_columns = list(IssuedCard.__table__.columns)
        self.event_names = [c.name for c in event_columns]
        self.card_names = [c.name for c in card_columns]
        self.event_sql = _insert_sql("audit_events", self.event_names)
        self.card_sql = _insert_sql("issued_cards", self.card_names)
        self.event_processors = [_bind_processor(c, dialect) for c in event_columns]
        self.card_processors = [_bind_processor(c, dialect) for c in card_columns]
        self.writes = 0  # committed transactions, read by the checkpointer

    def write(
        self, jti: JtiUse | None, event: dict[str, Any] | None, cards: list[dict[str, Any]]
    ) -> None:
        """In one transaction: remember ``jti`` (:class:`ReplayError` if it was used), append
        ``event`` and its ``cards`` (their ``event_id`` is filled in)."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if jti is not None:
                _sqlite_use_jti(conn, jti)
            if event is not None:
                last = conn.execute(_LAST_HASH_SQL).fetchone()
                event = chained(event, last[0] if last else None)
                cursor = conn.execute(
                    self.event_sql, _row(event, self.event_names, self.event_processors)
                )
                if cards:
                    event_id = cursor.lastrowid
                    names, processors = self.card_names, self.card_processors
                    rows = []
                    for card in cards:  # the store's own dicts (record_event): filled in place
                        card["event_id"] = event_id
                        rows.append(_row(card, names, processors))
                    conn.executemany(self.card_sql, rows)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.writes += 1

    def close(self) -> None:
        self.conn.close()


_LAST_HASH_SQL = (
    "SELECT event_hash FROM audit_events WHERE event_hash IS NOT NULL ORDER BY id DESC LIMIT 1"
)
#: PostgreSQL: one chain writer at a time, across processes (released at commit).
_PG_CHAIN_LOCK = "SELECT pg_advisory_xact_lock(7268301451)"


def chained(row: dict[str, Any], prev_hash: str | None) -> dict[str, Any]:
    """``row`` with its place in the hash chain (:mod:`vertebra.store.chain`)."""
    prev = prev_hash or chain.GENESIS
    return {**row, "prev_hash": prev, "event_hash": chain.event_hash(prev, row)}


def _insert_sql(table: str, names: list[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"


def _bind_processor(column: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """The column type's SQLAlchemy bind processor; for a JSON column, with a shortcut for the
    lists of strings that most of them hold (ids, uuids)."""
    process: Callable[[Any], Any] | None = column.type.dialect_impl(dialect).bind_processor(dialect)
    if process is None or not isinstance(column.type, JSON):
        return process
    return partial(_json_value, process)


def _json_value(process: Callable[[Any], Any], value: Any) -> Any:
    """``process(value)`` (SQLAlchemy's JSON bind processor: ``json.dumps``), with the same text
    built directly for a list of strings: ``json.dumps`` writes ``["a", "b"]`` with
    ``encode_basestring_ascii`` for each string, at several times the cost
    (tests/store/test_json_shortcut.py compares the two)."""
    if type(value) is list and all(type(v) is str for v in value):
        return "[" + ", ".join(map(encode_basestring_ascii, value)) + "]"
    return process(value)


def _row(values: dict[str, Any], names: list[str], processors: list[Any]) -> tuple[Any, ...]:
    return tuple(
        [
            values[n] if process is None else process(values[n])
            for n, process in zip(names, processors, strict=True)
        ]
    )


def _sqlite_use_jti(conn: sqlite3.Connection, use: JtiUse) -> None:
    try:
        conn.execute(
            "INSERT INTO used_jti (iss, jti, expires_at) VALUES (?, ?, ?)",
            (use.iss, use.jti, use.expires_at),
        )
    except sqlite3.IntegrityError:
        row = conn.execute(
            "SELECT expires_at FROM used_jti WHERE iss = ? AND jti = ?", (use.iss, use.jti)
        ).fetchone()
        if row is None or row[0] >= use.now:
            raise ReplayError(use.jti) from None
        # An expired entry that was never pruned: the token itself is expired too, so this
        # cannot be a valid replay; refresh it.
        conn.execute(
            "UPDATE used_jti SET expires_at = ? WHERE iss = ? AND jti = ?",
            (use.expires_at, use.iss, use.jti),
        )


class _Checkpointer:
    """Copies the SQLite WAL back into the database on a thread of its own.

    Every ``interval`` seconds, when there were writes: a PASSIVE checkpoint without the write
    lock (the bulk of the copying; writers go on appending meanwhile, and sqlite3 releases the
    GIL), then a second one under the write lock for the few pages appended meanwhile, so that
    the WAL is completely checkpointed and the next writer starts it again from the beginning
    (otherwise it would only grow under constant load). ``synchronous=NORMAL`` makes both fsync
    the database as usual: nothing committed is put at risk.
    """

    def __init__(
        self, database: Path, writer: _SqliteWriter, lock: WriteLock, interval: float = 0.5
    ) -> None:
        self._database = database
        self._writer = writer
        self._lock = lock
        self._interval = interval
        self._stop = threading.Event()
        self.done = 0  # checkpoints completed
        self._thread = threading.Thread(target=self._run, name="vertebra-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(
            str(self._database), timeout=5, isolation_level=None, check_same_thread=False
        )
        try:
            seen = self._writer.writes
            while not self._stop.wait(self._interval):
                writes = self._writer.writes
                if writes == seen:
                    continue
                seen = writes
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    with self._lock.hold():
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.done += 1
                except sqlite3.Error as exc:  # the writer's own autocheckpoint is the fallback
                    log.warning("SQLite checkpoint failed: %s", exc)
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


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
        # A SQLite file: per-call writes through a connection of their own (_SqliteWriter),
        # WAL checkpoints on a thread (_Checkpointer). PostgreSQL and in-memory SQLite use Core.
        self._sqlite: _SqliteWriter | None = None
        self._checkpointer: _Checkpointer | None = None
        if database is not None:
            self._sqlite = _SqliteWriter(database, self.engine)
            self._checkpointer = _Checkpointer(database, self._sqlite, self._write)

    @property
    def checkpoints(self) -> int:
        """WAL checkpoints done by this store's checkpoint thread (SQLite file only)."""
        return self._checkpointer.done if self._checkpointer is not None else 0

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        return self._sessions()

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        if self._sqlite is not None:
            with self._write.hold():
                self._sqlite.close()
            self._sqlite = None
        self.engine.dispose()
        self._write.close()

    def record_event(self, record: EventRecord, jti: JtiUse | None = None) -> str:
        """Append one audit event (and its cards) in one transaction; returns its uuid.

        With ``jti``, the JWT id is remembered in the same transaction (on a SQLite file) or
        just before it (PostgreSQL, in-memory SQLite); :class:`ReplayError`, and nothing is
        recorded, when it was already used."""
        event_uuid = new_uuid()
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
        cards = [
            {
                "card_uuid": card.uuid,
                "service": record.service or record.hook,
                "recommendation_id": card.recommendation_id,
                "suggestion_uuids": list(card.suggestion_uuids),
            }
            for card in record.cards
        ]
        if self._sqlite is not None:
            with self._write.hold():
                self._sqlite.write(jti, row, cards)
            return event_uuid
        if jti is not None and not self.use_jti(*jti):
            raise ReplayError(jti.jti)
        # Core statements, not the ORM unit of work: this runs on every call.
        with self._write.hold(), self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text(_PG_CHAIN_LOCK))
            last = conn.execute(text(_LAST_HASH_SQL)).scalar()
            result = conn.execute(insert(AuditEvent), chained(row, last))
            if cards:
                (event_id,) = result.inserted_primary_key or (None,)
                conn.execute(insert(IssuedCard), [{**c, "event_id": event_id} for c in cards])
        return event_uuid

    def record_feedback(self, service: str, caller: str, items: Sequence[FeedbackRecord]) -> int:
        """Append feedback on issued cards: all items or none (unknown cards are refused)."""
        with self._write.hold(), self._sessions.begin() as session:
            errors: list[FieldError] = []
            for index, item in enumerate(items):
                card = session.get(IssuedCard, item.card_uuid)
                if card is None or card.service != service:
                    message = f"no card {item.card_uuid!r} was issued by {service}"
                    errors.append(field_error(f"feedback[{index}].card", message, "unknown_card"))
                    continue
                for j, suggestion in enumerate(item.accepted_suggestions):
                    if suggestion not in card.suggestion_uuids:
                        where = f"feedback[{index}].acceptedSuggestions[{j}].id"
                        message = f"card {item.card_uuid!r} has no suggestion {suggestion!r}"
                        errors.append(field_error(where, message, "unknown_suggestion"))
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
        if self._sqlite is not None:
            try:
                with self._write.hold():
                    self._sqlite.write(JtiUse(iss, jti, expires_at, now), None, [])
            except ReplayError:
                return False
            return True
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

    def verify_chain(self, batch: int = 1000) -> chain.ChainReport:
        """Recompute the audit events' hash chain (``vertebra audit verify``)."""
        columns = [
            AuditEvent.__table__.c[n] for n in ("id", *chain.FIELDS, "prev_hash", "event_hash")
        ]

        def rows() -> Iterator[dict[str, Any]]:
            last = 0
            with self.engine.connect() as conn:
                while True:
                    got = (
                        conn.execute(
                            select(*columns)
                            .where(AuditEvent.id > last)
                            .order_by(AuditEvent.id)
                            .limit(batch)
                        )
                        .mappings()
                        .all()
                    )
                    if not got:
                        return
                    for row in got:
                        yield dict(row)
                    last = got[-1]["id"]

        return chain.verify(rows())
