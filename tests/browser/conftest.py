"""Browser tests: Playwright drives Debian's Chromium against the console served by daphne.

One daphne and one Chromium serve the whole package; every test gets a fresh browser context (its own
cookies) and its own rows, committed (`django_db(transaction=True)`) so that daphne sees them.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.contrib.auth.hashers import make_password
from django.db import connection
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.browser.pages import SCREENSHOTS
from tests.browser.server import ConsoleServer, ControlWorker
from tests.factories import make_member, make_user

#: Debian's Chromium (apt-get install chromium); `playwright install` is never needed.
CHROMIUM = os.environ.get("LVSWEB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
#: The width the console is designed for (issue 7: readable at 1280 px).
VIEWPORT = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
#: How long a click or an expectation waits: generous, since CI shares two cores with the whole suite.
ACTION_TIMEOUT = 15_000
expect.set_options(timeout=ACTION_TIMEOUT)
PASSWORD = "a long test passphrase"
#: Reports each `securitypolicyviolation` event on the console (added to every page before its own scripts).
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (event) {
  console.error("CSP violation: " + event.violatedDirective + " blocked " + (event.blockedURI || "inline code") +
    " in " + event.sourceFile + ":" + event.lineNumber);
});
"""
CSP_MESSAGE = re.compile(r"Content Security Policy|CSP violation")
#: Blocks the policy is meant to make: ReDoc always shows Redocly's logo from their CDN (it hides the image when
#: the load fails); the console loads nothing from other sites.
INTENDED_BLOCKS = ("https://cdn.redoc.ly/redoc/logo-mini.svg",)


def csp_violation(text: str) -> bool:
    """Whether a console message reports a policy violation that is not one of INTENDED_BLOCKS."""
    return bool(CSP_MESSAGE.search(text)) and not any(url in text for url in INTENDED_BLOCKS)


def off_the_browser_thread(function, /, **kwargs):
    """function(**kwargs) in a thread of its own, for code that sends Channels events (async_to_sync), which
    refuses to run beside the asyncio loop Playwright keeps in this thread; its database connection is closed
    after."""

    def call():
        try:
            return function(**kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


@pytest.fixture(scope="package")
def console_server(django_db_setup, tmp_path_factory):
    """daphne on the test database (created by pytest-django) and the test Redis database."""
    server = ConsoleServer(tmp_path_factory.mktemp("console"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def chromium() -> Browser:
    """Headless Chromium, launched once for the package."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM}: apt-get install chromium", pytrace=False)
    for stale in SCREENSHOTS.glob("failed-*.png"):  # a failure picture belongs to the run that failed
        stale.unlink()
    # Playwright's synchronous API keeps an asyncio loop marked as running in this thread while it is started,
    # which Django takes for an async context and refuses ORM calls in. The tests are synchronous code that
    # only waits on the browser between ORM calls, so the check is lifted exactly while Playwright runs.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test, so that the page fixture knows whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@contextlib.contextmanager
def browser_tab(chromium: Browser, server: ConsoleServer, request, **options) -> Iterator[Page]:
    """A tab in a fresh browser context (its own cookies) on the console; fails the test on any uncaught
    JavaScript error, and leaves artifacts/screenshots/failed-<test>.png when the test failed."""
    context = chromium.new_context(base_url=server.url, **options)
    context.set_default_timeout(ACTION_TIMEOUT)
    # Every Content-Security-Policy violation is written to the console, where the tab collects it: the
    # browser's own message ("Refused to execute inline script …") and, from this listener, the event itself.
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    tab = context.new_page()
    script_errors: list[str] = []
    violations: list[str] = []
    tab.on("pageerror", lambda error: script_errors.append(f"{tab.url}: {error}"))
    tab.on(
        "console",
        lambda message: violations.append(f"{tab.url}: {message.text}") if csp_violation(message.text) else None,
    )
    yield tab
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
        tab.screenshot(path=str(SCREENSHOTS / f"failed-{name}.png"), full_page=True)
        print(server.output())
    context.close()
    assert not script_errors, "JavaScript errors on the page:\n" + "\n".join(script_errors)
    assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)


@pytest.fixture
def page(chromium: Browser, console_server: ConsoleServer, request) -> Iterator[Page]:
    """A browser tab 1280 px wide, the width the console is designed for."""
    with browser_tab(chromium, console_server, request, viewport=VIEWPORT) as tab:
        yield tab


@pytest.fixture
def phone(chromium: Browser, console_server: ConsoleServer, request) -> Iterator[Page]:
    """A browser tab the size of a phone held upright (390 × 844 CSS pixels, touch)."""
    with browser_tab(chromium, console_server, request, viewport=PHONE, is_mobile=True, has_touch=True) as tab:
        yield tab


@functools.cache
def password_hash() -> str:
    """PASSWORD hashed once (PBKDF2 is slow on purpose); every test's user gets a copy."""
    return make_password(PASSWORD)


@pytest.fixture
def operator(transactional_db):
    """Olivia, an operator of the default team (“Ops”): may change its clusters, plan, apply and drain."""
    user = make_user(staff=False, username="olivia")
    user.password = password_hash()
    user.save(update_fields=["password"])
    make_member(user, role="operator")
    return user


@pytest.fixture(scope="package")
def control_worker(console_server, tmp_path_factory):
    """A real control worker (records agents' reports, sends their events to the browsers), started by the
    first test that needs one and kept for the package."""
    worker = ControlWorker(tmp_path_factory.mktemp("control"))
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()
