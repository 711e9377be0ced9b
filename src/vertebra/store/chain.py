"""The audit events' hash chain: tamper-evidence on top of the append-only triggers.

``event_hash = sha256(prev_hash + "\\n" + canonical JSON of the event's fields)``, where
``prev_hash`` is the previous event's hash (:data:`GENESIS` for the first). Editing, deleting,
inserting or reordering events - with the triggers dropped, or on a copy of the file - breaks
the chain at that event, and :func:`verify` names it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64

#: The fields hashed, in this order (everything but the database id and the hashes).
FIELDS = (
    "event_uuid",
    "created_at",
    "caller",
    "hook",
    "service",
    "hook_instance",
    "input_kind",
    "input_hash",
    "input_facts",
    "knowledge_version",
    "outcome",
    "pathway",
    "recommendation_ids",
    "card_uuids",
)


def _instant(value: Any) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:  # SQLite gives back naive UTC
            value = value.replace(tzinfo=UTC)
        return str(value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    return str(value)


def event_hash(prev_hash: str, row: dict[str, Any]) -> str:
    values = {name: row.get(name) for name in FIELDS}
    values["created_at"] = _instant(values["created_at"])
    payload = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{prev_hash}\n{payload}".encode()).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    checked: int  # chained events verified
    unchained: int  # events from before the chain (no hash)
    broken_at: int | None = None  # id of the first event that does not verify
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None and self.problem is None


def verify(rows: Iterable[dict[str, Any]]) -> ChainReport:
    """Check events in id order (each a dict with ``id``, :data:`FIELDS` and the hashes)."""
    prev = GENESIS
    checked = unchained = 0
    for row in rows:
        if row.get("event_hash") is None:
            if checked:
                return ChainReport(
                    checked, unchained, row["id"], "event without a hash after the chain began"
                )
            unchained += 1
            continue
        if row.get("prev_hash") != prev:
            return ChainReport(
                checked,
                unchained,
                row["id"],
                "prev_hash is not the previous event's hash (an event was "
                "removed, inserted or reordered)",
            )
        if event_hash(prev, row) != row["event_hash"]:
            return ChainReport(
                checked,
                unchained,
                row["id"],
                "event_hash does not match the event (it was altered)",
            )
        prev = row["event_hash"]
        checked += 1
    return ChainReport(checked, unchained)
