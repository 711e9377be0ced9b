"""The audit store on real SQLite and real PostgreSQL: migrations, append-only, replay cache."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from vertebra.store import (
    CardRecord,
    EventRecord,
    FeedbackRecord,
    JtiUse,
    ReplayError,
    Store,
    UnknownCardError,
    downgrade,
    upgrade,
)

EVENT = EventRecord(
    caller="https://ehr.example.org sub=client",
    hook="patient-view",
    service="vertebra-patient-view",
    hook_instance="d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    input_kind="fhir",
    input_hash="sha256:" + "0" * 64,
    outcome="ok",
    knowledge_version="2026.11.0",
    pathway="stable",
    recommendation_ids=["refer-fls", "calcium-vitamin-d"],
    cards=[CardRecord("card-1", "refer-fls", ["sugg-1"]), CardRecord("card-2", None, [])],
)


def test_migrations_create_the_schema_and_are_idempotent(database_url: str) -> None:
    store = Store(database_url)
    try:
        upgrade(store.engine)  # again: nothing to do
        tables = set(inspect(store.engine).get_table_names())
        assert {
            "audit_events",
            "issued_cards",
            "card_feedback",
            "used_jti",
            "alembic_version",
        } <= tables
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0002"
        downgrade(store.engine)
        assert "audit_events" not in inspect(store.engine).get_table_names()
        upgrade(store.engine)
        assert "audit_events" in inspect(store.engine).get_table_names()
    finally:
        store.close()


def test_events_and_cards_round_trip(database_url: str) -> None:
    store = Store(database_url)
    try:
        event_uuid = store.record_event(EVENT)
        (row,) = store.events()
        assert row.event_uuid == event_uuid
        assert row.recommendation_ids == ["refer-fls", "calcium-vitamin-d"]
        assert row.card_uuids == ["card-1", "card-2"]
        assert row.input_facts is None
        assert row.created_at.year >= 2025
    finally:
        store.close()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET caller = 'someone else'",
        "DELETE FROM audit_events",
        "UPDATE issued_cards SET service = 'x'",
        "DELETE FROM card_feedback",
        "UPDATE card_feedback SET outcome = 'accepted'",
    ],
)
def test_audit_tables_are_append_only(database_url: str, statement: str) -> None:
    store = Store(database_url)
    try:
        store.record_event(EVENT)
        store.record_feedback(
            "vertebra-patient-view",
            "c",
            [FeedbackRecord("card-2", "overridden", datetime.now(UTC))],
        )
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
            conn.execute(text(statement))
        assert len(store.events()) == 1
        assert len(store.feedback()) == 1
    finally:
        store.close()


def test_feedback_is_all_or_nothing(database_url: str) -> None:
    store = Store(database_url)
    try:
        store.record_event(EVENT)
        good = FeedbackRecord("card-1", "accepted", datetime.now(UTC), ["sugg-1"])
        bad = FeedbackRecord("card-9", "overridden", datetime.now(UTC))
        wrong = FeedbackRecord("card-1", "accepted", datetime.now(UTC), ["sugg-9"])
        with pytest.raises(UnknownCardError) as exc:
            store.record_feedback("vertebra-patient-view", "c", [good, bad, wrong])
        assert [e["field"] for e in exc.value.errors] == [
            "feedback[1].card",
            "feedback[2].acceptedSuggestions[0].id",
        ]
        assert store.feedback() == []
        with pytest.raises(UnknownCardError):
            store.record_feedback("vertebra-order-sign", "c", [good])  # not its card
        assert store.record_feedback("vertebra-patient-view", "c", [good]) == 1
        (row,) = store.feedback()
        assert row.accepted_suggestions == ["sugg-1"]
    finally:
        store.close()


def test_jti_replay_cache(database_url: str) -> None:
    store = Store(database_url)
    try:
        assert store.use_jti("iss-a", "j1", expires_at=2000, now=1000) is True
        assert store.use_jti("iss-a", "j1", expires_at=2000, now=1500) is False
        assert store.use_jti("iss-b", "j1", expires_at=2000, now=1500) is True
        # Once expired the entry is pruned (and a token that old is refused on exp anyway).
        assert store.prune_jti(now=2500) == 2
        assert store.use_jti("iss-a", "j1", expires_at=3000, now=2500) is True
    finally:
        store.close()


def test_event_with_its_jti_is_recorded_once(database_url: str) -> None:
    """The audit event and the JWT id it was called with go in together; a replayed id
    records nothing (and is refused whether it came through record_event or use_jti)."""
    from dataclasses import replace

    first, second = Store(database_url), Store(database_url, migrate=False)
    try:
        first.record_event(EVENT, JtiUse("iss", "j1", expires_at=2000, now=1000))
        other_cards = [CardRecord("card-3", None, [])]
        with pytest.raises(ReplayError):
            second.record_event(replace(EVENT, cards=other_cards), JtiUse("iss", "j1", 2000, 1500))
        assert not second.use_jti("iss", "j1", 2000, 1500)
        assert len(second.events()) == 1
        with second.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM issued_cards")).scalar() == 2
        second.use_jti("iss", "j2", 2000, 1000)
        with pytest.raises(ReplayError):
            first.record_event(replace(EVENT, cards=other_cards), JtiUse("iss", "j2", 2000, 1000))
        # An expired entry that was never pruned does not block a (new, valid) token.
        first.record_event(replace(EVENT, cards=other_cards), JtiUse("iss", "j1", 4000, 3000))
        assert len(first.events()) == 2
    finally:
        first.close()
        second.close()


def test_sqlite_wal_is_checkpointed_off_the_request_path(tmp_path: Path) -> None:
    """The writer's automatic checkpoint is only a safety net: a thread copies the WAL back and
    the WAL then starts again from the beginning instead of growing."""
    import sqlite3
    import time
    from dataclasses import replace

    database = tmp_path / "audit.sqlite3"
    store = Store(f"sqlite:///{database}")
    try:
        assert store._sqlite is not None
        (pages,) = store._sqlite.conn.execute("PRAGMA wal_autocheckpoint").fetchone()
        assert pages > 1000
        for i in range(200):
            cards = [CardRecord(f"c-{i}-{c}", None, []) for c in range(5)]
            store.record_event(replace(EVENT, cards=cards), JtiUse("iss", f"j{i}", 2000, 1000))
        deadline = time.monotonic() + 10
        while not store.checkpoints and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.checkpoints >= 1
        store.record_event(replace(EVENT, cards=[]))  # starts the WAL again from the beginning
        conn = sqlite3.connect(database)
        try:
            (_, log_frames, _) = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            conn.close()
        assert log_frames < 50
        assert len(store.events(limit=1000)) == 201
    finally:
        store.close()


def test_two_processes_share_the_replay_cache(database_url: str) -> None:
    first, second = Store(database_url), Store(database_url, migrate=False)
    try:
        assert first.use_jti("iss", "shared", 2000, 1000)
        assert not second.use_jti("iss", "shared", 2000, 1000)
    finally:
        first.close()
        second.close()


def test_default_sqlite_file_needs_no_setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vertebra.settings import Settings

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    url = Settings.from_env({}).database_url
    assert url.endswith("/data/vertebra/vertebra.sqlite3")
    store = Store(url)
    try:
        store.record_event(EVENT)
        assert (tmp_path / "data" / "vertebra" / "vertebra.sqlite3").is_file()
    finally:
        store.close()


def test_sqlite_writers_queue_on_a_lock_file_next_to_the_database(tmp_path: Path) -> None:
    """Concurrent writers (threads here; the server's worker processes share the same flock)
    all land: no event is lost and none fails with 'database is locked'."""
    import threading
    from dataclasses import replace

    url = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    first, second = Store(url), Store(url, migrate=False)
    assert (tmp_path / "audit.sqlite3.writelock").exists()
    failures: list[BaseException] = []

    def write(store: Store, prefix: str) -> None:
        try:
            for i in range(40):
                cards = [CardRecord(f"{prefix}-{i}-{c}", None, []) for c in range(3)]
                store.record_event(replace(EVENT, cards=cards))
                assert store.use_jti("iss", f"{prefix}-{i}", 2000, 1000)
        except BaseException as exc:
            failures.append(exc)

    threads = [
        threading.Thread(target=write, args=(s, p))
        for s, p in ((first, "a"), (second, "b"), (first, "c"))
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []
        assert len(first.events(limit=1000)) == 120
        assert not second.use_jti("iss", "a-0", 2000, 1000)
    finally:
        first.close()
        second.close()


def test_in_memory_and_postgres_stores_need_no_lock_file(database_url: str, tmp_path: Path) -> None:
    store = Store(database_url if database_url.startswith("postgresql") else "sqlite://")
    try:
        store.record_event(EVENT)
        assert not list(tmp_path.glob("*.writelock"))
    finally:
        store.close()
