"""Card feedback: accepted / overridden (with reasons), tied to the cards issued."""

from __future__ import annotations

from typing import Any

SERVICE = "vertebra-patient-view"
NOW = "2026-11-21T10:00:00Z"


def issue_cards(ehr: Any) -> list[dict[str, Any]]:
    r = ehr.call(SERVICE, ehr.body("patient-view", ehr.prefetch(observations=[ehr.egfr(25)])))
    assert r.status_code == 200
    cards: list[dict[str, Any]] = r.json()["cards"]
    return cards


def test_accepted_and_overridden_feedback_is_recorded(ehr: Any) -> None:
    cards = issue_cards(ehr)
    with_suggestion = next(c for c in cards if c.get("suggestions"))
    other = next(c for c in cards if c is not with_suggestion)
    reason = other["overrideReasons"][0]
    r = ehr.feedback(
        SERVICE,
        [
            {
                "card": with_suggestion["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": with_suggestion["suggestions"][0]["uuid"]}],
                "outcomeTimestamp": NOW,
            },
            {
                "card": other["uuid"],
                "outcome": "overridden",
                "overrideReason": {"reason": reason, "userComment": "Mrs Quackenbush refused"},
                "outcomeTimestamp": NOW,
            },
        ],
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"recorded": 2}
    rows = {f.card_uuid: f for f in ehr.client.app.state.vertebra.store.feedback()}
    accepted = rows[with_suggestion["uuid"]]
    assert accepted.outcome == "accepted"
    assert accepted.accepted_suggestions == [with_suggestion["suggestions"][0]["uuid"]]
    overridden = rows[other["uuid"]]
    assert overridden.outcome == "overridden"
    assert overridden.override_reason == {k: reason[k] for k in ("system", "code", "display")}
    assert overridden.user_comment is None  # free text is not kept unless configured
    assert overridden.caller == f"{ehr.signer.iss} sub={ehr.signer.sub}"


def test_feedback_on_unknown_cards_is_refused_whole(ehr: Any) -> None:
    cards = issue_cards(ehr)
    r = ehr.feedback(
        SERVICE,
        [
            {"card": cards[0]["uuid"], "outcome": "overridden", "outcomeTimestamp": NOW},
            {
                "card": "00000000-0000-4000-8000-000000000000",
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": "nope"}],
                "outcomeTimestamp": NOW,
            },
        ],
    )
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["feedback[1].card"]
    assert ehr.client.app.state.vertebra.store.feedback() == []


def test_feedback_names_an_unknown_suggestion(ehr: Any) -> None:
    card = next(c for c in issue_cards(ehr) if c.get("suggestions"))
    r = ehr.feedback(
        SERVICE,
        [
            {
                "card": card["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": "x"}],
                "outcomeTimestamp": NOW,
            }
        ],
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "feedback[0].acceptedSuggestions[0].id"


def test_feedback_for_another_services_card_is_refused(ehr: Any) -> None:
    card = issue_cards(ehr)[0]
    r = ehr.feedback(
        "vertebra-order-sign",
        [{"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": NOW}],
    )
    assert r.status_code == 422


def test_invalid_feedback_names_the_fields(ehr: Any) -> None:
    r = ehr.feedback(SERVICE, [{"card": "x", "outcome": "ignored"}])
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert {"feedback[0].outcome", "feedback[0].outcomeTimestamp"} <= fields


def test_feedback_requires_a_jwt(ehr: Any) -> None:
    r = ehr.client.post(f"/cds-services/{SERVICE}/feedback", json={"feedback": []})
    assert r.status_code in (401, 422)
    card = issue_cards(ehr)[0]
    r = ehr.client.post(
        f"/cds-services/{SERVICE}/feedback",
        json={
            "feedback": [{"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": NOW}]
        },
    )
    assert r.status_code == 401
