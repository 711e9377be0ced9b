"""A prefetch holding an unpaired UTF-16 surrogate escape is refused with 422 naming the body
(it was an HTTP 500 with the token used up and no audit row); the refusal is audited."""

from __future__ import annotations

import json
from typing import Any

SERVICE = "vertebra-patient-view"


def test_an_unpaired_surrogate_in_the_prefetch_is_422_and_audited(ehr: Any) -> None:
    condition = ehr.condition("J45.909", "c2")
    condition["code"]["text"] = "TEXT"
    body = json.dumps(ehr.body("patient-view", ehr.prefetch(conditions=[condition])))
    body = body.replace('"TEXT"', '"asthma \\ud800"')
    r = ehr.call(SERVICE, body)
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "(body)"
    assert "surrogate" in r.json()["errors"][0]["message"]
    events = ehr.client.app.state.vertebra.store.events()
    assert [e.outcome for e in events] == ["refused:422:invalid_input"]
