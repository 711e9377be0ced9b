"""A JSON string may escape half of a UTF-16 surrogate pair (``"\\ud800"``): valid JSON
grammar, but not Unicode text. /api/plan answered such a Bundle with HTTP 500 (the audit hash
could not encode it); it is now a 422 naming the body, and paired escapes (an emoji) still work."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vertebra.errors import InputError
from vertebra.intake import load_json

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
HEADERS = {"Content-Type": "application/json"}


def _bundle(text: str) -> bytes:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": "p",
                    "gender": "female",
                    "birthDate": "1944-01-01",
                }
            },
            {
                "resource": {
                    "resourceType": "Condition",
                    "id": "c",
                    "subject": {"reference": "Patient/p"},
                    "onsetDateTime": "2026-11-10",
                    "code": {"coding": [{"system": ICD, "code": "S32.010A"}], "text": "TEXT"},
                }
            },
        ],
    }
    return json.dumps(bundle).replace('"TEXT"', json.dumps(text)).encode()


@pytest.mark.parametrize("escape", ["\\ud800", "\\uDFFF", "x\\ud83d", "\\ude00y"])
def test_an_unpaired_surrogate_escape_is_422_naming_the_body(make_client: Any, escape: str) -> None:
    client = make_client(auth="disabled")
    body = _bundle("TEXT").replace(b'"TEXT"', f'"{escape}"'.encode())
    r = client.post("/api/plan", content=body, headers=HEADERS)
    assert r.status_code == 422, r.text
    error = r.json()["errors"][0]
    assert error["field"] == "(body)"
    assert "surrogate" in error["message"]
    assert client.app.state.vertebra.store.events() == []


def test_paired_surrogate_escapes_are_text(make_client: Any) -> None:
    client = make_client(auth="disabled")
    body = _bundle("fracture \U0001f9b4")  # json.dumps escapes it as \ud83e\uddb4
    assert b"\\ud83e\\uddb4" in body
    r = client.post("/api/plan", content=body, headers=HEADERS)
    assert r.status_code == 200, r.text


def test_load_json_refuses_unpaired_surrogates_from_text_and_bytes() -> None:
    for raw in ('{"a": "\\udc00"}', b'{"a": ["ok", "\\ud800 x"]}'):
        with pytest.raises(InputError) as info:
            load_json(raw)
        assert "surrogate" in info.value.errors[0]["message"]
    assert load_json('{"a": "\\\\ud800"}') == {"a": "\\ud800"}  # an escaped backslash: text
    assert load_json(b'{"a": "\\ud83e\\uddb4"}') == {"a": "\U0001f9b4"}
