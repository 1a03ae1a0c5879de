"""Browser test support: headless Chromium through Playwright, one context per
page, screenshots of every page when a test fails, a stub LLM for the live server.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from testsupport.fixtures import PASSWORD
from testsupport.llm_stub import StubLLMServer, keyword_responder

# Playwright's sync API runs an event loop in this thread; the ORM calls made
# by the test itself are plain synchronous calls all the same.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


ROOT = Path(django_settings.BASE_DIR)
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ANSWER_TIMEOUT_MS = 30_000
# Runs before any page script (Playwright injects it; the policy does not apply).
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", function (event) {
  window.sqlagentCspViolation(
    event.effectiveDirective + " blocked " + (event.blockedURI || "inline") +
    " at " + (event.sourceFile || document.location.href) + ":" + event.lineNumber
  );
});
"""
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def new_page(
    browser: Browser, request: pytest.FixtureRequest
) -> Iterator[Callable[[], Page]]:
    """Open pages, each in its own browser context (its own cookies)."""
    contexts: list[BrowserContext] = []
    pages: list[Page] = []
    dialogs: list[str] = []
    csp_violations: list[str] = []

    def open_page() -> Page:
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        context.set_default_timeout(10_000)
        # The live server's first request imports the agent's libraries: on a
        # loaded 2-core machine that alone took 9-13 s.
        context.set_default_navigation_timeout(30_000)
        # Everything the Content-Security-Policy refused, however it was found:
        # the page's own event, and Chromium's console line.
        context.expose_function(
            "sqlagentCspViolation", lambda text: csp_violations.append(text)
        )
        context.add_init_script(CSP_LISTENER)
        page = context.new_page()
        page.on(
            "console",
            lambda message: (
                csp_violations.append(message.text)
                if "Content Security Policy" in message.text
                else None
            ),
        )

        # A script injected through the data would open an alert.
        def dismiss(dialog: Any) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", dismiss)
        contexts.append(context)
        pages.append(page)
        return page

    failed_before = request.session.testsfailed
    yield open_page
    # The call phase's report is logged before teardown: a higher count means
    # this test just failed, so keep what every page showed.
    if request.session.testsfailed > failed_before:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        for number, page in enumerate(pages, 1):
            try:
                page.screenshot(
                    path=str(ARTIFACTS / f"{name}-{number}.png"), full_page=True
                )
            except Exception as exc:  # a closed page has nothing to keep
                print(f"no screenshot of page {number}: {exc}")
    for context in contexts:
        context.close()
    assert not dialogs, f"a script from the data ran: {dialogs}"
    assert not csp_violations, f"the Content-Security-Policy refused: {csp_violations}"


@pytest.fixture
def stub_llm(settings: Any) -> Iterator[StubLLMServer]:
    with StubLLMServer(responder=keyword_responder()) as stub:
        settings.OPENAI_BASE_URL = stub.base_url
        settings.OPENAI_API_KEY = "sk-test"
        yield stub


def log_in(page: Page, base_url: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base_url}/")
    # The page's scripts are deferred (the chart libraries are large): until
    # they have run, Ask is a plain form post and nothing streams.
    page.wait_for_load_state("load")


DOCS = ROOT / "sqlagent_project" / "static" / "docs"


def docs_screenshot(page: Page, name: str, locator: Any = None) -> None:
    """Refresh one of the README's screenshots, with UPDATE_DOCS_SCREENSHOT=1."""
    if os.environ.get("UPDATE_DOCS_SCREENSHOT") == "1":
        target = locator if locator is not None else page
        target.screenshot(path=str(DOCS / name))
