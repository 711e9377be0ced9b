"""Template tests: each section of the plan page renders exactly what the plan says."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import example
from tests.web.dom import Node, parse
from vertebra.engine import plan as make_plan
from vertebra.facts import FACT_NAMES, parse_facts
from vertebra.knowledge import KnowledgeBase
from vertebra.plan import Plan
from vertebra.web import form, pages


def render(name: str) -> tuple[Plan, Node]:
    facts = example(name)
    outcome = pages.evaluate(facts, form.state_from_facts(facts))
    assert outcome.plan is not None
    return outcome.plan, parse(pages.home_page(outcome, name))


@pytest.fixture(scope="module")
def stable() -> tuple[Plan, Node]:
    return render("stable-acute")


@pytest.fixture(scope="module")
def neuro() -> tuple[Plan, Node]:
    return render("neurological-deficit")


@pytest.fixture(scope="module")
def renal() -> tuple[Plan, Node]:
    return render("renal-impairment")


def test_web_plan_is_the_engine_plan(stable: tuple[Plan, Node]) -> None:
    plan, _ = stable
    assert plan == make_plan(parse_facts(example("stable-acute")))


def test_header_shows_summary_pathway_phase_and_knowledge_version(
    stable: tuple[Plan, Node], kb: KnowledgeBase
) -> None:
    plan, doc = stable
    header = doc.by_class("plan-header")[0]
    assert plan.summary in header.text()
    assert doc.by_id("pathway").text() == kb.show("", plan.pathway)
    assert doc.by_id("phase").text() == kb.show("", plan.phase)
    assert plan.knowledge_version in header.text()


def test_immediate_banner_only_with_immediate_actions(
    stable: tuple[Plan, Node], neuro: tuple[Plan, Node]
) -> None:
    assert not stable[1].has_id("immediate")
    plan, doc = neuro
    banner = doc.by_id("immediate")
    immediate = [r for r in plan.recommendations if r.urgency == "immediate"]
    assert immediate
    assert banner.attrs["role"] == "alert"
    assert [li.text() for li in banner.tags("li")] == [r.title for r in immediate]


def test_missing_information_prompts_link_to_their_form_fields(
    renal: tuple[Plan, Node], kb: KnowledgeBase
) -> None:
    plan, doc = renal
    section = doc.by_id("missing")
    items = section.tags("li")
    assert [li.attrs["data-field"] for li in items] == [m.field for m in plan.missing_information]
    for li, missing in zip(items, plan.missing_information, strict=True):
        link = li.tags("a")[0]
        assert link.attrs["href"] == f"#f-{missing.field}"
        assert link.text() == kb.label(missing.field)
        assert missing.why in li.text()
        assert doc.has_id(f"f-{missing.field}")  # the prompt jumps to a real field


def test_referrals_with_target_urgency_and_a_letter_each(
    neuro: tuple[Plan, Node], kb: KnowledgeBase
) -> None:
    plan, doc = neuro
    rows = doc.by_id("referrals").tags("tbody")[0].tags("tr")
    referrals = [r for r in plan.recommendations if r.category == "referral"]
    assert {row.attrs["data-rec"] for row in rows} == {r.id for r in referrals}
    order = [row.attrs["data-rec"] for row in rows]
    assert order[0] == "refer-spine-surgery-neurological-deficit"  # most urgent first
    for row in rows:
        rec = next(r for r in referrals if r.id == row.attrs["data-rec"])
        assert row.tags("th")[0].text() == kb.show("", rec.target)
        assert kb.show("", rec.urgency) in row.by_class("urgency")[0].text()
        button = row.tags("button")[0]
        assert button.attrs["formaction"] == f"/letter/{rec.id}"
        assert button.attrs["form"] == "patient-form"


def test_investigations_are_the_imaging_and_laboratory_lines(stable: tuple[Plan, Node]) -> None:
    plan, doc = stable
    shown = [n.attrs["data-rec"] for n in doc.by_id("investigations").with_attr("data-rec")]
    expected = [r.id for r in plan.recommendations if r.category in ("imaging", "laboratory")]
    assert shown == expected and expected


def test_medicines_table_dose_maximum_cautions_and_why_avoided(
    renal: tuple[Plan, Node], kb: KnowledgeBase
) -> None:
    plan, doc = renal
    rows = doc.by_id("medicines").tags("tbody")[0].tags("tr")
    drugs = [r for r in plan.recommendations if r.drug]
    assert [row.attrs["data-rec"] for row in rows] == [r.id for r in drugs]
    by_id = {row.attrs["data-rec"]: row.tags("td") for row in rows}
    heads = {row.attrs["data-rec"]: row.tags("th")[0] for row in rows}
    paracetamol = by_id["analgesia-paracetamol"]
    assert "Do" in heads["analgesia-paracetamol"].text()
    dose = paracetamol[0].text()
    assert dose.startswith("500–1000 mg orally every 4–6 hours when required")
    assert paracetamol[0].tags("span")[0].text() == "maximum 4000 mg/day"
    naproxen_rec = next(r for r in drugs if r.id == "analgesia-naproxen")
    naproxen = by_id["analgesia-naproxen"]
    assert "Avoid" in heads["analgesia-naproxen"].text()
    # an avoided medicine never shows a dose to give
    assert naproxen[0].text() == "Not to be given — see why"
    assert naproxen_rec.dose is None  # no dose to give for a drug advised against (issue 10)
    for caution in naproxen_rec.cautions:
        assert caution in naproxen[1].text()
    assert naproxen[2].text().startswith("Why avoided:")
    assert "Creatinine clearance: 24 mL/min (< 30)" in naproxen[2].text()
    th = [t.text() for t in doc.by_id("medicines").tags("thead")[0].tags("th")]
    assert th == ["Medicine and advice", "Dose and maximum", "Cautions", "Why"]
    names = [row.tags("th")[0].tags("span")[0].text() for row in rows]
    assert names == [kb.drug_name(r.drug or "") for r in drugs]


def test_procedures_show_the_guideline_disagreement_side_by_side(
    stable: tuple[Plan, Node],
) -> None:
    plan, doc = stable
    section = doc.by_id("procedures")
    procedures = [r for r in plan.recommendations if r.category == "procedure"]
    assert [n.attrs["data-rec"] for n in section.with_attr("data-rec")] == [
        r.id for r in procedures
    ]
    conflict = next(c for c in plan.conflicts if c.id == "vertebral-augmentation")
    box = section.by_class("conflict")[0]
    assert box.attrs["id"] == "conflict-vertebral-augmentation"
    positions = box.by_class("position")
    assert len(positions) == len(conflict.positions) > 1
    for node, position in zip(positions, conflict.positions, strict=True):
        source = next(x for x in plan.sources if x.id == position.source)
        assert f"{source.organisation} {source.year}" in node.text()  # a name, not an id
        assert position.source not in node.text() and position.position in node.text()
    assert conflict.followed in box.by_class("followed")[0].text()
    assert positions[0].parent is not None and "positions" in positions[0].parent.classes


def test_timeline_slots_on_a_weeks_axis(stable: tuple[Plan, Node]) -> None:
    plan, doc = stable
    section = doc.by_id("timeline")
    slots = section.by_class("slot")
    assert [s.attrs["data-slot"] for s in slots] == [t.id for t in plan.timeline]
    for slot, entry in zip(slots, plan.timeline, strict=True):
        assert slot.tags("h4")[0].text() == entry.when
        links = [a.attrs["href"] for a in slot.tags("a")]
        assert links == [f"#rec-{i}" for i in entry.recommendations]
    ticks = section.by_class("tick")
    positions = [float(t.attrs["style"].split(":")[1].strip(" %;")) for t in ticks]
    assert positions == sorted(positions) and positions[0] == 0 and positions[-1] == 100
    whens = [t.text() for t in ticks]
    for label in ("Now (day 0)", "First 24–48 hours", "4–6 weeks", "8 weeks", "3–5 years"):
        assert label in whens


def test_citations_are_numbered_footnotes_with_the_source_list(stable: tuple[Plan, Node]) -> None:
    plan, doc = stable
    sources = doc.by_id("sources").tags("li")
    assert [li.attrs["id"] for li in sources] == [f"source-{i}" for i in range(1, len(sources) + 1)]
    for li, source in zip(sources, plan.sources, strict=True):
        assert source.title in li.text()
    number = {s.id: i for i, s in enumerate(plan.sources, start=1)}
    for rec in plan.recommendations:
        node = doc.by_id(f"rec-{rec.id}")
        cites = [a.attrs["href"] for sup in node.by_class("cite") for a in sup.tags("a")]
        assert cites[: len(rec.citations)] == [f"#source-{number[c]}" for c in rec.citations]


def test_every_line_has_a_why_with_the_facts_that_fired_it(renal: tuple[Plan, Node]) -> None:
    plan, doc = renal
    for rec in plan.recommendations:
        node = doc.by_id(f"rec-{rec.id}")
        if rec.drug:  # the medicines table has its own "Why" column
            reasons = [li.text() for li in node.by_class("rationale")[0].tags("li")]
        else:
            why = node.by_class("why")[0]
            assert why.tag == "details"
            reasons = [li.text() for li in why.tags("ul")[0].tags("li")]
        assert reasons == [" ".join(r.split()) for r in rec.rationale]


def test_every_recommendation_appears_on_the_page(renal: tuple[Plan, Node]) -> None:
    plan, doc = renal
    for rec in plan.recommendations:
        assert doc.has_id(f"rec-{rec.id}"), rec.id


def test_form_has_every_fact_grouped_and_starts_unknown() -> None:
    outcome = pages.from_form([])
    doc = parse(pages.home_page(outcome, None))
    grouped = [name for _, _, names in form.GROUPS for name in names]
    assert sorted(grouped) == sorted(FACT_NAMES) and len(grouped) == len(set(grouped))
    for name in FACT_NAMES:
        assert doc.has_id(f"f-{name}")
    for name, spec in form.FIELDS.items():
        if spec.kind == "bool":
            radios = doc.with_attr("name", name)
            assert [r.attrs["value"] for r in radios] == ["yes", "no", ""]
            assert [("checked" in r.attrs) for r in radios] == [False, False, True]
        elif spec.kind in ("int", "float"):
            assert doc.by_id(f"f-{name}").attrs["value"] == ""
        elif spec.kind == "choice":
            selected = doc.by_id(f"f-{name}").with_attr("selected")
            assert selected == []
    labels = {n.attrs["for"] for n in doc.tags("label") if "for" in n.attrs}
    for node in doc.tags("select") + [i for i in doc.tags("input") if i.attrs["type"] == "text"]:
        assert node.attrs["id"] in labels, node


def test_demo_patient_fills_the_form(stable: tuple[Plan, Node]) -> None:
    _, doc = stable
    facts = example("stable-acute")
    assert doc.by_id("f-age").attrs["value"] == str(facts["age"])
    assert "checked" in doc.by_id("f-neurological_deficit-no").attrs
    assert "checked" in doc.by_id("f-fracture_levels-L1").attrs
    assert "selected" in doc.by_id("f-sex").with_attr("value", "female")[0].attrs


def test_invalid_input_names_the_field_next_to_it_and_shows_no_plan() -> None:
    items = [("age", "abc"), ("sex", "female"), ("pain_score", "11")]
    doc = parse(pages.plan_fragment(pages.from_form(items)))
    assert not doc.by_class("plan")
    assert "valid integer" in doc.by_id("err-age").text()
    assert "less than or equal to 10" in doc.by_id("err-pain_score").text()
    assert "required" in doc.by_id("err-fracture_levels").text()
    assert doc.by_id("err-sex").text() == ""  # every slot is refreshed, valid ones emptied
    links = [a.attrs["href"] for a in doc.by_id("plan-errors-title").parent.tags("a")]  # type: ignore[union-attr]
    assert set(links) == {"#f-age", "#f-pain_score", "#f-fracture_levels"}


def test_print_page_is_one_plan_with_sources(neuro: tuple[Plan, Node], kb: KnowledgeBase) -> None:
    plan, _ = neuro
    facts = example("neurological-deficit")
    doc = parse(pages.print_page(pages.evaluate(facts, form.state_from_facts(facts))))
    assert doc.tags("h1")[0].text().startswith("Management plan")
    assert doc.by_id("immediate")
    text = doc.text()
    for rec in plan.recommendations:
        if rec.drug:  # the printed medicines table: name, advice, dose, maximum
            assert kb.drug_name(rec.drug) in text
        elif rec.category != "education":  # a section's list, or the timeline after "now"
            assert " ".join(rec.title.split()) in text
        else:  # education and pitfalls stay on screen so the plan prints on one page
            assert " ".join(rec.title.split()) not in text
    assert len(doc.by_class("print-sources")[0].tags("li")) == len(plan.sources)
    assert doc.with_attr("href", "/static/print.css")


def test_referral_letter_for_each_referral(neuro: tuple[Plan, Node], kb: KnowledgeBase) -> None:
    plan, _ = neuro
    facts = example("neurological-deficit")
    outcome = pages.evaluate(facts, form.state_from_facts(facts))
    for rec in (r for r in plan.recommendations if r.category == "referral"):
        text = pages.letter_page(outcome, rec.id)
        assert text is not None
        doc = parse(text)
        assert doc.tags("h1")[0].text() == f"Referral: {kb.show('', rec.target)}"
        assert kb.show("", rec.urgency) in doc.by_class("urgency-line")[0].text()
        assert rec.title in doc.text() and rec.detail in doc.text()
        for reason in rec.rationale:
            assert " ".join(reason.split()) in doc.text()
        assert "Neurological deficit: yes" in doc.text()
    assert pages.letter_page(outcome, "analgesia-paracetamol") is None
    assert pages.letter_page(outcome, "no-such-rule") is None


def test_knowledge_browser_lists_every_table_and_row(kb: KnowledgeBase) -> None:
    doc = parse(pages.knowledge_page())
    assert doc.by_id("knowledge-version").text() == kb.version
    for table in kb.tables:
        section = doc.by_id(f"table-{table.table.id}")
        assert table.table.title in section.text()
        for row in table.rows:
            node = doc.by_id(f"row-{row.row.id}")
            assert row.row.then.title in node.text()
            assert row.row.annotation.split()[0] in node.text()
            if row.text:
                assert " ".join(row.text.split()) in node.text()
            assert len(node.by_class("cite")) == len(row.row.references)
    for srow in kb.safety_rows:
        assert srow.row.reason in doc.by_id(f"row-{srow.row.id}").text()
    assert len(doc.by_id("sources").tags("li")) == len(kb.sources)
    for conflict_id in kb.conflicts:
        assert doc.has_id(f"conflict-{conflict_id}")


@pytest.mark.parametrize("name", [d.id for d in pages.demos()])
def test_every_demo_patient_renders_a_plan(name: str) -> None:
    d = pages.demo(name)
    assert d is not None
    outcome = pages.from_demo(d)
    assert outcome.plan is not None
    doc = parse(pages.home_page(outcome, name))
    assert doc.by_class("plan")[0].attrs["data-pathway"] == outcome.plan.pathway


def test_plain_text_is_escaped() -> None:
    outcome = pages.from_form([("age", "<script>alert(1)</script>"), ("sex", "female")])
    html = pages.plan_fragment(outcome)
    assert "<script>alert(1)</script>" not in html
    doc: Any = parse(pages.home_page(outcome, None))
    assert doc.by_id("f-age").attrs["value"] == "<script>alert(1)</script>"
