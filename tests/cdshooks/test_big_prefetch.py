"""A hook call with a big prefetch (over 64 KiB) is answered on a worker thread
(vertebra.http.offload): the same cards, errors and audit trail as a small one."""

from __future__ import annotations

import json
from typing import Any

from vertebra.http.limits import INLINE_BYTES

SERVICE = "vertebra-patient-view"
BASE = "http://testserver/cds-services"


def _padded(ehr: Any, n: int, pad: int) -> list[dict[str, Any]]:
    conditions = [ehr.condition("J45.909", f"c{i}") for i in range(n)]
    for c in conditions:
        c["code"]["text"] = "asthma " + "x" * pad
    return conditions


def _cards(r: Any) -> list[tuple[str, str]]:
    return [(c["summary"], c["indicator"]) for c in r.json()["cards"]]


def test_big_prefetch_gets_the_cards_a_small_one_gets(ehr: Any) -> None:
    small = ehr.body("patient-view", ehr.prefetch(conditions=_padded(ehr, 20, 0)))
    big = ehr.body("patient-view", ehr.prefetch(conditions=_padded(ehr, 20, 5000)))
    assert len(json.dumps(small)) < INLINE_BYTES < len(json.dumps(big))
    r_small = ehr.call(SERVICE, small)
    r_big = ehr.call(SERVICE, big)
    assert r_small.status_code == r_big.status_code == 200, r_big.text
    assert _cards(r_big) == _cards(r_small) and _cards(r_big)
    events = ehr.client.app.state.vertebra.store.events()
    assert [e.outcome for e in events] == ["ok", "ok"]
    assert len(events[0].card_uuids) == len(r_big.json()["cards"])


def test_big_prefetch_over_the_caps_is_413_audited_and_its_token_used_up(make_ehr: Any) -> None:
    ehr = make_ehr(max_conditions=50)
    body = ehr.body("patient-view", ehr.prefetch(conditions=_padded(ehr, 60, 1000)))
    assert len(json.dumps(body)) > INLINE_BYTES
    token = ehr.signer.token(f"{BASE}/{SERVICE}")
    headers = {"Authorization": f"Bearer {token}"}
    r = ehr.client.post(f"/cds-services/{SERVICE}", json=body, headers=headers)
    assert r.status_code == 413, r.text
    assert "VERTEBRA_MAX_CONDITIONS" in r.json()["message"]
    (event,) = ehr.client.app.state.vertebra.store.events()
    assert event.outcome == "refused:413:too_many_resources"
    assert event.input_hash.startswith("sha256:")
    again = ehr.client.post(f"/cds-services/{SERVICE}", json=body, headers=headers)
    assert again.status_code == 401 and "replay" in again.json()["message"]


def test_big_prefetch_with_a_bad_field_is_422_naming_it(ehr: Any) -> None:
    prefetch = ehr.prefetch(conditions=_padded(ehr, 20, 5000))
    prefetch["patient"] = dict(prefetch["patient"], id="someone-else")
    r = ehr.call(SERVICE, ehr.body("patient-view", prefetch))
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "prefetch.patient.id"
    (event,) = ehr.client.app.state.vertebra.store.events()
    assert event.outcome == "refused:422:invalid_input"
