"""HTTP behaviour of the web routes (in-process client; the browser tests use a real server)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.conftest import EXAMPLES
from tests.web.conftest import example
from tests.web.dom import parse
from vertebra.http.routers.web import SECURITY_HEADERS
from vertebra.http.testing import ASGIClient
from vertebra.web import fls, pages

STATIC = Path(pages.__file__).parent / "static"


def test_home_opens_on_the_stable_acute_demo_plan(client: ASGIClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    doc = parse(response.text)
    assert doc.by_id("f-age").attrs["value"] == str(example("stable-acute")["age"])
    assert doc.by_class("plan")[0].attrs["data-pathway"] == "stable"
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value


def test_demo_link_loads_a_demo_patient(client: ASGIClient) -> None:
    doc = parse(client.get("/?demo=neurological-deficit").text)
    assert doc.has_id("immediate")
    assert client.get("/?demo=nobody").status_code == 404


def test_htmx_post_returns_the_plan_fragment(client: ASGIClient) -> None:
    data = {"age": "80", "sex": "male", "fracture_levels": ["T12"], "neurological_deficit": "yes"}
    response = client.post("/", data=data, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<html" not in response.text
    doc = parse(response.text)
    assert doc.has_id("immediate")
    assert doc.by_id("plan-status").attrs["hx-swap-oob"] == "true"


def test_post_without_javascript_returns_the_whole_page(client: ASGIClient) -> None:
    ok = client.post("/", data={"age": "80", "sex": "male", "fracture_levels": "T12"})
    assert ok.status_code == 200 and "<html" in ok.text
    bad = client.post("/", data={"age": "eighty", "sex": "male", "fracture_levels": "T12"})
    assert bad.status_code == 422
    doc = parse(bad.text)
    assert "valid integer" in doc.by_id("err-age").text()
    assert doc.by_id("f-age").attrs["value"] == "eighty"
    assert doc.by_id("f-age").attrs["aria-invalid"] == "true"


def test_print_and_letters(client: ASGIClient) -> None:
    data = {"age": "80", "sex": "male", "fracture_levels": "T12", "neurological_deficit": "yes"}
    assert "Management plan" in client.post("/print", data=data).text
    letter = client.post("/letter/refer-spine-surgery-neurological-deficit", data=data)
    assert letter.status_code == 200 and "Referral:" in letter.text
    assert client.post("/letter/analgesia-paracetamol", data=data).status_code == 404
    assert client.post("/print", data={"age": "80"}).status_code == 422


def test_web_routes_are_not_in_the_api_schema(client: ASGIClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not any(
        p == "/" or p.startswith(("/print", "/letter", "/fls", "/static")) for p in paths
    )
    assert "/api/plan" in paths


def test_static_files_are_served_locally(client: ASGIClient) -> None:
    htmx = client.get("/static/htmx.min.js")
    assert htmx.status_code == 200
    assert htmx.headers["content-type"].startswith("text/javascript")
    notice = (STATIC / "NOTICE.md").read_text(encoding="utf-8")
    assert hashlib.sha256(htmx.content).hexdigest() in notice
    assert "2.0.11" in notice and "0BSD" in notice
    css = client.get("/static/vertebra.css")
    assert css.headers["content-type"].startswith("text/css")
    again = client.get("/static/vertebra.css", headers={"If-None-Match": css.headers["etag"]})
    assert again.status_code == 304
    assert client.get("/static/NOTICE.md").status_code == 404
    assert client.get("/static/..%2Fpages.py").status_code == 404


def test_pages_reference_no_external_resources(client: ASGIClient) -> None:
    for url in ("/", "/knowledge", "/fls", "/ask"):
        doc = parse(client.get(url).text)
        for node in doc.tags("script") + doc.tags("link"):
            target = node.attrs.get("src") or node.attrs.get("href") or ""
            assert target.startswith(("/static/", "data:")), target


def test_demo_patients_are_the_examples() -> None:
    bundled = {d.id: d.facts for d in pages.demos()}
    shipped = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in EXAMPLES.glob("*.json")}
    assert bundled == shipped


def test_knowledge_page(client: ASGIClient) -> None:
    response = client.get("/knowledge")
    assert response.status_code == 200 and "Contents" in response.text


def test_fls_page_before_and_after_the_demo_screen(client: ASGIClient, data_dir: Path) -> None:
    folder = data_dir / "fls"
    assert fls.folder() == folder
    if not (folder / "kpis.json").exists():
        doc = parse(client.get("/fls").text)
        assert "No screening results" in doc.text()
        assert client.get("/fls/files/kpis.json").status_code == 404
    response = client.post("/fls/demo", headers={"Origin": "http://testserver"})
    assert response.status_code == 303 and response.headers["location"] == "/fls?source=demo"
    folder = fls.demo_folder()
    kpis = json.loads((folder / "kpis.json").read_text(encoding="utf-8"))
    doc = parse(client.get("/fls?source=demo").text)
    tiles = doc.by_class("kpi")
    assert [t.attrs["data-kpi"] for t in tiles] == [i["id"] for i in kpis["indicators"]]
    first = kpis["indicators"][0]
    assert f"{first['numerator']} of {first['denominator']}" in tiles[0].text()
    assert doc.by_id("fls-patients").text() == str(kpis["population"]["patients"])
    rows = doc.by_class("worklist")[0].tags("tbody")[0].tags("tr")
    lines = (folder / "worklist.csv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == min(len(lines) - 1, fls.MAX_ROWS)
    # ordered by priority: the plan-safety gaps first, then the most care gaps
    import csv
    import io

    from vertebra.screen import labels

    text = (folder / "worklist.csv").read_text(encoding="utf-8")
    ranked = labels.by_priority(list(csv.DictReader(io.StringIO(text))))
    assert rows[0].tags("td")[0].text() == "1"
    assert ranked[0]["patient_id"][:8] == rows[0].tags("td")[3].text()
    assert ranked[0]["patient_name"] == rows[0].tags("td")[1].text()
    headers = [th.text() for th in doc.by_class("worklist")[0].tags("th")]
    assert "Care gaps" in headers and not any("_" in h for h in headers)
    assert client.get("/fls/files/worklist.csv?source=demo").text.splitlines() == lines
    assert client.get("/fls/files/worklist.parquet").status_code == 404


def test_fls_folder_problems_are_reported(tmp_path: Path) -> None:
    assert fls.read(tmp_path).problem == "No screening results in this folder yet."
    (tmp_path / "kpis.json").write_text("[1]", encoding="utf-8")
    assert fls.read(tmp_path).problem == "kpis.json is not a JSON object"
    (tmp_path / "kpis.json").write_text("{", encoding="utf-8")
    problem = fls.read(tmp_path).problem
    assert problem is not None and problem.startswith("kpis.json cannot be read")


def test_ask_page_shows_markdown_and_never_runs_raw_html() -> None:
    from vertebra.http.routers.web import markdown_html

    html = parse(str(markdown_html("**Paracetamol** first <b>x</b>")))
    assert html.tags("strong")[0].text() == "Paracetamol"
    assert not html.tags("b")  # raw HTML in an answer is shown as text, never run


def test_ask_page_refuses_an_empty_question(client: ASGIClient) -> None:
    response = client.post("/ask", data={"question": " "})
    assert response.status_code == 422
    assert "question" in parse(response.text).by_class("field-error")[0].text()


def test_ask_page_answers_from_vertebra_ask(client: ASGIClient) -> None:
    doc = parse(client.get("/ask").text)
    assert doc.by_id("question").tag == "textarea"
    response = client.post("/ask", data={"question": "What is the maximum dose of paracetamol?"})
    assert response.status_code == 200
    answer = parse(response.text).by_class("answer")[0]
    assert "4000" in answer.text()
    too_long = client.post("/ask", data={"question": "x" * 100_000})
    assert too_long.status_code in (413, 422)


def test_fls_demo_never_overwrites_real_results_and_needs_same_origin(
    client: ASGIClient, data_dir: Path
) -> None:
    """Issue 14 item 7: a cross-site POST (or one with no Origin) is refused; the demo writes
    to its own folder; VERTEBRA_WEB_WRITES=false switches the route off."""
    real = fls.folder()
    real.mkdir(parents=True, exist_ok=True)
    (real / "worklist.csv").write_text("patient_id\nreal-1\n", encoding="utf-8")
    for headers in (
        {},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://testserver.evil.example"},
        {"Referer": "https://evil.example/page"},
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
    ):
        assert client.post("/fls/demo", headers=headers).status_code == 403
    assert client.post("/fls/demo", headers={"Origin": "http://testserver"}).status_code == 303
    same = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}  # a browser, no-referrer policy
    assert client.post("/fls/demo", headers=same).status_code == 303
    assert (real / "worklist.csv").read_text(encoding="utf-8") == "patient_id\nreal-1\n"
    assert (fls.demo_folder() / "worklist.csv").is_file()


def test_fls_demo_can_be_switched_off(tmp_path: Path, data_dir: Path) -> None:
    from vertebra.http import create_app
    from vertebra.settings import Settings

    app = create_app(
        Settings(
            database_url=f"sqlite:///{tmp_path / 'a.sqlite3'}", auth="disabled", web_writes=False
        )
    )
    try:
        r = ASGIClient(app).post("/fls/demo", headers={"Origin": "http://testserver"})
        assert r.status_code == 403 and "VERTEBRA_WEB_WRITES" in r.text
    finally:
        app.state.vertebra.close()


def test_ask_page_caps_the_question_length(client: ASGIClient) -> None:
    """Issue 14 item 4: the web form has the same cap as POST /api/ask."""
    limit = client.app.state.vertebra.settings.max_question_chars
    r = client.post("/ask", data={"question": "1" * (limit + 1)})
    assert r.status_code == 422 and "too long" in r.text


def test_ask_answer_footnotes_render_as_a_reference_list() -> None:
    """Issue 12: the markdown library's footnote plugin renders citations and references."""
    from vertebra.http.routers.web import markdown_html

    html = str(
        markdown_html(
            "Paracetamol.[^1][^2] Again.[^1]\n\n## References\n\n"
            "[^1]: Title one. Org, 2020. <https://example.org>\n"
            "[^2]: Title <b>two</b>.\n"
        )
    )
    assert "[^" not in html
    assert html.count('class="footnote-item"') == 2
    assert '<a href="#fn1" id="fnref1">[1]</a>' in html
    assert '<a href="#fn1" id="fnref1:1">[1]</a>' in html  # a repeat is still "[1]"
    assert "&lt;b&gt;two&lt;/b&gt;" in html  # raw HTML stays escaped
