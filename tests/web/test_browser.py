"""End to end in real headless Chromium against the real app served by uvicorn: what a
clinician sees. Screenshots go to test-artifacts/web/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser


def plan_updated(page: Any) -> None:
    """Wait for the HTMX request the last change started to finish."""
    page.locator("#patient-form.htmx-request").wait_for(state="detached")
    page.locator("#plan[aria-busy=false]").wait_for()


def change_and_wait(page: Any, action: Any) -> None:
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/")):
        action()
    plan_updated(page)


def test_stable_acute_opens_on_a_real_plan(page: Any, artifacts: Path) -> None:
    page.goto("/")
    assert page.title() == "Plan — vertebra"
    plan = page.locator("#plan")
    assert plan.get_by_role("heading", name="Management plan").is_visible()
    assert page.locator("#pathway").inner_text() == "stable"
    assert page.locator("#phase").inner_text() == "acute (0–4 weeks)"
    assert page.locator("#immediate").count() == 0
    assert page.locator("#f-age").input_value() == "72"
    page.screenshot(path=str(artifacts / "stable-acute.png"), full_page=False)
    page.screenshot(path=str(artifacts / "stable-acute-full.png"), full_page=True)
    paracetamol = page.locator("#medicines tr[data-drug=paracetamol]")
    assert "maximum 4000 mg/day" in paracetamol.inner_text()
    assert "Do" in paracetamol.locator(".badge").text_content()
    referrals = page.locator("#referrals tbody tr")
    assert "fracture liaison service" in referrals.first.inner_text()
    conflict = page.locator("#procedures .conflict .position")
    assert conflict.count() > 2
    boxes = [conflict.nth(i).bounding_box() for i in range(2)]
    assert boxes[0]["y"] == boxes[1]["y"] and boxes[0]["x"] < boxes[1]["x"]  # side by side
    assert page.locator("#timeline .tick").count() == page.locator("#timeline .slot").count()
    # "Why" opens with the facts that fired the line
    rec = page.locator("#rec-mobilise-limited-bed-rest")
    rec.locator("summary").click()
    assert "Neurological deficit: no" in rec.locator(".why ul").inner_text()
    # a footnote goes to its source
    rec.locator(".cite a").first.click()
    assert "#source-" in page.url


def test_neurological_deficit_shows_the_red_banner(page: Any, artifacts: Path) -> None:
    page.goto("/")
    page.get_by_role("link", name="Neurological deficit").click()
    page.wait_for_url("**/?demo=neurological-deficit")
    banner = page.locator("#immediate")
    assert banner.is_visible()
    text = banner.inner_text()
    assert "Immediate actions" in text
    assert "Immediate referral to orthopaedic spine surgery or neurosurgery" in text
    colour = banner.evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(164, 20, 28)"
    first = page.locator("#referrals tbody tr").first
    assert "spine surgery" in first.inner_text() and "immediate" in first.inner_text()
    page.screenshot(path=str(artifacts / "neurological-deficit.png"))


def test_plan_updates_as_the_form_changes(page: Any, artifacts: Path) -> None:
    page.goto("/")
    assert page.locator("#immediate").count() == 0
    change_and_wait(page, lambda: page.locator("#f-neurological_deficit-yes").check())
    assert page.locator("#immediate").is_visible()
    assert "spine surgery" in page.locator("#immediate").inner_text()
    assert page.locator("#pathway").inner_text() == "potentially unstable"
    assert "Plan updated" in page.locator("#plan-status").inner_text()
    change_and_wait(page, lambda: page.locator("#f-neurological_deficit-unknown").check())
    assert page.locator("#immediate").count() == 0
    assert page.locator("#missing li[data-field=neurological_deficit]").count() == 1


def test_renal_impairment_avoids_nsaids_and_says_why(page: Any, artifacts: Path) -> None:
    page.goto("/?demo=renal-impairment")
    naproxen = page.locator("#medicines tr[data-drug=naproxen]")
    assert "Avoid" in naproxen.locator(".badge").text_content()
    why = naproxen.locator("td").nth(4).inner_text()
    assert "Why avoided" in why and "Creatinine clearance: 24 mL/min (< 30)" in why
    assert "severe renal impairment" in naproxen.inner_text()
    alendronate = page.locator("#medicines tr[data-drug=alendronate]")
    assert "Avoid" in alendronate.inner_text() and "below 35 mL/min" in alendronate.inner_text()
    naproxen.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "renal-impairment.png"))
    # the same change typed into the stable patient's form
    page.goto("/")
    assert "Consider" in page.locator("#medicines tr[data-drug=naproxen] .badge").text_content()
    field = page.locator("#f-creatinine_clearance")
    change_and_wait(page, lambda: (field.fill("24"), field.press("Tab")))
    assert "Avoid" in page.locator("#medicines tr[data-drug=naproxen] .badge").text_content()


def test_missing_information_prompt_jumps_to_the_field(page: Any) -> None:
    page.goto("/?demo=minimal-unknowns")
    prompt = page.locator("#missing li[data-field=neurological_deficit] a")
    prompt.click()
    focused = page.evaluate("() => document.activeElement.id")
    assert focused.startswith("f-neurological_deficit")
    page.keyboard.press("ArrowLeft")  # radio group: move to "No"
    plan_updated(page)
    page.locator("#missing li[data-field=neurological_deficit]").wait_for(state="detached")


def test_invalid_input_is_named_next_to_the_field(page: Any, artifacts: Path) -> None:
    page.goto("/")
    field = page.locator("#f-pain_score")
    change_and_wait(page, lambda: (field.fill("12"), field.press("Tab")))
    error = page.locator("#err-pain_score")
    assert error.is_visible() and "less than or equal to 10" in error.inner_text()
    assert page.locator(".plan").count() == 0
    assert "please correct the form" in page.locator("#plan").inner_text()
    page.screenshot(path=str(artifacts / "invalid-input.png"))
    change_and_wait(page, lambda: (field.fill("6"), field.press("Tab")))
    assert not error.is_visible()
    assert page.locator(".plan").count() == 1


def test_print_plan_and_referral_letter(page: Any, artifacts: Path) -> None:
    page.goto("/?demo=neurological-deficit")
    with page.expect_popup() as popup:
        page.get_by_role("button", name="Print plan").click()
    printed = popup.value
    printed.wait_for_load_state()
    assert printed.locator("h1").inner_text().startswith("Management plan")
    assert "spine surgery" in printed.locator("#immediate").inner_text()
    printed.emulate_media(media="print")
    assert not printed.locator(".print-toolbar").is_visible()
    printed.screenshot(path=str(artifacts / "print-plan.png"), full_page=True)
    pdf = printed.pdf(format="A4", print_background=True)
    (artifacts / "print-plan.pdf").write_bytes(pdf)
    pages = pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")
    assert pages <= 2, f"the printed plan takes {pages} A4 pages"  # docs/web.md: one or two
    printed.close()
    with page.expect_popup() as popup:
        page.locator("#rec-refer-spine-surgery-neurological-deficit button").click()
    letter = popup.value
    letter.wait_for_load_state()
    assert letter.locator("h1").inner_text().startswith("Referral: spine surgery")
    assert "immediate" in letter.locator(".urgency-line").inner_text()
    assert "Neurological deficit: yes" in letter.locator("body").inner_text()
    letter.screenshot(path=str(artifacts / "referral-letter.png"), full_page=True)


def test_keyboard_only(page: Any) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to content"
    page.locator("#f-hospitalised-unknown").focus()
    page.keyboard.press("ArrowLeft")  # → "No"
    plan_updated(page)
    assert page.locator("#f-hospitalised-no").is_checked()
    page.locator("#f-sex").focus()
    page.keyboard.press("ArrowDown")
    plan_updated(page)
    assert page.locator("#f-sex").input_value() in ("female", "male", "")


def test_narrow_screen(browser: Any, live_url: str, artifacts: Path) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=live_url)
    try:
        page = context.new_page()
        for url in ("/?demo=renal-impairment", "/knowledge", "/fls"):
            page.goto(url)
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{url} scrolls sideways by {overflow}px"
        page.goto("/?demo=neurological-deficit")
        assert page.locator("#immediate").is_visible()
        page.screenshot(path=str(artifacts / "narrow.png"))
    finally:
        context.close()


def test_knowledge_browser(page: Any) -> None:
    page.goto("/knowledge")
    version = page.locator("#knowledge-version").inner_text()
    assert version and version[0].isdigit()
    page.get_by_role("link", name="Vertebral augmentation and open surgery").first.click()
    assert page.url.endswith("#table-procedures")
    assert page.locator("#table-procedures .kb-row").count() > 3


def test_fls_page_runs_the_demo_screen(page: Any, artifacts: Path) -> None:
    page.goto("/fls")
    page.get_by_role("button", name="Run the demo screen").click()
    page.wait_for_url("**/fls?source=demo")
    assert page.locator(".kpi").count() >= 4
    assert "Vertebral fractures identified" in page.locator(".kpis").inner_text()
    assert page.locator(".worklist tbody tr").count() > 10
    page.screenshot(path=str(artifacts / "fls.png"))


def test_ask_answer_renders_citations_and_references(page: Any, artifacts: Path) -> None:
    """Issue 12: citations are linked superscripts, references a numbered list (not literal
    ``[^1]`` and not one run-together paragraph)."""
    page.goto("/ask")
    page.get_by_label("Question").fill("81F T12 #, 3/52, neuro intact, pain 7/10. next steps?")
    page.get_by_role("button", name="Ask").click()
    page.locator("#answer .footnotes").wait_for()
    answer = page.locator("#answer")
    assert "[^" not in answer.inner_text()
    refs = page.locator("#answer .footnotes li")
    assert refs.count() >= 2
    first_ref = page.locator("#answer sup.footnote-ref a").first
    assert first_ref.inner_text() == "[1]"
    first_ref.click()
    assert page.url.endswith("#fn1")
    assert page.locator("#fn1").is_visible()
    page.screenshot(path=str(artifacts / "ask-footnotes.png"), full_page=True)
