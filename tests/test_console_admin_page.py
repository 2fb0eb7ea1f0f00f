"""The console page against the real gateway (with a stand-in bot) in headless Chromium: an admin manages the
agents, an agent does not see that panel, and a message that could never be delivered shows until dealt with."""
from __future__ import annotations

from datetime import timedelta

import pytest
from app_thread import AppThread
from fake_bot import FakeBot
from helpers import gateway_app
from playwright.sync_api import expect

from browser import browser, page  # noqa: F401  (pytest fixtures)
from handoff.console.app import ROUTER_KEY
from handoff.db import migrate

PASSWORD = "correct horse"


@pytest.fixture
def gateway(tmp_path):
    url = f"sqlite:///{tmp_path / 'supportbot.db'}"
    migrate(url)
    app = gateway_app(url, FakeBot())
    store = app[ROUTER_KEY].store
    store.agents.create("boss", "Boss", PASSWORD, role="admin")
    store.agents.create("mari", "Mari", PASSWORD)
    with AppThread(app) as running:
        yield running, store


def sign_in(page, url: str, username: str) -> None:
    page.goto(url)
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("logout")).to_be_visible()


def test_an_admin_adds_and_deactivates_an_agent(gateway, page):  # noqa: F811  (fixtures)
    running, store = gateway
    sign_in(page, running.base + "/console/", "boss")
    page.get_by_test_id("agents-toggle").click()
    rows = page.get_by_test_id("agents-list").locator("tr")
    expect(rows).to_have_count(2)
    page.get_by_test_id("agent-username").fill("liis")
    page.get_by_test_id("agent-display-name").fill("Liis")
    page.get_by_test_id("agent-password").fill("another horse")
    page.get_by_test_id("agent-add").click()
    expect(rows).to_have_count(3)
    assert store.agents.authenticate("liis", "another horse").role == "agent"

    liis = page.locator('tr[data-username="liis"]')
    liis.get_by_test_id("agent-deactivate").click()
    expect(liis).to_contain_text("Deactivated")
    assert store.agents.authenticate("liis", "another horse") is None
    expect(page.locator('tr[data-username="boss"]').get_by_test_id("agent-deactivate")).to_have_count(0)
    assert page.js_errors == []


def test_an_agent_sees_no_agents_panel_and_deals_with_a_dead_letter(gateway, page):  # noqa: F811  (fixtures)
    running, store = gateway
    conversation = store.conversation("telegram", "42")
    store.hand_off(conversation.id, "human_request")
    reply = store.add_message(conversation.id, "agent", "Your refund is on its way", "Mari")
    store.outbox.defer(reply.id, "Telegram unreachable", timedelta(0), timedelta(0))
    store.outbox.give_up(reply.id, 12, "Telegram unreachable")

    sign_in(page, running.base + "/console/", "mari")
    expect(page.get_by_test_id("agents-toggle")).to_be_hidden()
    item = page.get_by_test_id("undelivered-item")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Your refund is on its way")
    expect(item).to_contain_text("12 tries")
    item.get_by_test_id("undelivered-dismiss").click()
    expect(page.get_by_test_id("undelivered-item")).to_have_count(0)
    assert store.outbox.undelivered() == []
    assert page.js_errors == []
