"""End to end, in headless Chromium against the real stack: a customer message triggers a handoff, an agent
logs in, claims and replies, the customer gets the reply while the bot stays silent, and after the agent
returns the conversation the bot answers again."""
from __future__ import annotations

import json
import urllib.request

import pytest
from browser import browser, page  # noqa: F401  (pytest fixtures)

from handoff.store import HandoffStore
from supportbot.stack import send

pytestmark = pytest.mark.slow

CUSTOMER = "e2e-customer-anna"


def fetch_messages(settings, after: int = 0) -> dict:
    url = f"http://{settings.host}:{settings.gateway_port}/webhooks/rest/messages?sender={CUSTOMER}&after={after}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {settings.rest_api_token}"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.loads(reply.read())


def test_handoff_to_an_agent_and_back_in_the_browser(live_bot, page):
    store = HandoffStore.open(live_bot.database_url, run_migrations=False)
    store.agents.create("mari", "Mari", "correct horse battery")

    replies = send(live_bot.rest_url, CUSTOMER, "Hi, I'm Anna. I want to talk to a real person please", token=live_bot.rest_api_token)
    kinds = [r["custom"]["kind"] for r in replies]
    assert kinds == ["handoff", "queue_status"], replies
    conversation = store.find("rest", CUSTOMER)
    assert conversation.state == "waiting"

    page.goto(live_bot.console_url)
    page.get_by_test_id("login-username").fill("mari")
    page.get_by_test_id("login-password").fill("correct horse battery")
    page.get_by_test_id("login-submit").click()
    item = page.locator(f'[data-testid="queue-waiting"] [data-testid="queue-item"][data-conversation-id="{conversation.id}"]')
    item.wait_for()
    assert "Anna" in item.inner_text()
    item.click()
    page.get_by_test_id("claim").click()
    page.get_by_test_id("return-to-bot").wait_for()
    assert store.get(conversation.id).agent.username == "mari"

    page.get_by_test_id("composer").fill("Hi Anna, this is Mari. How can I help?")
    page.get_by_test_id("composer").press("Enter")
    page.locator('[data-testid="message"][data-role="agent"]', has_text="this is Mari").wait_for()

    fetched = fetch_messages(live_bot)
    assert fetched["state"] == "agent" and fetched["agent"] == "Mari"
    texts = [m["text"] for m in fetched["messages"]]
    assert "Hi Anna, this is Mari. How can I help?" in texts
    assert any("Mari" in t for t in texts if t != "Hi Anna, this is Mari. How can I help?")  # told who joined

    assert send(live_bot.rest_url, CUSTOMER, "How do I pay my bill?", token=live_bot.rest_api_token) == []  # the bot is silent
    page.locator('[data-testid="message"][data-role="customer"]', has_text="How do I pay my bill?").wait_for()
    last_seen = fetch_messages(live_bot)["messages"][-1]["id"]
    assert [m["role"] for m in fetch_messages(live_bot, last_seen)["messages"]] == []

    page.get_by_test_id("return-to-bot").click()
    for _ in range(50):
        if store.get(conversation.id).state == "bot":
            break
        page.wait_for_timeout(100)
    assert store.get(conversation.id).state == "bot"
    answer = send(live_bot.rest_url, CUSTOMER, "How do I pay my bill?", token=live_bot.rest_api_token)
    assert answer and answer[0]["custom"]["kind"] == "answer", answer
    assert answer[0]["custom"]["faq_id"] == "billing-payment-methods"
    assert not page.js_errors, page.js_errors
    store.engine.dispose()
