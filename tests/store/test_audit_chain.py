"""The audit trail is tamper-evident (issue 14, item 11): a hash chain over the events that
`vertebra audit verify` checks, on SQLite and PostgreSQL; REPLACE cannot overwrite rows."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from vertebra.cli import app
from vertebra.store import CardRecord, EventRecord, Store

EVENT = EventRecord(
    caller="api",
    hook="api.plan",
    input_kind="facts",
    input_hash="sha256:ab",
    outcome="ok",
    knowledge_version="k1",
    pathway="stable",
    recommendation_ids=["refer-fls"],
    cards=[CardRecord("card-1", "refer-fls")],
)


def _fill(store: Store, n: int = 5) -> None:
    for i in range(n):
        store.record_event(
            replace(EVENT, cards=[CardRecord(f"card-{i}", "refer-fls")], input_hash=f"sha256:{i}")
        )


def _drop_triggers(store: Store) -> None:
    """What an attacker with write access to the database would do first."""
    with store.engine.begin() as conn:
        if store.dialect == "sqlite":
            for (name,) in conn.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            ).all():
                conn.execute(text(f"DROP TRIGGER {name}"))
        else:
            for table in ("audit_events", "issued_cards", "card_feedback"):
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))


def test_chain_verifies_and_cli_says_ok(database_url: str) -> None:
    store = Store(database_url)
    try:
        _fill(store)
        report = store.verify_chain(batch=2)
        assert report.ok and report.checked == 5
    finally:
        store.close()
    result = CliRunner().invoke(app, ["audit", "verify", "--database-url", database_url])
    assert result.exit_code == 0, result.output
    assert "5 events verified" in result.output


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE audit_events SET outcome = 'not_applicable' WHERE id = 3",
        "DELETE FROM audit_events WHERE id = 3",
        "UPDATE audit_events SET pathway = 'unstable', event_hash = event_hash WHERE id = 2",
    ],
)
def test_tampering_breaks_the_chain(database_url: str, tamper: str) -> None:
    store = Store(database_url)
    try:
        _fill(store)
        _drop_triggers(store)
        with store.engine.begin() as conn:
            if "DELETE" in tamper:
                conn.execute(text("DELETE FROM issued_cards WHERE event_id = 3"))
            conn.execute(text(tamper))
        report = store.verify_chain()
        assert not report.ok
        assert report.broken_at in (2, 3, 4)
    finally:
        store.close()
    result = CliRunner().invoke(app, ["audit", "verify", "--database-url", database_url])
    assert result.exit_code == 1
    assert "BROKEN at event id" in result.output


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT OR REPLACE INTO audit_events (id, event_uuid, created_at, caller, hook, "
        "input_kind, input_hash, outcome, recommendation_ids, card_uuids) SELECT id, event_uuid, "
        "created_at, 'someone else', hook, input_kind, input_hash, outcome, recommendation_ids, "
        "card_uuids FROM audit_events WHERE id = 1",
        "REPLACE INTO issued_cards (card_uuid, event_id, service, suggestion_uuids) "
        "VALUES ('card-0', 1, 'x', '[]')",
        "INSERT INTO audit_events (id, event_uuid, created_at, caller, hook, input_kind, "
        "input_hash, outcome, recommendation_ids, card_uuids) VALUES (1, 'e', '2026-01-01', "
        "'x', 'h', 'facts', 'h', 'ok', '[]', '[]') ON CONFLICT(id) DO UPDATE SET caller = 'x'",
    ],
)
def test_sqlite_replace_cannot_overwrite_audit_rows(tmp_path: Path, statement: str) -> None:
    url = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    store = Store(url)
    try:
        _fill(store, 2)
    finally:
        store.close()
    # a plain sqlite3 connection, as the sqlite3 shell would use (no recursive_triggers)
    conn = sqlite3.connect(str(make_url(url).database))
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(statement)
        assert conn.execute("SELECT caller FROM audit_events WHERE id = 1").fetchone() == ("api",)
    finally:
        conn.close()


@pytest.mark.postgres
def test_postgres_upsert_cannot_overwrite_audit_rows(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    store = Store(database_url)
    try:
        _fill(store, 2)
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO audit_events (id, event_uuid, created_at, caller, hook, "
                    "input_kind, input_hash, outcome, recommendation_ids, card_uuids) "
                    "SELECT id, event_uuid, "
                    "created_at, 'x', hook, input_kind, input_hash, outcome, recommendation_ids, "
                    "card_uuids FROM audit_events WHERE id = 1 "
                    "ON CONFLICT (id) DO UPDATE SET caller = 'x'"
                )
            )
        assert store.verify_chain().ok
    finally:
        store.close()
