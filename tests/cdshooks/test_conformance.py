"""CDS Hooks 2.0.1 conformance (issue 14): prefetch semantics, FHIR fetch failures, order checks,
feedback rules. Each test failed before its fix."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import pytest
from fastapi import FastAPI, Request

from tests.cdshooks.conftest import KEY_OF, OUTCOME, fhir_app
from vertebra.http.testing import LoopbackServer

SERVICE = "vertebra-patient-view"
SIGN = "vertebra-order-sign"
NOW = "2026-11-21T10:00:00Z"
AUTH = {
    "access_token": "t",
    "token_type": "Bearer",
    "expires_in": 300,
    "scope": "patient/*.read",
    "subject": "vertebra",
}


def test_missing_prefetch_is_fetched_with_fhir_server_and_no_authorization(ehr: Any) -> None:
    prefetch = ehr.prefetch()
    seen: list[dict[str, str]] = []
    with LoopbackServer(fhir_app(prefetch, seen)) as base:
        body = ehr.body("patient-view", {"patient": prefetch["patient"]})
        body["fhirServer"] = f"{base}/fhir"
        r = ehr.call(SERVICE, body)
    assert r.status_code == 200, r.text
    # 5 needed keys and the optional medicationAdministrations (issue 10f), diagnosticReports
    # and documentReferences (issue 13)
    assert len(seen) == 8 and not any("authorization" in h for h in seen)
    assert r.json()["cards"]


def test_fhir_server_error_is_412_not_502(ehr: Any) -> None:
    prefetch = ehr.prefetch()
    with LoopbackServer(fhir_app(prefetch, [], fail=500)) as base:
        body = ehr.body("patient-view", {"patient": prefetch["patient"]})
        body["fhirServer"] = f"{base}/fhir"
        body["fhirAuthorization"] = AUTH
        r = ehr.call(SERVICE, body)
    assert r.status_code == 412, r.text
    assert r.json()["errors"][0]["field"].startswith("prefetch.")


@pytest.mark.parametrize("shape", ["outcome", "searchset_of_outcomes"])
def test_operation_outcome_prefetch_is_data_not_available(ehr: Any, shape: str) -> None:
    prefetch = ehr.prefetch()
    prefetch["conditions"] = OUTCOME if shape == "outcome" else ehr.searchset(OUTCOME)
    r = ehr.call(SERVICE, ehr.body("patient-view", prefetch))
    assert r.status_code == 412, r.text  # not "200, no fracture, no cards"
    assert [e["field"] for e in r.json()["errors"]] == ["prefetch.conditions"]


def test_operation_outcome_prefetch_is_fetched_from_the_fhir_server(ehr: Any) -> None:
    prefetch = ehr.prefetch()
    sent = dict(prefetch, conditions=OUTCOME)
    with LoopbackServer(fhir_app(prefetch, [])) as base:
        body = ehr.body("patient-view", sent)
        body["fhirServer"] = f"{base}/fhir"
        r = ehr.call(SERVICE, body)
    assert r.status_code == 200, r.text
    assert r.json()["cards"]  # the fracture came from the server


def test_unknown_prefetch_keys_are_ignored(ehr: Any) -> None:
    prefetch = ehr.prefetch()
    prefetch["user"] = "123"  # the spec's own example: not a resource
    prefetch["extra"] = [1, 2]
    r = ehr.call(SERVICE, ehr.body("patient-view", prefetch))
    assert r.status_code == 200, r.text
    assert r.json()["cards"]


def test_prefetched_patient_of_another_id_is_refused(ehr: Any) -> None:
    prefetch = ehr.prefetch()
    prefetch["patient"] = dict(prefetch["patient"], id="someone-else")
    r = ehr.call(SERVICE, ehr.body("patient-view", prefetch))
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == "prefetch.patient.id"
    (event,) = ehr.client.app.state.vertebra.store.events()  # an InputError is audited too
    assert event.outcome == "refused:422:invalid_input"


def test_draft_orders_that_are_not_a_bundle_are_400(ehr: Any) -> None:
    order = ehr.order("m1", "Naproxen sodium 220 MG Oral Tablet", "849574")
    r = ehr.call(SIGN, ehr.body("order-sign", ehr.prefetch(), draftOrders=order))
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["field"] == "context.draftOrders.resourceType"


def test_draft_calcitonin_order_gets_a_card_as_the_plan_advises_against_it(ehr: Any) -> None:
    from vertebra.engine import plan
    from vertebra.fhir import prefetch_to_resources, to_facts

    prefetch = ehr.prefetch()
    verdicts = {
        r.drug: r.action
        for r in plan(to_facts(prefetch_to_resources(prefetch)).facts).recommendations
        if r.drug
    }
    assert verdicts.get("calcitonin") in ("avoid", "contraindicated")
    order = ehr.order("c1", "calcitonin salmon 200 UNT/ACTUAT Metered Dose Nasal Spray")
    drafts = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": order}]}
    r = ehr.call(SIGN, ehr.body("order-sign", prefetch, draftOrders=drafts))
    assert r.status_code == 200, r.text
    flagged = [c for c in r.json()["cards"] if c["indicator"] in ("warning", "critical")]
    assert len(flagged) == 1 and "calcitonin" in flagged[0]["summary"].lower()
    action = flagged[0]["suggestions"][0]["actions"][0]
    assert action["type"] == "delete" and action["resourceId"] == "MedicationRequest/c1"


@pytest.mark.parametrize("entry", ["x", [None], [5], {"resource": {}}])
def test_malformed_prefetch_bundle_is_4xx_with_an_audit_row(ehr: Any, entry: Any) -> None:
    prefetch = ehr.prefetch()
    prefetch["conditions"] = {"resourceType": "Bundle", "type": "searchset", "entry": entry}
    r = ehr.call(SERVICE, ehr.body("patient-view", prefetch))
    assert 400 <= r.status_code < 500, r.text
    assert any(e["field"].startswith("prefetch.conditions") for e in r.json()["errors"])
    (event,) = ehr.client.app.state.vertebra.store.events()
    assert event.outcome.startswith(f"refused:{r.status_code}")


@pytest.mark.parametrize("levels", [900, 1500])
def test_deeply_nested_hook_body_is_422_naming_the_field(ehr: Any, levels: int) -> None:
    prefetch = ehr.prefetch()
    prefetch["conditions"]["entry"][0]["resource"]["extension"] = "DEEP"
    body = json.dumps(ehr.body("patient-view", prefetch))
    body = body.replace('"DEEP"', '[{"extension": ' * levels + "[]" + "}]" * levels)
    r = ehr.call(SERVICE, body)
    assert r.status_code == 422, r.text
    field = r.json()["errors"][0]["field"]
    assert field.startswith("prefetch.conditions.entry[0]") or field == "(body)"


def test_unauthenticated_call_gets_401_before_any_validation(ehr: Any) -> None:
    r = ehr.call(SERVICE, {}, token=False)
    assert r.status_code == 401
    assert r.json()["errors"] == []
    r = ehr.client.post(f"/cds-services/{SERVICE}/feedback", json={})
    assert r.status_code == 401


def test_too_many_conditions_is_413_naming_the_limit(make_ehr: Any) -> None:
    ehr = make_ehr(max_conditions=5)
    conditions = [ehr.condition("J45.909", f"c{i}") for i in range(6)]
    r = ehr.call(SERVICE, ehr.body("patient-view", ehr.prefetch(conditions=conditions)))
    assert r.status_code == 413, r.text
    assert "VERTEBRA_MAX_CONDITIONS" in r.json()["message"]


# -- feedback ---------------------------------------------------------------------------------


def _card(ehr: Any) -> dict[str, Any]:
    r = ehr.call(SERVICE, ehr.body("patient-view", ehr.prefetch(observations=[ehr.egfr(25)])))
    card: dict[str, Any] = next(c for c in r.json()["cards"] if c.get("suggestions"))
    return card


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"outcome": "accepted"}, "feedback[0]"),  # cds-fb-2
        ({"outcome": "overridden", "overrideReason": {}}, "feedback[0].overrideReason"),  # fb-3
        (
            {"outcome": "overridden", "outcomeTimestamp": "2026-11-21T10:00:00"},
            "feedback[0].outcomeTimestamp",
        ),  # no time zone
    ],
)
def test_feedback_spec_rules(ehr: Any, item: dict[str, Any], field: str) -> None:
    card = _card(ehr)
    sent = {"card": card["uuid"], "outcomeTimestamp": NOW, **item}
    r = ehr.feedback(SERVICE, [sent])
    assert r.status_code == 422, r.text
    assert field in {e["field"] for e in r.json()["errors"]}
    assert ehr.client.app.state.vertebra.store.feedback() == []


# -- FHIR fetches: one deadline, exact origins ------------------------------------------------


class DripServer:
    """A raw TCP server that answers any request with headers, then one body byte per interval."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100000\r\n\r\n{"
            )
            while not self.stop.is_set():
                time.sleep(self.interval)
                conn.sendall(b" ")
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def test_hook_call_has_one_total_deadline_for_fhir_fetches(make_ehr: Any) -> None:
    ehr = make_ehr(fhir_timeout_seconds=1.5)
    drip = DripServer(0.2)  # every read gets a byte well within any per-read timeout
    try:
        body = ehr.body("patient-view", None)
        body["fhirServer"] = f"http://127.0.0.1:{drip.port}/fhir"
        body["fhirAuthorization"] = AUTH
        started = time.monotonic()
        r = ehr.call(SERVICE, body)
        took = time.monotonic() - started
    finally:
        drip.close()
    assert r.status_code == 412, r.text
    assert took < 1.5 + 1.0  # the deadline, plus at most one read that began before it


def test_next_links_off_the_server_origin_are_not_followed(ehr: Any) -> None:
    prefetch = ehr.prefetch()
    hits: list[str] = []
    other = FastAPI()

    @other.get("/{path:path}")
    def anything(path: str, request: Request) -> Any:
        hits.append(request.headers.get("authorization", ""))
        return {"resourceType": "Bundle", "type": "searchset"}

    with LoopbackServer(other) as other_base:
        port = other_base.rsplit(":", 1)[1]
        app = FastAPI()

        @app.get("/fhir/Patient/{pid}")
        def patient(pid: str) -> Any:
            return prefetch["patient"]

        @app.get("/fhir/{rtype}")
        def search(rtype: str, request: Request) -> Any:
            data = dict(prefetch[KEY_OF[rtype]] or {"resourceType": "Bundle", "type": "searchset"})
            base = str(request.base_url).rstrip("/")
            host = base.split("//", 1)[1].split(":")[0]
            # same host, another port; a host that merely starts with ours; userinfo
            data["link"] = [
                {
                    "relation": "next",
                    "url": {
                        "Condition": f"http://{host}:{port}/fhir/Condition?page=2",
                        "Observation": f"http://{host}0:{port}/fhir/Observation",
                        "MedicationRequest": f"{base.replace('//', '//x@')}/fhir/x",
                    }.get(rtype, f"{other_base}/fhir/x"),
                }
            ]
            return data

        with LoopbackServer(app) as base:
            body = ehr.body("patient-view", {"patient": prefetch["patient"]})
            body["fhirServer"] = f"{base}/fhir"
            body["fhirAuthorization"] = {
                "access_token": "secret",
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "patient/*.read",
                "subject": "vertebra",
            }
            r = ehr.call(SERVICE, body)
    assert r.status_code == 200, r.text
    assert hits == []  # the token never left the fhirServer origin


@pytest.mark.parametrize(
    ("allow", "server", "ok"),
    [
        ("http://127.0.0.1", "http://127.0.0.10:9102/fhir", False),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8081/fhir", False),
        ("https://fhir.example", "https://fhir.example.evil.org/fhir", False),
        ("https://fhir.example/r4", "https://fhir.example/r4x", False),
        ("https://fhir.example", "https://a@fhir.example/fhir", False),
        ("https://fhir.example/r4", "https://FHIR.example:443/r4/", True),
    ],
)
def test_allowlist_compares_parsed_origins(allow: str, server: str, ok: bool) -> None:
    from vertebra.cdshooks.prefetch import allowed_server
    from vertebra.settings import Settings

    assert allowed_server(server, Settings(fhir_server_allowlist=[allow])) is ok


@pytest.mark.parametrize(
    "link",
    [
        "http://127.0.0.1:8000/fhir/Condition",
        "http://127.0.0.10/fhir/Condition",
        "http://x@127.0.0.1/fhir/Condition",
        "https://127.0.0.1/fhir/Condition",
        "http://127.0.0.1/fhirx/Condition",
    ],
)
def test_next_link_must_be_under_the_fhir_server(link: str) -> None:
    from vertebra.security.fetch import under

    assert under("http://127.0.0.1:80/fhir/Condition?page=2", "http://127.0.0.1/fhir")
    assert not under(link, "http://127.0.0.1:80/fhir")


def test_fhir_server_with_userinfo_is_refused(ehr: Any) -> None:
    body = ehr.body("patient-view", None)
    body["fhirServer"] = "http://127.0.0.1@169.254.169.254/latest"
    r = ehr.call(SERVICE, body)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "fhirServer"
