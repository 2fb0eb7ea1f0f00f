"""Headless Chromium for browser tests, through Playwright's sync API.

The browser is Debian's Chromium (``/usr/bin/chromium``, or ``$CHROMIUM``), installed by
``scripts/ensure_chromium.sh``; Playwright's own browser downloads are never used (the machine has no
network). Nothing is skipped: without Chromium a test fails and says how to install it.

Use the fixtures by importing them into a test module::

    from browser import browser, page  # noqa: F401  (pytest fixtures)

    def test_something(page):
        page.goto(url)

or, outside pytest, ``with launch_browser() as b: ...``.

``page`` records the page's JavaScript errors in ``page.js_errors`` (uncaught exceptions and
``console.error`` messages other than Chromium's "Failed to load resource" for HTTP error answers) so a
test can assert that there were none.

The fixtures are function-scoped on purpose: Playwright's sync API keeps an asyncio loop of its own
running in the thread, which would clash with pytest-asyncio / pytest-aiohttp tests run while it lives.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List

import pytest

DEFAULT_CHROMIUM = "/usr/bin/chromium"
ENSURE_SCRIPT = "scripts/ensure_chromium.sh"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

DEFAULT_VIEWPORT = {"width": 1280, "height": 900}
DEFAULT_TIMEOUT_MS = 10_000


def chromium_path() -> str:
    """The Chromium executable the tests use: ``$CHROMIUM`` or ``/usr/bin/chromium``."""
    return os.environ.get("CHROMIUM") or DEFAULT_CHROMIUM


def missing_chromium_message(path: str) -> str:
    return (
        f"Chromium not found or not executable at {path!r}. "
        f"Install it with `bash {ENSURE_SCRIPT}` (Debian packages chromium and chromium-driver), "
        "or point $CHROMIUM at a Chromium executable."
    )


def require_chromium() -> str:
    """The Chromium path; fails the current test (never skips) when it is missing."""
    path = chromium_path()
    resolved = path if os.path.sep in path else (shutil.which(path) or path)
    if not (Path(resolved).is_file() and os.access(resolved, os.X_OK)):
        pytest.fail(missing_chromium_message(path), pytrace=False)
    return resolved


@contextmanager
def launch_browser(**launch_kwargs) -> Iterator["object"]:
    """Starts Playwright and launches headless Chromium; yields the Browser, closes it at the end."""
    executable = require_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - the test extra installs playwright
        pytest.fail(f"playwright is not installed in this environment: {exc}", pytrace=False)

    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=executable,
                headless=True,
                args=list(CHROMIUM_ARGS),
                **launch_kwargs,
            )
        except Exception as exc:  # the executable exists but does not start
            pytest.fail(
                f"Chromium at {executable!r} did not start: {exc}\n"
                f"Reinstall it with `bash {ENSURE_SCRIPT}`.",
                pytrace=False,
            )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def open_page(browser, viewport=None, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> Iterator["object"]:
    """A fresh browser context (own cookies) and page; ``page.js_errors`` collects JS errors."""
    context = browser.new_context(viewport=viewport or DEFAULT_VIEWPORT)
    context.set_default_timeout(timeout_ms)
    page = context.new_page()
    errors: List[str] = []
    page.js_errors = errors  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))

    def on_console(msg) -> None:
        # HTTP error answers (401 from /me, 409 from claim, ...) are logged by Chromium as
        # "Failed to load resource": they are part of the contract, not page errors.
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            errors.append(f"console.error: {msg.text}")

    page.on("console", on_console)
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def browser():
    """A headless Chromium Browser (Playwright sync API)."""
    with launch_browser() as b:
        yield b


@pytest.fixture
def page(browser):
    """A Playwright Page in a fresh context, 1280x900, 10 s default timeout."""
    with open_page(browser) as p:
        yield p
