"""The web chat's "end chat" in headless Chromium, against the real gateway (its web chat socket and database) with
a stand-in for Rasa: after a confirmation in the widget's language, the browser forgets the session and the shown
history, and the next message reaches the server under a new session id."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest
from app_thread import AppThread
from browser import browser, open_page  # noqa: F401  (pytest fixture)
from fake_bot import FakeBot
from playwright.sync_api import expect

from handoff.db import migrate
from handoff.hours import BusinessHours
from handoff.store import HandoffStore
from supportbot.gateway import build_app
from supportbot.settings import Settings

pytestmark = pytest.mark.slow

SERVER_MESSAGES = '[data-testid="webchat-message"]:not([data-local])'
STORAGE_KEYS = "() => Object.keys(localStorage).filter(k => k.startsWith('supportbot.webchat.')).sort()"


class SenderRecordingBot(FakeBot):
    def __init__(self):
        super().__init__()
        self.senders: List[str] = []

    async def send(self, sender_id: str, text: str, metadata: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
        self.senders.append(sender_id)
        return await super().send(sender_id, text, metadata)


@pytest.fixture
def gateway(tmp_path):
    url = f"sqlite:///{tmp_path / 'supportbot.db'}"
    migrate(url)
    store = HandoffStore.open(url, run_migrations=False)
    bot = SenderRecordingBot()
    server = AppThread(build_app(Settings(rest_api_token="token"), store=store, bot=bot,
                                     hours=BusinessHours.parse("always"))).start()
    try:
        yield server, store, bot
    finally:
        server.stop()
        store.engine.dispose()


def open_widget(page):
    bubble = page.get_by_test_id("webchat-bubble")
    bubble.click()
    expect(page.get_by_test_id("webchat-panel")).to_be_visible()


def say(page, text: str) -> None:
    field = page.get_by_test_id("webchat-input")
    field.fill(text)
    field.press("Enter")
    expect(field).to_have_value("")


def texts(page) -> List[str]:
    return page.locator(f'{SERVER_MESSAGES} [data-testid="webchat-text"]').all_inner_texts()


def test_end_chat_forgets_the_session_and_the_next_message_starts_a_new_one(gateway, browser):  # noqa: F811
    server, store, bot = gateway
    with open_page(browser) as page:
        page.goto(server.base + "/")
        open_widget(page)
        say(page, "my router has the serial XJ-4471")
        expect(page.locator(SERVER_MESSAGES)).to_have_count(2)
        first = page.evaluate("window.SupportbotWebchat.session()")
        answer = page.locator('[data-testid="webchat-message"][data-role="bot"]:not([data-local])')
        answer.locator('button[data-helpful="true"]').click()  # leaves a feedback.<session> key behind
        expect(page.locator(SERVER_MESSAGES)).to_have_count(3)
        prefix = f"supportbot.webchat.127.0.0.1:{server.port}."
        assert page.evaluate(STORAGE_KEYS) == [prefix + f"feedback.{first}", prefix + "open", prefix + "session"]

        # asked first, in the widget's language; "Cancel" keeps everything
        page.get_by_test_id("webchat-end").click()
        confirm = page.get_by_test_id("webchat-end-confirm")
        expect(confirm).to_be_visible()
        expect(confirm).to_contain_text("End this chat?")
        expect(page.get_by_test_id("webchat-end-no")).to_be_focused()
        page.get_by_test_id("webchat-end-no").click()
        expect(confirm).to_be_hidden()
        expect(page.locator(SERVER_MESSAGES)).to_have_count(3)
        assert page.evaluate("window.SupportbotWebchat.session()") == first

        page.get_by_test_id("webchat-end").click()
        page.get_by_test_id("webchat-end-yes").click()
        expect(confirm).to_be_hidden()
        expect(page.locator(SERVER_MESSAGES)).to_have_count(0)
        expect(page.get_by_test_id("webchat-starter")).to_have_count(3)  # a fresh start
        assert "XJ-4471" not in page.locator("#supportbot-webchat").inner_text()
        second = page.evaluate("window.SupportbotWebchat.session()")
        assert second != first
        assert page.evaluate(STORAGE_KEYS) == [prefix + "open", prefix + "session"]
        assert page.evaluate(f"localStorage.getItem('{prefix}session')") == second

        say(page, "how do I pay my bill?")
        expect(page.locator(SERVER_MESSAGES)).to_have_count(2)
        assert texts(page) == ["how do I pay my bill?", "bot answer to: how do I pay my bill?"]
        assert bot.senders == [f"webchat:{first}", f"webchat:{second}"]
        old, new = store.find("webchat", first), store.find("webchat", second)
        assert new is not None and new.id != old.id
        assert [m.text for m in store.messages(new.id)] == ["how do I pay my bill?", "bot answer to: how do I pay my bill?"]
        assert "my router has the serial XJ-4471" in [m.text for m in store.messages(old.id)]  # the server's copy stays

        # a reload shows the new conversation only
        page.reload()
        expect(page.get_by_test_id("webchat-panel")).to_be_visible()
        expect(page.locator(SERVER_MESSAGES)).to_have_count(2)
        assert "XJ-4471" not in page.locator("#supportbot-webchat").inner_text()
        assert page.evaluate("window.SupportbotWebchat.session()") == second
        assert page.js_errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("locale, question, yes", [
    ("et-EE", "Kas soovite vestluse lõpetada?", "Lõpeta vestlus"),
    ("ru-RU", "Завершить чат?", "Завершить чат"),
])
def test_the_confirmation_speaks_the_widgets_language(gateway, browser, locale, question, yes):  # noqa: F811
    server, _, _ = gateway
    context = browser.new_context(locale=locale)
    try:
        page = context.new_page()
        page.goto(server.base + "/")
        open_widget(page)
        end = page.get_by_test_id("webchat-end")
        expect(end).to_have_attribute("aria-label", yes)
        end.click()
        expect(page.get_by_test_id("webchat-end-confirm")).to_contain_text(question)
        expect(page.get_by_test_id("webchat-end-yes")).to_have_text(yes)
        page.keyboard.press("Escape")  # closes the question, not the chat
        expect(page.get_by_test_id("webchat-end-confirm")).to_be_hidden()
        expect(page.get_by_test_id("webchat-panel")).to_be_visible()
    finally:
        context.close()
