"""Big request bodies are parsed and planned on worker threads (vertebra.http.offload), with
the same answers, errors and audit events as small ones."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from vertebra.http.limits import INLINE_BYTES
from vertebra.http.offload import Offloader
from vertebra.settings import Settings

ICD = "http://hl7.org/fhir/sid/icd-10-cm"


def _bundle(extra_conditions: int, pad: int = 0) -> dict[str, Any]:
    patient = {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1944-01-01"}
    conditions = [
        {
            "resourceType": "Condition",
            "id": f"c{i}",
            "subject": {"reference": "Patient/p"},
            "clinicalStatus": {"coding": [{"code": "active"}]},
            "onsetDateTime": "2026-11-10",
            "code": {
                "coding": [{"system": ICD, "code": "S32.010A" if i == 0 else "J45.909"}],
                "text": "condition " + "x" * pad,
            },
        }
        for i in range(1 + extra_conditions)
    ]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in [patient, *conditions]],
    }


def test_a_big_bundle_gets_the_plan_a_small_one_gets(make_client: Any) -> None:
    client = make_client()
    small = json.dumps(_bundle(20)).encode()
    big = json.dumps(_bundle(20, pad=5000)).encode()  # the same facts, padded text
    assert len(small) < INLINE_BYTES < len(big)
    headers = {"Content-Type": "application/json"}
    r_small = client.post("/api/plan", content=small, headers=headers)
    r_big = client.post("/api/plan", content=big, headers=headers)
    assert r_small.status_code == r_big.status_code == 200, r_big.text
    assert r_big.content == r_small.content
    events = client.app.state.vertebra.store.events()
    assert [e.hook for e in events] == ["api.plan", "api.plan"]
    assert events[0].input_hash != events[1].input_hash  # the padded input was hashed


def test_a_big_bundle_over_the_caps_is_413_naming_the_limit(make_client: Any) -> None:
    client = make_client(max_conditions=100)
    r = client.post("/api/plan", json=_bundle(150, pad=500))
    assert r.status_code == 413, r.text
    assert "VERTEBRA_MAX_CONDITIONS" in r.json()["message"]
    assert r.json()["errors"][0]["field"] == "entry"


def test_big_bad_facts_are_422_naming_the_field(make_client: Any) -> None:
    client = make_client()
    facts = {"age": 80, "sex": "female", "fracture_levels": ["L1"], "padding": "x" * 70_000}
    r = client.post("/api/plan", json=facts)
    assert r.status_code == 422, r.text
    assert "padding" in {e["field"] for e in r.json()["errors"]}


def test_big_bodies_wait_their_turn(make_client: Any) -> None:
    """At most VERTEBRA_PLAN_THREADS big bodies are worked on at once per process."""
    import threading
    import time

    running: list[int] = []
    peak: list[int] = [0]
    lock = threading.Lock()

    def work(i: int) -> int:
        with lock:
            running.append(i)
            peak[0] = max(peak[0], len(running))
        time.sleep(0.05)
        with lock:
            running.remove(i)
        return i

    async def go() -> list[int]:
        helpers = Offloader(Settings(plan_threads=2))
        return list(await asyncio.gather(*(helpers.run(work, i) for i in range(6))))

    assert asyncio.run(go()) == list(range(6))
    assert peak[0] == 2


def test_server_processes_wait_at_most_1_ms_for_the_gil() -> None:
    import sys

    from vertebra.http.app import _warm_up

    before = sys.getswitchinterval()
    try:
        _warm_up()
        assert sys.getswitchinterval() == 0.001
    finally:
        sys.setswitchinterval(before)
