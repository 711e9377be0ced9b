"""Plan → CDS Hooks 2.0 cards.

* one card per actionable recommendation (referrals, imaging, laboratory tests, procedures,
  bone-health medicines) with a ``create`` suggestion carrying the FHIR resource, and one per
  medicine the plan says to avoid or not to use;
* one summary card with the rest of the plan (analgesia, mobilisation, education, follow-up)
  and the facts still to document.

Indicator by urgency: ``critical`` for immediate referrals/imaging (and contraindicated orders),
``warning`` for urgent ones and medicines to avoid, ``info`` otherwise. Every card has a uuid
(recorded with its suggestions' uuids so that feedback can be tied to it), a source label and
URL, links to the cited guidelines and the override reasons vertebra understands.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from vertebra.cdshooks.orders import DraftOrder, DrugConflict
from vertebra.knowledge import KnowledgeBase
from vertebra.plan import Plan, Recommendation
from vertebra.store import CardRecord
from vertebra.store.ids import new_uuid

SUMMARY_LIMIT = 139  # CDS Hooks: "<140 characters"
TOPIC_SYSTEM = "urn:vertebra:recommendation"
OVERRIDE_SYSTEM = "urn:vertebra:override-reason"
OVERRIDE_REASONS: list[dict[str, str]] = [
    {"system": OVERRIDE_SYSTEM, "code": "already-done", "display": "Already done or ordered"},
    {"system": OVERRIDE_SYSTEM, "code": "patient-declined", "display": "Patient declined"},
    {
        "system": OVERRIDE_SYSTEM,
        "code": "not-applicable",
        "display": "Does not apply to this patient",
    },
    {
        "system": OVERRIDE_SYSTEM,
        "code": "clinical-judgement",
        "display": "Clinical judgement differs",
    },
]
CARD_CATEGORIES = ("referral", "imaging", "laboratory", "procedure", "bone_health")

ResourceMaker = Callable[[Recommendation, str], "dict[str, Any] | None"]


def shorten(text: str, limit: int = SUMMARY_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


#: :func:`shorten` for card summaries and recommendation titles: knowledge-base text, the same
#: few hundred strings on every call (a card shortens its title three or four times).
_short = lru_cache(maxsize=4096)(shorten)


def indicator(rec: Recommendation) -> str:
    if rec.urgency == "immediate":
        return "critical"
    if rec.action in ("avoid", "contraindicated") or rec.urgency == "urgent":
        return "warning"
    return "info"


class _CitationParts:
    """Card parts that depend only on a recommendation's citations (one knowledge version):
    built once per distinct citation list and reused by every request."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.sources = {s.id: s for s in kb.sources}
        self._cache: dict[tuple[str, ...], tuple[str, str | None, list[dict[str, str]], str]] = {}

    def get(self, citations: list[str]) -> tuple[str, str | None, list[dict[str, str]], str]:
        key = tuple(citations)
        parts = self._cache.get(key)
        if parts is None:
            unique = list(dict.fromkeys(citations))
            first = next((self.sources[c] for c in citations if c in self.sources), None)
            label = f"vertebra · {first.organisation} {first.year}" if first else "vertebra"
            links = [
                {
                    "label": shorten(f"{s.title} ({s.organisation} {s.year})", 100),
                    "url": s.url,
                    "type": "absolute",
                }
                for c in unique
                if (s := self.sources.get(c)) is not None and s.url
            ]
            text = "; ".join(
                f"{s.title} ({s.organisation} {s.year})" if (s := self.sources.get(c)) else c
                for c in unique
            )
            parts = (shorten(label, 100), first.url if first else None, links, text)
            self._cache[key] = parts
        return parts


_PARTS: dict[str, _CitationParts] = {}


def _parts_for(kb: KnowledgeBase) -> _CitationParts:
    parts = _PARTS.get(kb.version)
    if parts is None:
        parts = _PARTS[kb.version] = _CitationParts(kb)
    return parts


class CardBuilder:
    def __init__(self, plan: Plan | None, kb: KnowledgeBase, service_url: str) -> None:
        self.plan = plan
        self.kb = kb
        self.service_url = service_url
        self.records: list[CardRecord] = []
        self._parts = _parts_for(kb)

    # -- shared parts -------------------------------------------------------------------

    def _source(self, citations: list[str], topic: dict[str, str] | None) -> dict[str, Any]:
        label, url, _, _ = self._parts.get(citations)
        source: dict[str, Any] = {"label": label}
        if url:
            source["url"] = url
        if topic:
            source["topic"] = topic
        return source

    def _links(self, citations: list[str]) -> list[dict[str, str]]:
        return [dict(link) for link in self._parts.get(citations)[2]]

    def _citation_text(self, citations: list[str]) -> str:
        return self._parts.get(citations)[3]

    def _card(
        self,
        summary: str,
        detail: str,
        ind: str,
        citations: list[str],
        topic: dict[str, str] | None,
        suggestions: list[dict[str, Any]],
        recommendation_id: str | None,
    ) -> dict[str, Any]:
        card: dict[str, Any] = {
            "uuid": new_uuid(),
            "summary": _short(summary),
            "detail": detail,
            "indicator": ind,
            "source": self._source(citations, topic),
        }
        if suggestions:
            card["suggestions"] = suggestions
            card["selectionBehavior"] = "at-most-one"
        card["overrideReasons"] = OVERRIDE_REASONS
        links = self._links(citations)
        if links:
            card["links"] = links
        self.records.append(
            CardRecord(
                uuid=card["uuid"],
                recommendation_id=recommendation_id,
                suggestion_uuids=[s["uuid"] for s in suggestions],
            )
        )
        return card

    # -- patient-view -------------------------------------------------------------------

    def plan_cards(
        self, patient_ref: str, make_resource: ResourceMaker | None
    ) -> list[dict[str, Any]]:
        plan = self.plan
        if plan is None:
            return []
        cards: list[dict[str, Any]] = []
        listed: list[Recommendation] = []
        for rec in plan.recommendations:
            if rec.action in ("avoid", "contraindicated"):
                # A medicine to avoid is a warning card of its own; other "avoid" advice (bed
                # rest, routine vertebroplasty …) is listed in the summary card, to keep the
                # number of cards down (alert fatigue).
                if rec.drug is not None:
                    cards.append(self._rec_card(rec, []))
                else:
                    listed.append(rec)
            elif rec.category in CARD_CATEGORIES:
                resource = make_resource(rec, patient_ref) if make_resource else None
                suggestions = []
                if resource is not None:
                    suggestions.append(
                        {
                            "label": _short(rec.title, 80),
                            "uuid": new_uuid(),
                            "isRecommended": rec.action == "do",
                            "actions": [
                                {
                                    "type": "create",
                                    "description": _short(rec.title, 200),
                                    "resource": resource,
                                }
                            ],
                        }
                    )
                cards.append(self._rec_card(rec, suggestions))
            else:
                listed.append(rec)
        cards.insert(0, self._summary_card(listed))
        order = {"critical": 0, "warning": 1, "info": 2}
        cards.sort(key=lambda c: order[c["indicator"]])  # stable: plan order within a level
        position = {c["uuid"]: i for i, c in enumerate(cards)}
        self.records.sort(key=lambda r: position.get(r.uuid, len(position)))
        return cards

    def _rec_card(self, rec: Recommendation, suggestions: list[dict[str, Any]]) -> dict[str, Any]:
        lines = [rec.detail]
        if rec.dose:
            lines.append(f"**Dose:** {rec.dose}")
        if rec.rationale:
            lines.append("**Because:** " + "; ".join(rec.rationale))
        if rec.cautions:
            lines.append("**Cautions:** " + " ".join(rec.cautions))
        lines.append(f"**Evidence:** {rec.strength} — {self._citation_text(rec.citations)}")
        topic = {"system": TOPIC_SYSTEM, "code": rec.id, "display": _short(rec.title, 100)}
        return self._card(
            rec.title,
            "\n\n".join(lines),
            indicator(rec),
            list(rec.citations),
            topic,
            suggestions,
            rec.id,
        )

    def _summary_card(self, listed: list[Recommendation]) -> dict[str, Any]:
        plan = self.plan
        assert plan is not None
        lines = [plan.summary]
        if listed:
            lines.append("**Also in the plan:**")
            lines.extend(f"- {r.title} ({r.action})" for r in listed)
        if plan.missing_information:
            lines.append("**To document:**")
            lines.extend(f"- {self.kb.label(m.field)}: {m.why}" for m in plan.missing_information)
        lines.append(f"Knowledge version {plan.knowledge_version}.")
        citations = [c for r in listed for c in r.citations] or [s.id for s in plan.sources]
        pathway = self.kb.show("pathway", plan.pathway)
        summary = f"Vertebral fracture plan: {pathway} pathway, {plan.phase} phase"
        ind = (
            "warning"
            if plan.pathway in ("potentially_unstable", "pathological_suspected")
            else "info"
        )
        topic = {"system": TOPIC_SYSTEM, "code": "plan-summary", "display": "Plan summary"}
        return self._card(summary, "\n".join(lines), ind, citations, topic, [], None)

    # -- order-select / order-sign ------------------------------------------------------

    def order_card(self, order: DraftOrder, conflict: DrugConflict) -> dict[str, Any]:
        name = self.kb.drug_name(conflict.drug)
        if conflict.action == "contraindicated":
            ind, verb = "critical", "Do not use"
        elif conflict.action == "avoid":
            ind, verb = "warning", "Avoid"
        else:
            ind, verb = "info", "Check before ordering"
        reason = conflict.reasons[0] if conflict.reasons else (conflict.checks or [""])[0]
        summary = f"{verb} {name}: {reason}".rstrip(": ")
        lines = []
        if conflict.reasons:
            lines.append(" ".join(conflict.reasons))
        if conflict.rationale:
            lines.append("**Because:** " + "; ".join(conflict.rationale))
        if conflict.alternatives:
            lines.append("**Alternative:** " + " ".join(conflict.alternatives))
        if conflict.unknown:
            labels = ", ".join(self.kb.label(f) for f in conflict.unknown)
            lines.append(f"**Not yet known:** {labels} — " + " ".join(conflict.checks))
        lines.append(f"**Sources:** {self._citation_text(conflict.references)}")
        suggestions = []
        if conflict.action in ("avoid", "contraindicated"):
            suggestions.append(
                {
                    "label": shorten(f"Remove the draft order ({order.label})", 80),
                    "uuid": new_uuid(),
                    "isRecommended": conflict.action == "contraindicated",
                    "actions": [
                        {
                            "type": "delete",
                            "description": f"Remove the draft {name} order",
                            "resourceId": order.reference,
                        }
                    ],
                }
            )
        topic = {
            "system": TOPIC_SYSTEM,
            "code": f"order-check:{conflict.drug}",
            "display": f"Order check: {name}",
        }
        return self._card(
            summary,
            "\n\n".join(lines),
            ind,
            conflict.references,
            topic,
            suggestions,
            ",".join(conflict.safety_ids) or None,
        )

    def info_card(self, summary: str, detail: str) -> dict[str, Any]:
        return self._card(summary, detail, "info", [], None, [], None)
