"""The web chat widget in headless Chromium against the whole live stack (Rasa, actions, gateway): an answer,
the history after a reload, a handoff with the queue status, an agent who claims, types and replies over the
console API; a phone-sized screen with the widget embedded on another site; the keyboard alone."""
from __future__ import annotations

import json
import re
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Optional

import pytest
from browser import browser, open_page  # noqa: F401  (pytest fixture)
from playwright.sync_api import expect
from sqlalchemy import select

from handoff import models
from handoff.store import HandoffStore

pytestmark = pytest.mark.slow

ANSWER_TIMEOUT_MS = 60_000
BOT_MESSAGES = '[data-testid="webchat-message"][data-role="bot"]:not([data-local])'
HOST_PAGE = """<!doctype html><html><head><meta name="viewport" content="width=device-width, initial-scale=1">
<style>* { font-family: serif !important; color: red; } div, button, section { all: unset; display: block; margin: 40px; }
button { text-transform: uppercase; background: yellow; }</style></head>
<body><h1>Another shop</h1><p>Some content.</p>
<script src="{src}" data-lang="et" data-title="Poe klienditugi" async></script></body></html>"""


def gateway_url(settings, path: str = "/") -> str:
    return f"http://{settings.host}:{settings.gateway_port}{path}"


class Agent:
    """An agent using the console API over HTTP with a session cookie."""

    def __init__(self, settings, username: str, password: str):
        self.settings = settings
        reply = self._call("POST", "/console/api/login", {"username": username, "password": password}, cookie=None)
        self.cookie = reply.headers["Set-Cookie"].split(";", 1)[0]

    def _call(self, method: str, path: str, body: Optional[Dict[str, Any]] = None, cookie: Optional[str] = ""):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(gateway_url(self.settings, path), data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        if cookie is not None:
            request.add_header("Cookie", self.cookie)
        return urllib.request.urlopen(request, timeout=30)

    def post(self, path: str, body: Optional[Dict[str, Any]] = None) -> int:
        with self._call("POST", path, body) as reply:
            return reply.status


def open_widget(page):
    bubble = page.get_by_test_id("webchat-bubble")
    expect(bubble).to_be_visible()
    if bubble.get_attribute("aria-expanded") != "true":
        bubble.click()
    expect(bubble).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_test_id("webchat-panel")).to_be_visible()
    return page.get_by_test_id("webchat-input")


def say(page, text: str) -> None:
    field = page.get_by_test_id("webchat-input")
    field.fill(text)
    field.press("Enter")
    expect(field).to_have_value("")


def test_answer_history_after_reload_and_an_agent_takes_over(live_bot, browser):  # noqa: F811
    store = HandoffStore.open(live_bot.database_url, run_migrations=False)
    store.agents.create("mari-webchat", "Mari", "correct horse battery")
    with open_page(browser) as page:
        page.goto(gateway_url(live_bot))
        expect(page).to_have_title("Lainet — fibre, TV and mobile for every home")
        open_widget(page)
        expect(page.get_by_test_id("webchat-status")).to_have_text("Laine · virtual assistant")
        expect(page.get_by_test_id("webchat-starter")).to_have_count(3)

        # ---- 1. a question and its answer, with the bot's typing indicator meanwhile
        say(page, "how can I pay my bill?")
        customer = page.locator('[data-testid="webchat-message"][data-role="customer"] [data-testid="webchat-text"]')
        expect(customer).to_have_text(["how can I pay my bill?"])
        answer = page.locator(BOT_MESSAGES).first
        expect(answer).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
        expect(page.get_by_test_id("webchat-starter")).to_have_count(0)
        session = page.evaluate("window.SupportbotWebchat.session()")
        conversation = store.find("webchat", session)
        stored = store.messages(conversation.id, 0, ["bot"])
        assert stored[0].payload["custom"]["kind"] == "answer", stored
        assert stored[0].payload["custom"]["faq_id"] == "billing-payment-methods"
        expect(answer.get_by_test_id("webchat-text")).to_have_text(stored[0].text)
        expect(page.locator('[data-testid="webchat-message"][data-role="customer"]').first).to_have_attribute(
            "data-id", str(store.messages(conversation.id, 0, ["customer"])[0].id))

        # ---- "was this helpful?" 👍 on the answer
        feedback = answer.get_by_test_id("webchat-feedback")
        expect(feedback).to_be_visible()
        feedback.locator('button[data-helpful="true"]').click()
        expect(feedback.locator('button[data-helpful="true"]')).to_have_attribute("aria-pressed", "true")
        expect(page.locator(BOT_MESSAGES)).to_have_count(2, timeout=10_000)  # the router's thanks
        assert any(m.payload.get("feedback", {}).get("helpful") is True
                   for m in store.messages(conversation.id, 0, ["system"]))

        # ---- 2. a reload: the same history from the database, the panel still open
        page.reload()
        expect(page.get_by_test_id("webchat-panel")).to_be_visible()
        expect(customer).to_have_text(["how can I pay my bill?"])
        expect(page.locator(BOT_MESSAGES)).to_have_count(2)
        expect(page.locator(BOT_MESSAGES).first.get_by_test_id("webchat-text")).to_have_text(stored[0].text)
        expect(page.locator(BOT_MESSAGES).first.locator('button[data-helpful="true"]')).to_be_disabled()
        expect(page.get_by_test_id("webchat-starter")).to_have_count(0)

        # ---- and a browser restart: a new browser context with the saved local storage (the session id)
        restarted = browser.new_context(storage_state=page.context.storage_state())
        try:
            again = restarted.new_page()
            again.goto(gateway_url(live_bot))
            expect(again.get_by_test_id("webchat-panel")).to_be_visible()
            expect(again.locator(BOT_MESSAGES).first.get_by_test_id("webchat-text")).to_have_text(stored[0].text)
            assert again.evaluate("window.SupportbotWebchat.session()") == session
        finally:
            restarted.close()

        # ---- 3. a person: the queue, then Mari claims, types and replies
        say(page, "I want to talk to a person")
        status = page.get_by_test_id("webchat-status")
        expect(status).to_contain_text("queue", timeout=ANSWER_TIMEOUT_MS)
        assert store.get(conversation.id).state == "waiting"

        agent = Agent(live_bot, "mari-webchat", "correct horse battery")
        assert agent.post(f"/console/api/conversations/{conversation.id}/claim") == 200
        expect(status).to_have_text("Mari from customer support")
        expect(page.locator(BOT_MESSAGES).filter(has_text="Mari")).to_have_count(1)  # told who joined
        assert agent.post(f"/console/api/conversations/{conversation.id}/typing") == 204
        expect(page.get_by_test_id("webchat-typing")).to_have_text("Mari is typing…")
        reply = "Hi, this is Mari. I'll check your bill <b>now</b>."
        assert agent.post(f"/console/api/conversations/{conversation.id}/messages", {"text": reply}) == 201
        agent_message = page.locator('[data-testid="webchat-message"][data-role="agent"]')
        expect(agent_message.get_by_test_id("webchat-text")).to_have_text(reply)
        expect(agent_message).to_contain_text("Mari")
        expect(page.get_by_test_id("webchat-typing")).to_be_hidden()
        assert page.locator("#supportbot-webchat b").count() == 0

        # the customer writes to Mari: shown once, the bot stays silent
        bots_before = page.locator(BOT_MESSAGES).count()
        say(page, "Thank you, Mari!")
        mine = page.locator('[data-testid="webchat-message"][data-role="customer"][data-id]')
        expect(mine).to_have_count(3)
        page.wait_for_timeout(1500)
        expect(page.locator(BOT_MESSAGES)).to_have_count(bots_before)
        assert page.js_errors == []  # type: ignore[attr-defined]
    store.engine.dispose()


@pytest.fixture
def host_site(live_bot):
    """Another site (another origin: its own port) whose page embeds the widget with one tag."""
    body = HOST_PAGE.replace("{src}", gateway_url(live_bot, "/webchat/widget.js")).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/shop"
    finally:
        server.shutdown()
        server.server_close()


def test_phone_screen_and_embedding_on_another_site(live_bot, browser, host_site):  # noqa: F811
    with open_page(browser, viewport={"width": 375, "height": 667}) as page:
        page.goto(host_site)
        bubble = page.get_by_test_id("webchat-bubble")
        expect(bubble).to_be_visible()
        box = bubble.bounding_box()
        assert 48 <= box["width"] <= 72 and box["x"] + box["width"] <= 375 and box["y"] + box["height"] <= 667, box
        expect(bubble).to_have_attribute("aria-label", "Ava vestlus")  # data-lang="et"
        open_widget(page)
        panel = page.get_by_test_id("webchat-panel").bounding_box()
        assert panel == {"x": 0, "y": 0, "width": 375, "height": 667}, panel
        expect(page.locator("#sbw-title")).to_have_text("Poe klienditugi")
        expect(page.get_by_test_id("webchat-status")).to_have_text("Laine · virtuaalassistent")
        field = page.get_by_test_id("webchat-input")
        expect(field).to_have_attribute("placeholder", "Kirjutage sõnum…")
        field_box = field.bounding_box()
        assert field_box["y"] + field_box["height"] <= 667 and field_box["width"] > 250, field_box
        # the host page's "* { color: red }" and "button { all: unset }" do not reach inside
        colors = page.evaluate("""() => {
            const root = document.getElementById('supportbot-webchat').shadowRoot;
            const css = (sel, prop) => getComputedStyle(root.querySelector(sel))[prop];
            return [css('.sbw-title', 'color'), css('.sbw-send', 'display'), css('.sbw-send', 'borderRadius')];
        }""")
        assert colors == ["rgb(255, 255, 255)", "grid", "50%"], colors

        say(page, "Kuidas ma saan arvet maksta?")
        expect(page.locator(BOT_MESSAGES).first).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
        overflow = page.evaluate("""() => {
            const log = document.getElementById('supportbot-webchat').shadowRoot.querySelector('.sbw-log');
            return [log.scrollWidth, log.clientWidth, document.documentElement.scrollWidth];
        }""")
        assert overflow[0] <= overflow[1] and overflow[2] <= 375, overflow
        # full screen, the panel is a modal dialog: Tab goes round inside it, never to the page behind
        expect(page.get_by_test_id("webchat-panel")).to_have_attribute("aria-modal", "true")
        page.get_by_test_id("webchat-input").focus()
        for _ in range(12):
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.id") == "supportbot-webchat", "focus left the chat"
        for _ in range(12):
            page.keyboard.press("Shift+Tab")
            assert page.evaluate("document.activeElement.id") == "supportbot-webchat", "focus left the chat"
        page.get_by_test_id("webchat-close").click()
        expect(page.get_by_test_id("webchat-panel")).to_be_hidden()
        expect(bubble).to_be_focused()
        assert page.js_errors == []  # type: ignore[attr-defined]


def _focused_test_id(page) -> Optional[str]:
    return page.evaluate("""() => {
        let node = document.activeElement;
        while (node && node.shadowRoot && node.shadowRoot.activeElement) node = node.shadowRoot.activeElement;
        return node ? node.getAttribute('data-testid') : null;
    }""")


def test_keyboard_only(live_bot, browser):  # noqa: F811
    with open_page(browser) as page:
        page.goto(gateway_url(live_bot, "/webchat/demo"))
        expect(page.get_by_test_id("webchat-bubble")).to_be_visible()
        for _ in range(40):  # Tab through the page to the chat bubble
            page.keyboard.press("Tab")
            if _focused_test_id(page) == "webchat-bubble":
                break
        assert _focused_test_id(page) == "webchat-bubble"
        outline = page.evaluate("() => getComputedStyle(document.getElementById('supportbot-webchat').shadowRoot"
                                ".querySelector('.sbw-launcher')).outlineStyle")
        assert outline != "none", "no visible focus on the bubble"

        page.keyboard.press("Enter")
        bubble = page.get_by_test_id("webchat-bubble")
        expect(bubble).to_have_attribute("aria-expanded", "true")
        assert _focused_test_id(page) == "webchat-input"
        log = page.get_by_test_id("webchat-messages")
        expect(log).to_have_attribute("role", "log")
        expect(log).to_have_attribute("aria-live", "polite")
        expect(page.get_by_test_id("webchat-send")).to_have_attribute("aria-label", "Send")
        expect(page.locator('label[for="sbw-input"]')).to_have_text("Your message")

        hostile = '<img src=x onerror="window.__xss=1"> how do I pay my bill?'
        page.keyboard.type(hostile)
        page.keyboard.press("Shift+Enter")
        page.keyboard.type("thanks")
        page.keyboard.press("Enter")
        customer = page.locator('[data-testid="webchat-message"][data-role="customer"] [data-testid="webchat-text"]')
        expect(customer).to_have_text([hostile + "\nthanks"])
        expect(page.locator(BOT_MESSAGES).first).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
        assert page.evaluate("typeof window.__xss") == "undefined"
        assert page.evaluate("document.getElementById('supportbot-webchat').shadowRoot.querySelectorAll('img').length") == 0

        page.keyboard.press("Tab")
        assert _focused_test_id(page) == "webchat-send"
        page.keyboard.press("Escape")
        expect(page.get_by_test_id("webchat-panel")).to_be_hidden()
        expect(bubble).to_have_attribute("aria-expanded", "false")
        assert _focused_test_id(page) == "webchat-bubble"
        page.keyboard.press("Space")  # and open again
        expect(page.get_by_test_id("webchat-panel")).to_be_visible()

        # a pasted text over the limit is not cut or lost: it stays in the field with a polite note
        field = page.get_by_test_id("webchat-input")
        field.fill("my router " * 410)
        field.press("Enter")
        expect(page.get_by_test_id("webchat-notice")).to_contain_text("4000")
        expect(field).to_have_attribute("aria-invalid", "true")
        assert len(field.input_value()) == 4100
        expect(customer).to_have_count(1)
        assert page.js_errors == []  # type: ignore[attr-defined]


def test_reconnects_after_a_drop_and_sends_nothing_twice(live_bot, browser):  # noqa: F811
    store = HandoffStore.open(live_bot.database_url, run_migrations=False)
    sockets = []
    network = {"up": True}

    def route(ws):  # every WebSocket of the page passes here: through to the gateway, or refused while "down"
        if network["up"]:
            ws.connect_to_server()
            sockets.append(ws)
        else:
            ws.close(code=1011)

    with open_page(browser) as page:
        page.route_web_socket(re.compile(r".*/webchat/socket$"), route)
        page.goto(gateway_url(live_bot, "/webchat/demo"))
        open_widget(page)
        say(page, "how can I pay my bill?")
        expect(page.locator(BOT_MESSAGES)).to_have_count(1, timeout=ANSWER_TIMEOUT_MS)
        session = page.evaluate("window.SupportbotWebchat.session()")

        network["up"] = False
        for ws in sockets:
            ws.close(code=1011)
        connection = page.get_by_test_id("webchat-connection")
        expect(connection).to_have_text("Connection lost. Reconnecting…")
        say(page, "Can I rent a Wi-Fi router?")  # written while disconnected: waits
        waiting = page.locator('[data-testid="webchat-message"][data-role="customer"][data-pending="true"]')
        expect(waiting).to_have_count(1)
        page.wait_for_timeout(1500)  # a refused reconnection or two
        assert store.messages(store.find("webchat", session).id, 0, ["customer"])[-1].text == "how can I pay my bill?"

        network["up"] = True
        expect(connection).to_be_hidden(timeout=20_000)
        expect(waiting).to_have_count(0, timeout=10_000)
        expect(page.locator(BOT_MESSAGES)).to_have_count(2, timeout=ANSWER_TIMEOUT_MS)
        page.wait_for_timeout(1000)
        texts = [m.text for m in store.messages(store.find("webchat", session).id, 0, ["customer"])]
        assert texts == ["how can I pay my bill?", "Can I rent a Wi-Fi router?"], texts
        customer = page.locator('[data-testid="webchat-message"][data-role="customer"] [data-testid="webchat-text"]')
        expect(customer).to_have_text(["how can I pay my bill?", "Can I rent a Wi-Fi router?"])
        assert len(sockets) >= 2
        assert page.js_errors == []  # type: ignore[attr-defined]
    with store.session() as s:  # each message carries the widget's own id, so a resend would be stored once
        ids = s.execute(select(models.Message.client_message_id).where(
            models.Message.conversation_id == store.find("webchat", session).id,
            models.Message.role == "customer")).scalars().all()
    assert len(ids) == 2 and all(ids) and len(set(ids)) == 2, ids
    store.engine.dispose()
