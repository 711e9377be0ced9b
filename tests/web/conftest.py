"""Web app fixtures: an in-process client, a real uvicorn server on loopback, and headless
Chromium (Debian's ``chromium`` driven by Playwright)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES, ROOT
from vertebra.http import create_app
from vertebra.http.testing import ASGIClient, LoopbackServer
from vertebra.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts" / "web"
#: axe-core from npm (package.json; `scripts/bootstrap --system` runs `npm ci`).
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe(page: Any, name: str) -> list[dict[str, Any]]:
    """Run axe-core (WCAG 2.1 A and AA rules) on the page; write the results to
    test-artifacts/web/axe-NAME.json and return the violations. The page's context must be
    made with ``bypass_csp=True`` (the app's CSP rightly refuses injected scripts)."""
    if not AXE.exists():
        message = f"{AXE} is missing: run `npm ci` (scripts/bootstrap --system does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result: dict[str, Any] = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    summary = {
        "url": result.get("url"),
        "tags": AXE_TAGS,
        "axe_version": result.get("testEngine", {}).get("version"),
        "violations": [
            {
                "id": v["id"],
                "impact": v["impact"],
                "help": v["help"],
                "nodes": [n["target"] for n in v["nodes"]],
            }
            for v in result["violations"]
        ],
        "passes": len(result["passes"]),
        "incomplete": [
            {"id": v["id"], "nodes": [n["target"] for n in v["nodes"]]}
            for v in result["incomplete"]
        ],
    }
    (ARTIFACTS / f"axe-{name}.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    violations: list[dict[str, Any]] = summary["violations"]
    return violations


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """VERTEBRA_DATA_DIR for the whole session: the FLS page reads <data_dir>/fls."""
    folder = tmp_path_factory.mktemp("vertebra-data")
    old = os.environ.get("VERTEBRA_DATA_DIR")
    os.environ["VERTEBRA_DATA_DIR"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("VERTEBRA_DATA_DIR", None)
    else:
        os.environ["VERTEBRA_DATA_DIR"] = old


def _app(folder: Path) -> Any:
    return create_app(
        Settings(database_url=f"sqlite:///{folder / 'audit.sqlite3'}", auth="disabled")
    )


@pytest.fixture(scope="session")
def client(data_dir: Path) -> Iterator[ASGIClient]:
    app = _app(data_dir)
    yield ASGIClient(app)
    app.state.vertebra.close()


@pytest.fixture(scope="session")
def live_url(data_dir: Path) -> Iterator[str]:
    """The real app served by uvicorn on a free loopback port."""
    app = _app(data_dir)
    with LoopbackServer(app) as url:
        yield url
    app.state.vertebra.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium package")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def page(browser: Any, live_url: str) -> Iterator[Any]:
    """A fresh browser tab on the live server that fails the test on any request elsewhere."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=live_url)
    outside: list[str] = []
    context.on(
        "request",
        lambda request: None if request.url.startswith(live_url) else outside.append(request.url),
    )
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.set_default_timeout(10_000)
    yield tab
    context.close()
    assert not outside, f"the page loaded something from outside the server: {outside}"
    assert not errors, f"JavaScript errors: {errors}"
