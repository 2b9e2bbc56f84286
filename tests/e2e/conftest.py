"""End-to-end browser tests: Playwright (sync API) driving Debian's Chromium against live_server.

* Marked ``e2e`` (registered here) and skipped, with the reason, when /usr/bin/chromium or the
  ``playwright`` package is missing: ``scripts/e2e-setup`` installs both.
* Nothing leaves 127.0.0.1: Chromium's resolver maps every name but localhost to NOTFOUND, its
  background services are off, and every context aborts any request to a non-loopback host.
* Every console error and uncaught exception on any page or frame fails the test, unless the test
  declares it expected (``console.allow(regex)``: the isolation probe's blocked requests).
* Screenshots go to ``test-output/screenshots/`` (git-ignored) for a reviewer to look at.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.support import DESKTOP

CHROMIUM = Path(os.environ.get("NAQL_E2E_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
LOOPBACK = {"localhost", "127.0.0.1", "[::1]", "::1"}
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--no-first-run", "--disable-component-update", "--disable-sync", "--disable-quic",
    "--disable-domain-reliability", "--disable-breakpad", "--no-default-browser-check",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: end-to-end tests in Chromium via Playwright (scripts/e2e-setup)")


def missing_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (run scripts/e2e-setup: apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing (run scripts/e2e-setup)"
    return None


def pytest_collection_modifyitems(config, items):
    reason = missing_reason()
    if reason is None:
        return
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module. Playwright's sync API keeps an event loop running in this
    thread, so Django's async-safety check is relaxed for the module and restored after it."""
    from playwright.sync_api import sync_playwright

    mp = pytest.MonkeyPatch()
    mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()
    finally:
        pw.stop()
        mp.undo()


class ConsoleLog:
    """Console errors and page errors from every page and frame of a context."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed: list[re.Pattern] = []
        self.blocked: list[str] = []

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def on_console(self, msg) -> None:
        if msg.type == "error":
            loc = msg.location or {}
            self.errors.append(f"console.error: {msg.text} @ {loc.get('url', '?')}")

    def on_page_error(self, exc) -> None:
        self.errors.append(f"uncaught: {exc}")

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@pytest.fixture
def console():
    return ConsoleLog()


def _guard(console: ConsoleLog):
    def handler(route):
        host = (urlsplit(route.request.url).hostname or "").lower()
        if urlsplit(route.request.url).scheme in ("data", "blob", "about") or host in LOOPBACK:
            route.continue_()
        else:
            console.blocked.append(route.request.url)
            route.abort("blockedbyclient")
    return handler


@pytest.fixture
def new_page(browser, console, live_server):
    """``new_page(viewport=DESKTOP)`` → a Page in a fresh context (own cookies), guarded and logged."""
    contexts = []

    def make(viewport=None, **kw):
        kw.setdefault("locale", "en-GB")
        ctx = browser.new_context(viewport=viewport or DESKTOP, timezone_id="UTC", base_url=live_server.url, **kw)
        ctx.route("**/*", _guard(console))
        ctx.on("console", console.on_console)
        ctx.set_default_timeout(15_000)
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("pageerror", console.on_page_error)
        return page

    yield make
    for ctx in contexts:
        ctx.close()
    unexpected = console.unexpected()
    assert not unexpected, "JavaScript console errors:\n" + "\n".join(unexpected)


@pytest.fixture(scope="session")
def screenshot_dir():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def shot(screenshot_dir):
    def take(target, name: str, full_page: bool = True) -> Path:
        """A page (full page unless told) or a locator (that element only)."""
        path = screenshot_dir / f"{name}.png"
        if hasattr(target, "main_frame"):
            target.screenshot(path=str(path), full_page=full_page)
        else:
            target.screenshot(path=str(path))
        return path
    return take


def pytest_sessionfinish(session, exitstatus):  # keep the folder tidy when e2e did not run
    if SCREENSHOTS.exists() and not any(SCREENSHOTS.iterdir()):
        shutil.rmtree(SCREENSHOTS, ignore_errors=True)
