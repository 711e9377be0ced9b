"""Render the web pages from the plan and the knowledge base (Jinja2 templates in ``templates/``).

The routes in :mod:`vertebra.http.routers.web` only read the request, call the same helpers
as the JSON API and pass the results here; the template tests call these functions directly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from vertebra.engine import plan as make_plan
from vertebra.facts import FactsError, parse_facts
from vertebra.knowledge import KnowledgeBase, load
from vertebra.plan import Plan
from vertebra.web import form as webform
from vertebra.web import views

DEFAULT_DEMO = "stable-acute"


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("vertebra.web", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    kb = load()
    env.globals.update(
        kb=kb,
        ACTION_LABELS=views.ACTION_LABELS,
        GROUPS=webform.GROUPS,
        FIELDS=webform.FIELDS,
        KNOWN_SUFFIX=webform.KNOWN_SUFFIX,
        FEMALE_ONLY=webform.FEMALE_ONLY,
        words=lambda value: views.words(kb, value),
        nav=NAV,
    )
    env.filters["cites"] = views.cite_numbers
    env.filters["drug_name"] = kb.drug_name
    env.filters["source_name"] = lambda source_id: views.source_name(kb, source_id)
    return env


NAV = (
    ("plan", "/", "Plan"),
    ("knowledge", "/knowledge", "Knowledge"),
    ("fls", "/fls", "Fracture liaison"),
    ("ask", "/ask", "Ask"),
)


@dataclass(frozen=True)
class Demo:
    id: str
    title: str
    facts: dict[str, Any]


@cache
def demos() -> tuple[Demo, ...]:
    """The demo patients bundled with the web app (copies of ``examples/*.json``)."""
    folder = resources.files("vertebra.web").joinpath("demo")
    out: list[Demo] = []
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if not item.name.endswith(".json"):
            continue
        stem = item.name[: -len(".json")]
        facts = json.loads(item.read_text(encoding="utf-8"))
        title = " ".join(
            w.upper() if w[:1] in "tl" and w[1:].isdigit() else w for w in stem.split("-")
        )
        out.append(Demo(stem, title[:1].upper() + title[1:], facts))
    out.sort(key=lambda d: (d.id != DEFAULT_DEMO, d.id))
    return tuple(out)


def demo(demo_id: str) -> Demo | None:
    return next((d for d in demos() if d.id == demo_id), None)


@dataclass
class Outcome:
    """Facts → plan, or the field-named errors that stopped it."""

    facts: dict[str, Any]
    state: webform.FormState
    plan: Plan | None

    @property
    def view(self) -> views.PlanView | None:
        return views.build(self.plan, load()) if self.plan else None


def evaluate(facts: dict[str, Any], state: webform.FormState) -> Outcome:
    """Validate and plan with the helpers the JSON API uses; nothing is half-evaluated."""
    try:
        parsed = parse_facts(facts)
    except FactsError as exc:
        state.add_errors(exc.errors)
        return Outcome(facts, state, None)
    return Outcome(facts, state, make_plan(parsed))


def from_demo(d: Demo) -> Outcome:
    return evaluate(dict(d.facts), webform.state_from_facts(d.facts))


def from_form(items: list[tuple[str, str]]) -> Outcome:
    return evaluate(webform.facts_from_form(items), webform.state_from_form(items))


def _render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)


def kb() -> KnowledgeBase:
    return load()


def home_page(outcome: Outcome, current_demo: str | None) -> str:
    return _render(
        "index.html",
        active="plan",
        outcome=outcome,
        view=outcome.view,
        demos=demos(),
        current_demo=current_demo,
    )


def plan_fragment(outcome: Outcome) -> str:
    """What the form's HTMX request swaps in: the plan, and every field's error slot."""
    return _render("plan_response.html", outcome=outcome, view=outcome.view)


def print_page(outcome: Outcome) -> str:
    return _render(
        "print.html",
        outcome=outcome,
        view=outcome.view,
        facts=views.fact_lines(kb(), outcome.facts),
    )


def letter_page(outcome: Outcome, rec_id: str) -> str | None:
    view = outcome.view
    if view is None:
        return None
    rec = view.by_id.get(rec_id)
    if rec is None or rec.category != "referral":
        return None
    return _render(
        "letter.html",
        outcome=outcome,
        view=view,
        rec=rec,
        facts=views.fact_lines(kb(), outcome.facts),
    )


def error_page(outcome: Outcome) -> str:
    return _render("print_error.html", outcome=outcome)


def knowledge_page(query: str = "") -> str:
    """The knowledge browser; with ``query``, only the rows, safety rules, disagreements and
    sources whose text contains it (case-insensitive)."""
    base = kb()
    notes = {s.id: i for i, s in enumerate(base.sources, start=1)}
    tables = views.knowledge_tables(base)
    safety = list(base.safety_rows)
    conflicts = list(base.conflicts.values())
    sources = list(base.sources)
    derived = views.derived_cases(base)
    hits = 0
    if query:
        match = views.matcher(query)
        tables = [
            replace(t, rows=[r for r in t.rows if match(views.row_text(base, r))]) for t in tables
        ]
        tables = [t for t in tables if t.rows]
        safety = [r for r in safety if match(views.safety_text(base, r))]
        conflicts = [c for c in conflicts if match(c.model_dump_json())]
        sources = [s for s in sources if match(s.model_dump_json())]
        derived = [d for d in derived if match(str(d))]
        hits = sum(len(t.rows) for t in tables) + len(safety) + len(conflicts) + len(sources)
    return _render(
        "knowledge.html",
        active="knowledge",
        notes=notes,
        knowledge_tables=tables,
        derived=derived,
        safety_rows=safety,
        kb_conflicts=conflicts,
        kb_sources=sources,
        query=query,
        hits=hits,
    )


def fls_page(context: dict[str, Any]) -> str:
    return _render("fls.html", active="fls", **context)


def ask_page(question: str, answer_html: str | None, error: str | None) -> str:
    return _render(
        "ask.html",
        active="ask",
        question=question,
        answer_html=answer_html,
        error=error,
    )


def not_found_page(message: str) -> str:
    return _render("not_found.html", active="", message=message)
