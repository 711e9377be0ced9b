"""The SQLite writer's JSON shortcut: the same stored text as SQLAlchemy's JSON bind processor."""

from __future__ import annotations

import json
import sqlite3
from functools import partial
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import JSON, create_engine

from vertebra.store import _bind_processor, _json_value
from vertebra.store.models import AuditEvent, IssuedCard

_dialect = create_engine("sqlite://").dialect
_COLUMNS = [*AuditEvent.__table__.columns, *IssuedCard.__table__.columns]
_JSON = [c for c in _COLUMNS if isinstance(c.type, JSON)]


def _plain(column: Any) -> Any:
    return column.type.dialect_impl(_dialect).bind_processor(_dialect)


def test_every_json_column_gets_the_shortcut_and_others_keep_theirs() -> None:
    assert {c.name for c in _JSON} >= {"recommendation_ids", "card_uuids", "suggestion_uuids"}
    for column in _COLUMNS:
        process = _bind_processor(column, _dialect)
        plain = _plain(column)
        if column in _JSON:
            assert isinstance(process, partial) and process.func is _json_value
            assert process.args[0].__qualname__ == plain.__qualname__
        elif plain is None:
            assert process is None
        else:
            assert process is not None and process.__qualname__ == plain.__qualname__


@given(st.lists(st.text()))
def test_a_list_of_strings_is_stored_as_json_dumps_writes_it(values: list[str]) -> None:
    for column in _JSON:
        process = _bind_processor(column, _dialect)
        assert process is not None
        assert process(values) == _plain(column)(values) == json.dumps(values)


@given(
    st.none()
    | st.dictionaries(st.text(), st.integers() | st.text())
    | st.lists(st.integers() | st.text() | st.none())
)
def test_other_values_go_through_sqlalchemy(value: Any) -> None:
    for column in _JSON:
        assert _json_value(_plain(column), value) == _plain(column)(value)


def test_subclasses_of_str_and_list_are_not_shortened() -> None:
    class Text(str):
        pass

    class Items(list[str]):
        pass

    calls: list[Any] = []

    def process(value: Any) -> str:
        calls.append(value)
        return json.dumps(value)

    assert _json_value(process, [Text("a")]) == '["a"]'
    assert _json_value(process, Items(["a"])) == '["a"]'
    assert len(calls) == 2


def test_rows_written_by_the_store_read_back(tmp_path: Path) -> None:
    from vertebra.store import CardRecord, EventRecord, Store

    store = Store(f"sqlite:///{tmp_path / 'audit.sqlite3'}")
    try:
        cards = [
            CardRecord(uuid="c-1", recommendation_id="r-1", suggestion_uuids=["s-1", "s-é"]),
            CardRecord(uuid="c-2", recommendation_id=None),
        ]
        store.record_event(
            EventRecord(
                caller="ehr",
                hook="patient-view",
                input_kind="fhir",
                input_hash="sha256:x",
                outcome="ok",
                recommendation_ids=["r-1", "r-\u2028"],
                cards=cards,
            )
        )
    finally:
        store.close()
    conn = sqlite3.connect(tmp_path / "audit.sqlite3")
    try:
        (ids, uuids, facts) = conn.execute(
            "SELECT recommendation_ids, card_uuids, input_facts FROM audit_events"
        ).fetchone()
        stored = conn.execute(
            "SELECT card_uuid, suggestion_uuids FROM issued_cards ORDER BY card_uuid"
        ).fetchall()
    finally:
        conn.close()
    assert ids == json.dumps(["r-1", "r-\u2028"])
    assert uuids == json.dumps(["c-1", "c-2"])
    assert facts == "null"  # None goes through SQLAlchemy's processor, as before
    assert stored == [("c-1", json.dumps(["s-1", "s-é"])), ("c-2", "[]")]
