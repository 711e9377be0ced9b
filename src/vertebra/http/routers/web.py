"""The clinician web app's routes. Thin: read the request, plan with the JSON API's helpers,
render. HTMX requests (``HX-Request: true``) get the plan fragment; everything else gets whole
pages, so the form also works without JavaScript."""

from __future__ import annotations

import hashlib
import logging
from functools import cache
from importlib import resources
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from vertebra.ask import answer
from vertebra.errors import InputError, describe
from vertebra.screen import labels
from vertebra.web import fls, pages

log = logging.getLogger("vertebra.web")
router = APIRouter(include_in_schema=False)

#: Every page loads only files from this server (no CDN, no inline scripts).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
STATIC_TYPES = {
    "htmx.min.js": "text/javascript; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "vertebra.css": "text/css; charset=utf-8",
    "print.css": "text/css; charset=utf-8",
}


def html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers=SECURITY_HEADERS)


async def _items(request: Request) -> list[tuple[str, str]]:
    form = await request.form()
    return [(k, v) for k, v in form.multi_items() if isinstance(v, str)]


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, demo: str | None = None, blank: str | None = None) -> HTMLResponse:
    if blank:
        outcome = await run_in_threadpool(pages.from_form, [])
        return html(pages.home_page(outcome, None))
    chosen = pages.demo(demo or pages.DEFAULT_DEMO)
    if chosen is None:
        return html(pages.not_found_page(f"There is no demo patient called {demo!r}."), 404)
    outcome = await run_in_threadpool(pages.from_demo, chosen)
    return html(pages.home_page(outcome, chosen.id))


@router.post("/", response_class=HTMLResponse)
async def update(request: Request) -> HTMLResponse:
    items = await _items(request)
    outcome = await run_in_threadpool(pages.from_form, items)
    if request.headers.get("HX-Request") == "true":
        return html(pages.plan_fragment(outcome))
    return html(pages.home_page(outcome, None), 200 if outcome.plan else 422)


@router.post("/print", response_class=HTMLResponse)
async def print_plan(request: Request) -> HTMLResponse:
    outcome = await run_in_threadpool(pages.from_form, await _items(request))
    if outcome.plan is None:
        return html(pages.error_page(outcome), 422)
    return html(pages.print_page(outcome))


@router.post("/letter/{rec_id}", response_class=HTMLResponse)
async def letter(request: Request, rec_id: str) -> HTMLResponse:
    outcome = await run_in_threadpool(pages.from_form, await _items(request))
    if outcome.plan is None:
        return html(pages.error_page(outcome), 422)
    text = pages.letter_page(outcome, rec_id)
    if text is None:
        return html(pages.not_found_page(f"The plan has no referral {rec_id!r}."), 404)
    return html(text)


@router.get("/knowledge", response_class=HTMLResponse)
async def knowledge(q: str = "") -> HTMLResponse:
    query = q.strip()[:100]
    if not query:
        return html(await run_in_threadpool(_knowledge_page))
    return html(await run_in_threadpool(pages.knowledge_page, query))


@cache
def _knowledge_page() -> str:
    return pages.knowledge_page()


# --- fracture liaison (vertebra screen output) -------------------------------------------------


def _fls_context(demo: bool = False) -> dict[str, Any]:
    kb = pages.kb()
    return {
        "screen": fls.read(fls.demo_folder() if demo else fls.folder()),
        "demo": demo,
        "real_folder": fls.folder(),
        "labels": labels,
        "demo_patients": fls.DEMO_PATIENTS,
        "demo_seed": fls.DEMO_SEED,
        "sources": {s.id: f"{s.organisation} {s.year}" for s in kb.sources},
    }


@router.get("/fls", response_class=HTMLResponse)
async def fls_view(source: str | None = None) -> HTMLResponse:
    context = await run_in_threadpool(_fls_context, source == "demo")
    return html(pages.fls_page(context))


def same_origin(request: Request) -> bool:
    """The request comes from a page of this server: the browser says so
    (``Sec-Fetch-Site: same-origin``), or its ``Origin`` (failing that, its ``Referer``) has the
    scheme, host and port the request was sent to, or those of ``VERTEBRA_PUBLIC_BASE_URL``.
    A request with none of these is refused."""
    from vertebra.security.fetch import origin

    if request.headers.get("sec-fetch-site") == "same-origin":
        # set by the browser itself (pages cannot forge it): with this app's
        # "Referrer-Policy: no-referrer" a same-origin form POST carries "Origin: null"
        return True
    sent = request.headers.get("origin")
    if not sent or sent == "null":
        sent = request.headers.get("referer")
    if not sent:
        return False
    try:
        theirs = origin(sent)
    except ValueError:
        return False
    ours = {f"{request.url.scheme}://{request.url.netloc}"}
    public = request.app.state.vertebra.settings.public_base_url
    if public:
        ours.add(public)
    for url in ours:
        try:
            if origin(url) == theirs:
                return True
        except ValueError:
            continue
    return False


@router.post("/fls/demo")
async def fls_demo(request: Request) -> Response:
    if not request.app.state.vertebra.settings.web_writes:
        return html(
            pages.not_found_page(
                "State-changing pages are switched off on this server (VERTEBRA_WEB_WRITES=false)."
            ),
            403,
        )
    if not same_origin(request):
        log.warning("POST /fls/demo refused: not sent from this server's pages")
        return html(
            pages.not_found_page(
                "Refused: this form must be sent from this server's own page (Origin check)."
            ),
            403,
        )
    await run_in_threadpool(fls.run_demo, fls.demo_folder())
    return RedirectResponse("/fls?source=demo", status_code=303)


@router.get("/fls/files/{name}")
async def fls_file(name: str, source: str | None = None) -> Response:
    if name not in fls.FILES:
        return html(pages.not_found_page(f"No file {name!r}."), 404)
    path = (fls.demo_folder() if source == "demo" else fls.folder()) / name
    if not path.is_file():
        return html(pages.not_found_page(f"{name} has not been written yet."), 404)
    kinds = {"report.html": "text/html", "worklist.csv": "text/csv"}
    kinds["kpis.json"] = "application/json"
    headers = dict(SECURITY_HEADERS) if name == "report.html" else {"Cache-Control": "no-store"}
    return FileResponse(path, media_type=kinds[name], headers=headers)


# --- ask ---------------------------------------------------------------------------------------


@cache
def _markdown() -> Any:
    """CommonMark with tables and footnotes (mdit-py-plugins); raw HTML disabled."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.footnote import footnote_plugin

    md = MarkdownIt("commonmark", {"html": False}).enable("table").use(footnote_plugin)

    def caption(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        # "[1]" for every citation of source 1 (the plugin writes "[1:1]" for repeats)
        return f"[{tokens[idx].meta['id'] + 1}]"

    md.add_render_rule("footnote_caption", caption)
    return md


def markdown_html(text: str) -> Markup:
    """Markdown → HTML: citations ``[^n]`` become linked superscripts and the ``[^n]: …``
    references a numbered list with links back. Raw HTML is disabled (the text is escaped)."""
    return Markup(_markdown().render(text))


@router.get("/ask", response_class=HTMLResponse)
async def ask_view() -> HTMLResponse:
    return html(pages.ask_page("", None, None))


@router.post("/ask", response_class=HTMLResponse)
async def ask_post(request: Request) -> HTMLResponse:
    form = await request.form()
    question = str(form.get("question") or "").strip()
    if not question:
        return html(pages.ask_page("", None, "question: please type a question"), 422)
    limit = request.app.state.vertebra.settings.max_question_chars
    if len(question) > limit:  # the same cap as POST /api/ask
        return html(
            pages.ask_page(
                question[:limit],
                None,
                f"question: is too long ({len(question)} characters; at most {limit})",
            ),
            422,
        )
    try:
        result = await run_in_threadpool(answer, question)
    except InputError as exc:  # AskError names the field
        return html(pages.ask_page(question, None, describe(exc.errors)), 422)
    return html(pages.ask_page(question, markdown_html(result.answer), None))


# --- static files ---------------------------------------------------------------------------------


@cache
def _static(name: str) -> tuple[bytes, str]:
    data = resources.files("vertebra.web").joinpath("static", name).read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:16]


@router.get("/static/{name}")
async def static(name: str, request: Request) -> Response:
    if name not in STATIC_TYPES:
        return Response("not found", status_code=404, media_type="text/plain")
    data, etag = _static(name)
    headers = {"ETag": f'"{etag}"', "Cache-Control": "no-cache"}
    headers["X-Content-Type-Options"] = "nosniff"
    if request.headers.get("if-none-match") == f'"{etag}"':
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=STATIC_TYPES[name], headers=headers)
