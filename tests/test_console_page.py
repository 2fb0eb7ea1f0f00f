"""The agent console page (handoff/console/static/) in headless Chromium, against a fake API.

The fake implements just enough of docs/agent-console-api.md in memory (aiohttp, in a background
thread on a free port) to drive the page: login, me, queue, conversation details, claim (and a 409
variant), messages, notes, close, canned replies and the live WebSocket. Customer texts carry HTML
to prove the page renders them as text.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from aiohttp import WSMsgType, web
from playwright.sync_api import expect

from browser import browser, page  # noqa: F401  (pytest fixtures)
from handoff.console.protocol_script import protocol_script

STATIC_DIR = Path(__file__).resolve().parent.parent / "handoff" / "console" / "static"

XSS_IMG = '<img src=x onerror="window.__xss=1">'
XSS_BOLD = "<b>bold</b>"
XSS_LIVE = "Aitäh! <script>window.__xss=2</script><b>x</b>"
SUGGESTED = "Tere Anna, siin Kati. Vaatan kohe üle, mis teie internetiga juhtus."
CANNED_TEXT = "Palun lülitage ruuter 10 sekundiks välja ja siis uuesti sisse. <i>x</i>"

ME = {"username": "kati", "display_name": "Kati"}
MARI = {"username": "mari", "display_name": "Mari"}
PASSWORD = "correct horse"
COOKIE = "supportbot_agent"


def _now_iso(offset_s: float = 0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset_s))


class FakeConsoleApi:
    """An in-memory stand-in for the console backend, following docs/agent-console-api.md."""

    def __init__(self) -> None:
        self.tokens: set = set()
        self.requests: List[Dict[str, Any]] = []
        self.ws_received: List[Dict[str, Any]] = []
        self.sockets: set = set()
        self.next_message_id = 1000
        self.conversations: Dict[int, Dict[str, Any]] = {
            7: {
                "id": 7, "state": "waiting", "channel": "rest", "customer_name": "Anna <b>Tamm</b>",
                "language": "et", "reason": "upset", "sentiment": "upset", "priority": 1,
                "waiting_since": _now_iso(-95), "waited_seconds": 95, "agent": None,
                "last_message": XSS_BOLD, "unread": 2,
                "handoff": {
                    "reason": "upset", "sentiment": "upset", "language": "et",
                    "considered": [
                        {"id": "router-restart", "question": "<i>Kuidas</i> ruuterit taaskäivitada?", "score": 0.41},
                        {"id": "outage-map", "question": "Kas piirkonnas on rike?", "score": 0.33},
                    ],
                    "suggested_reply": SUGGESTED,
                },
                "messages": [
                    self._message(7, "customer", "Internet ei tööta juba kolm päeva!!!", "Anna"),
                    self._message(7, "bot", "Vabandust! Kas proovisite ruuterit taaskäivitada?", "Bot",
                                  buttons=[{"title": "Jah", "payload": "/affirm"}, {"title": "Ei", "payload": "/deny"}]),
                    self._message(7, "customer", XSS_IMG, "Anna"),
                    self._message(7, "customer", XSS_BOLD, "Anna"),
                    self._message(7, "system", "Handed over to a human agent (upset)", None),
                ],
                "rating": None, "resolution": None,
            },
            8: {
                "id": 8, "state": "waiting", "channel": "telegram", "customer_name": None,
                "language": "ru", "reason": "rude", "sentiment": "angry", "priority": 0,
                "waiting_since": _now_iso(-20), "waited_seconds": 20, "agent": None,
                "last_message": "Позовите человека", "unread": 1,
                "handoff": {"reason": "rude", "sentiment": "angry", "language": "ru", "considered": [],
                            "suggested_reply": None},
                "messages": [self._message(8, "customer", "Позовите человека", None)],
                "rating": None, "resolution": None,
            },
        }

    # ------------------------------------------------------------------ model

    def _message(self, conversation_id: int, role: str, text: str, author: Optional[str], buttons=None) -> Dict[str, Any]:
        self.next_message_id += 1
        return {"id": self.next_message_id, "conversation_id": conversation_id, "role": role, "text": text,
                "author": author, "created_at": _now_iso(), "buttons": buttons or [], "meta": {}}

    def summary(self, conv: Dict[str, Any]) -> Dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in conv.items() if k not in ("handoff", "messages", "rating", "resolution")}

    def details(self, conv: Dict[str, Any]) -> Dict[str, Any]:
        return copy.deepcopy(conv)

    def queue(self) -> Dict[str, Any]:
        waiting = sorted((c for c in self.conversations.values() if c["state"] == "waiting"),
                         key=lambda c: (c["priority"], c["waiting_since"]))
        mine = [c for c in self.conversations.values()
                if c["state"] == "agent" and (c["agent"] or {}).get("username") == ME["username"]]
        return {"waiting": [self.summary(c) for c in waiting], "mine": [self.summary(c) for c in mine]}

    def add_message(self, conv: Dict[str, Any], role: str, text: str, author: Optional[str]) -> Dict[str, Any]:
        message = self._message(conv["id"], role, text, author)
        conv["messages"].append(message)
        if role != "note":
            conv["last_message"] = text
        return message

    # ------------------------------------------------------------------ live

    async def broadcast(self, event: Dict[str, Any]) -> None:
        for ws in list(self.sockets):
            if not ws.closed:
                await ws.send_json(event)

    async def broadcast_queue(self) -> None:
        await self.broadcast({"type": "queue", **self.queue()})

    # ------------------------------------------------------------------ HTTP

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/console/", self.index)
        app.router.add_get("/console/static/{name}", self.static)
        app.router.add_get("/console/protocol.js", self.protocol_names)
        api = "/console/api"
        app.router.add_post(f"{api}/login", self.login)
        app.router.add_post(f"{api}/logout", self.logout)
        app.router.add_get(f"{api}/me", self.me)
        app.router.add_get(f"{api}/queue", self.get_queue)
        app.router.add_get(f"{api}/conversations/{{id}}", self.get_conversation)
        app.router.add_post(f"{api}/conversations/{{id}}/claim", self.claim)
        app.router.add_post(f"{api}/conversations/{{id}}/messages", self.post_message)
        app.router.add_post(f"{api}/conversations/{{id}}/notes", self.post_note)
        app.router.add_post(f"{api}/conversations/{{id}}/typing", self.typing)
        app.router.add_post(f"{api}/conversations/{{id}}/return", self.return_to_bot)
        app.router.add_post(f"{api}/conversations/{{id}}/close", self.close)
        app.router.add_get(f"{api}/canned", self.canned)
        app.router.add_get(f"{api}/live", self.live)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler):
        body = None
        if request.method == "POST" and request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                body = "<invalid json>"
        self.requests.append({"method": request.method, "path": request.path, "query": dict(request.query), "body": body})
        if request.path.startswith("/console/api/") and request.path != "/console/api/login":
            if request.cookies.get(COOKIE) not in self.tokens:
                return web.json_response({"error": "not logged in"}, status=401)
        return await handler(request)

    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "index.html")

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = STATIC_DIR / name
        if "/" in name or name.startswith(".") or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path)

    async def protocol_names(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=protocol_script(), content_type="text/javascript")

    async def login(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("username") != ME["username"] or body.get("password") != PASSWORD:
            return web.json_response({"error": "wrong username or password"}, status=401)
        token = secrets.token_hex(16)
        self.tokens.add(token)
        response = web.json_response({"agent": ME})
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/console")
        return response

    async def logout(self, request: web.Request) -> web.Response:
        self.tokens.discard(request.cookies.get(COOKIE))
        response = web.json_response({})
        response.del_cookie(COOKIE, path="/console")
        return response

    async def me(self, request: web.Request) -> web.Response:
        return web.json_response({"agent": ME})

    async def get_queue(self, request: web.Request) -> web.Response:
        return web.json_response(self.queue())

    def _conv(self, request: web.Request) -> Dict[str, Any]:
        try:
            return self.conversations[int(request.match_info["id"])]
        except (KeyError, ValueError):
            raise web.HTTPNotFound(text=json.dumps({"error": "no such conversation"}), content_type="application/json")

    async def get_conversation(self, request: web.Request) -> web.Response:
        return web.json_response(self.details(self._conv(request)))

    async def claim(self, request: web.Request) -> web.Response:
        conv = self._conv(request)
        if conv["id"] == 8:  # another agent wins the race
            conv.update(state="agent", agent=MARI)
            self.add_message(conv, "system", "Mari claimed the conversation", None)
            await self.broadcast({"type": "conversation", "conversation": self.summary(conv)})
            return web.json_response({"error": "already claimed by Mari"}, status=409)
        if conv["state"] != "waiting":
            return web.json_response({"error": "not waiting"}, status=409)
        conv.update(state="agent", agent=ME, unread=0)
        message = self.add_message(conv, "system", "Kati claimed the conversation", None)
        await self.broadcast({"type": "message", "message": message})
        await self.broadcast_queue()
        return web.json_response(self.details(conv))

    def _owned(self, conv: Dict[str, Any]) -> bool:
        return conv["state"] == "agent" and (conv["agent"] or {}).get("username") == ME["username"]

    async def post_message(self, request: web.Request) -> web.Response:
        conv = self._conv(request)
        if not self._owned(conv):
            return web.json_response({"error": "you do not own this conversation"}, status=409)
        body = await request.json()
        message = self.add_message(conv, "agent", body["text"], ME["display_name"])
        await self.broadcast({"type": "message", "message": message})
        return web.json_response(message, status=201)

    async def post_note(self, request: web.Request) -> web.Response:
        conv = self._conv(request)
        body = await request.json()
        message = self.add_message(conv, "note", body["text"], ME["display_name"])
        await self.broadcast({"type": "message", "message": message})
        return web.json_response(message, status=201)

    async def typing(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def return_to_bot(self, request: web.Request) -> web.Response:
        conv = self._conv(request)
        conv.update(state="bot", agent=None)
        await self.broadcast_queue()
        return web.json_response(self.details(conv))

    async def close(self, request: web.Request) -> web.Response:
        conv = self._conv(request)
        body = await request.json()
        conv.update(state="closed", resolution=body["resolution"])
        self.add_message(conv, "system", "Kati closed the conversation", None)
        await self.broadcast_queue()
        return web.json_response(self.details(conv))

    async def canned(self, request: web.Request) -> web.Response:
        q = request.query.get("q", "").lower()
        replies = [
            {"id": "router-restart", "title": "Ruuteri taaskäivitus", "text": CANNED_TEXT, "language": "et"},
            {"id": "outage", "title": "Rike piirkonnas", "text": "Teie piirkonnas on rike.", "language": "et"},
        ]
        return web.json_response({"replies": [r for r in replies if q in (r["title"] + r["text"] + r["id"]).lower()]})

    async def live(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.add(ws)
        try:
            await ws.send_json({"type": "queue", **self.queue()})
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self.ws_received.append(json.loads(msg.data))
        finally:
            self.sockets.discard(ws)
        return ws


class ServerThread:
    """Runs an aiohttp app on 127.0.0.1:<free port> in a background thread with its own loop."""

    def __init__(self, fake: FakeConsoleApi) -> None:
        self.fake = fake
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fake-console-api", daemon=True)
        self.runner: Optional[web.AppRunner] = None
        self.port = 0

    def start(self) -> "ServerThread":
        self.thread.start()
        self.call(self._start())
        return self

    async def _start(self) -> None:
        self.runner = web.AppRunner(self.fake.app())
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def call(self, coro, timeout: float = 10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def push(self, event: Dict[str, Any]) -> None:
        """Sends a live event to every connected page."""
        self.call(self.fake.broadcast(event))

    async def _close_sockets(self) -> None:
        for ws in list(self.fake.sockets):
            await ws.close()

    def drop_sockets(self) -> None:
        """Closes every live WebSocket from the server side."""
        self.call(self._close_sockets())

    async def _stop(self) -> None:
        await self._close_sockets()
        if self.runner is not None:
            await self.runner.cleanup()

    def stop(self) -> None:
        try:
            self.call(self._stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/console/"


@pytest.fixture
def fake_server():
    server = ServerThread(FakeConsoleApi()).start()
    try:
        yield server
    finally:
        server.stop()


def wait_until(predicate, timeout: float = 5.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def requests_to(fake: FakeConsoleApi, method: str, path: str) -> List[Dict[str, Any]]:
    return [r for r in fake.requests if r["method"] == method and r["path"] == path]


def tid(page, name: str):
    return page.get_by_test_id(name)


def test_console_page_against_fake_api(page, fake_server):  # noqa: F811  (fixtures)
    fake = fake_server.fake
    page.goto(fake_server.url)

    # ---- login (a wrong password first)
    expect(tid(page, "login-username")).to_be_visible()
    tid(page, "login-username").fill("kati")
    tid(page, "login-password").fill("wrong")
    tid(page, "login-submit").click()
    expect(tid(page, "error-banner")).to_be_visible()
    expect(tid(page, "error-banner")).to_contain_text("Wrong username or password")
    tid(page, "login-password").fill(PASSWORD)
    tid(page, "login-password").press("Enter")
    expect(tid(page, "queue-waiting")).to_be_visible()
    expect(tid(page, "login-username")).to_be_hidden()
    expect(page.locator("#agent-name")).to_have_text("Kati")

    # ---- the queue, in the server's order (rude first), live timers
    waiting_items = tid(page, "queue-waiting").get_by_test_id("queue-item")
    expect(waiting_items).to_have_count(2)
    assert [waiting_items.nth(i).get_attribute("data-conversation-id") for i in range(2)] == ["8", "7"]
    item7 = page.locator('[data-testid="queue-waiting"] [data-testid="queue-item"][data-conversation-id="7"]')
    item8 = page.locator('[data-testid="queue-waiting"] [data-testid="queue-item"][data-conversation-id="8"]')
    expect(item8).to_contain_text("Customer #8")
    expect(item8).to_contain_text("Rude")
    expect(item8.locator(".reason-rude")).to_have_count(1)
    expect(item7.locator(".reason-upset")).to_have_count(1)
    expect(item7).to_contain_text("Anna <b>Tamm</b>")
    expect(item7).to_contain_text(XSS_BOLD)  # last message preview, as text
    expect(item7).to_contain_text("ET")
    expect(item7).to_contain_text("rest")
    waited = item7.locator(".qi-waited")
    assert re.fullmatch(r"1:3\d", waited.inner_text()), waited.inner_text()
    first = waited.inner_text()
    wait_until(lambda: waited.inner_text() != first, timeout=3, what="the waited time to tick")
    expect(tid(page, "queue-mine").get_by_test_id("queue-item")).to_have_count(0)

    # ---- open the conversation: hostile texts appear literally, nothing is executed or parsed
    item7.click()
    transcript = tid(page, "transcript")
    expect(transcript.get_by_test_id("message")).to_have_count(5)
    customer = transcript.locator('[data-testid="message"][data-role="customer"]')
    expect(customer).to_have_count(3)
    expect(customer.nth(1).locator(".msg-text")).to_have_text(XSS_IMG)
    expect(customer.nth(2).locator(".msg-text")).to_have_text(XSS_BOLD)
    expect(transcript.locator('[data-role="bot"]')).to_contain_text("Jah")
    expect(transcript.locator('[data-role="system"]')).to_contain_text("Handed over")
    assert transcript.locator("b").count() == 0
    assert transcript.locator("img").count() == 0
    page.wait_for_timeout(200)  # an onerror handler would have fired by now
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.evaluate("document.querySelectorAll('img, b, i, script:not([src])').length") == 0
    expect(page.locator("#conv-title")).to_have_text("Anna <b>Tamm</b>")

    # ---- the handoff packet
    expect(tid(page, "packet-reason")).to_have_text("Customer is upset")
    expect(page.locator("#packet-sentiment")).to_have_text("Upset")
    expect(page.locator("#packet-language")).to_contain_text("Estonian")
    expect(page.locator("#packet-considered li")).to_have_count(2)
    expect(page.locator("#packet-considered")).to_contain_text("<i>Kuidas</i> ruuterit taaskäivitada?")
    expect(page.locator("#packet-considered")).to_contain_text("0.41")
    composer = tid(page, "composer")
    tid(page, "suggested-reply-use").click()
    expect(composer).to_have_value(SUGGESTED)
    composer.fill("")

    # ---- canned replies: searched in the conversation's language, inserted into the composer
    tid(page, "canned-search").fill("router")
    expect(tid(page, "canned-result")).to_have_count(1)
    expect(tid(page, "canned-result")).to_contain_text("Ruuteri taaskäivitus")
    canned_requests = requests_to(fake, "GET", "/console/api/canned")
    assert canned_requests[-1]["query"] == {"q": "router", "language": "et"}
    tid(page, "canned-result").click()
    expect(composer).to_have_value(CANNED_TEXT)
    composer.fill("")

    # ---- reply is impossible before claiming; claim
    expect(tid(page, "send")).to_be_disabled()
    expect(tid(page, "return-to-bot")).to_be_hidden()
    tid(page, "claim").click()
    expect(tid(page, "claim")).to_be_hidden()
    expect(tid(page, "return-to-bot")).to_be_visible()
    expect(tid(page, "close")).to_be_visible()
    expect(tid(page, "queue-mine").locator('[data-conversation-id="7"]')).to_have_count(1)
    expect(tid(page, "queue-waiting").get_by_test_id("queue-item")).to_have_count(1)
    expect(transcript.locator('[data-role="system"]').filter(has_text="Kati claimed")).to_have_count(1)

    # ---- typing is announced over the WebSocket; Shift+Enter is a new line, Enter sends
    composer.click()
    composer.type("Tere")
    wait_until(lambda: {"type": "typing", "conversation_id": 7} in fake.ws_received, what="a typing event")
    composer.press("Shift+Enter")
    composer.type("Anna!")
    assert requests_to(fake, "POST", "/console/api/conversations/7/messages") == []
    expect(composer).to_have_value("Tere\nAnna!")
    composer.press("Enter")
    agent_messages = transcript.locator('[data-testid="message"][data-role="agent"]')
    expect(agent_messages).to_have_count(1)  # the POST answer and the live echo are one message
    expect(agent_messages.locator(".msg-text")).to_have_text("Tere\nAnna!")
    expect(composer).to_have_value("")
    assert requests_to(fake, "POST", "/console/api/conversations/7/messages")[0]["body"] == {"text": "Tere\nAnna!"}

    # ---- internal note
    tid(page, "mode-note").check()
    expect(tid(page, "send")).to_have_text("Add note")
    composer.fill("Line test booked for tomorrow")
    composer.press("Enter")
    note = transcript.locator('[data-testid="message"][data-role="note"]')
    expect(note).to_have_count(1)
    expect(note).to_contain_text("Internal note — customer does not see this")
    expect(note).to_contain_text("Line test booked for tomorrow")
    assert requests_to(fake, "POST", "/console/api/conversations/7/notes")[0]["body"] == {"text": "Line test booked for tomorrow"}
    tid(page, "mode-reply").check()

    # ---- live events: a customer message (hostile again) and typing
    fake_server.push({"type": "typing", "conversation_id": 7, "who": "customer"})
    expect(tid(page, "typing-indicator")).to_be_visible()
    expect(tid(page, "typing-indicator")).to_have_text("Customer is typing…")
    live_message = fake.add_message(fake.conversations[7], "customer", XSS_LIVE, "Anna")
    fake_server.push({"type": "message", "message": live_message})
    expect(customer).to_have_count(4)
    expect(customer.nth(3).locator(".msg-text")).to_have_text(XSS_LIVE)
    expect(tid(page, "typing-indicator")).to_be_hidden()  # the message ends the typing
    fake_server.push({"type": "typing", "conversation_id": 7, "who": "customer"})
    expect(tid(page, "typing-indicator")).to_be_visible()
    expect(tid(page, "typing-indicator")).to_be_hidden(timeout=6000)  # gone after ~4 s
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert transcript.locator("b, script").count() == 0

    # ---- 409 on claim: "Already claimed by Mari", and the queue is refreshed
    item8.click()
    expect(page.locator("#conv-title")).to_have_text("Customer #8")
    expect(tid(page, "packet-reason")).to_have_text("Customer is rude or abusive")
    tid(page, "claim").click()
    expect(tid(page, "error-banner")).to_contain_text("Already claimed by Mari")
    expect(tid(page, "queue-waiting").get_by_test_id("queue-item")).to_have_count(0)
    expect(tid(page, "claim")).to_be_hidden()
    expect(page.locator("#conv-meta")).to_contain_text("Claimed by Mari")

    # ---- close conversation 7 with a resolution (inline form, not window.prompt)
    page.on("dialog", lambda dialog: pytest.fail(f"unexpected dialog: {dialog.message}"))
    tid(page, "queue-mine").locator('[data-conversation-id="7"]').click()
    expect(page.locator("#conv-title")).to_have_text("Anna <b>Tamm</b>")
    tid(page, "close").click()
    expect(tid(page, "close-resolution")).to_be_focused()
    tid(page, "close-confirm").click()  # empty: refused
    expect(tid(page, "error-banner")).to_contain_text("resolution")
    assert requests_to(fake, "POST", "/console/api/conversations/7/close") == []
    tid(page, "close-resolution").fill("Router restarted remotely")
    expect(tid(page, "close-tell")).to_be_checked()
    tid(page, "close-confirm").click()
    expect(page.locator("#conv-meta .state-closed")).to_have_text("Closed")
    expect(tid(page, "close-resolution")).to_be_hidden()
    expect(composer).to_be_disabled()
    expect(page.locator("#packet-resolution")).to_have_text("Router restarted remotely")
    assert requests_to(fake, "POST", "/console/api/conversations/7/close")[0]["body"] == {
        "resolution": "Router restarted remotely", "tell_customer": True}  # the outcome goes to the customer by default
    expect(tid(page, "queue-mine").get_by_test_id("queue-item")).to_have_count(0)

    # ---- log out
    tid(page, "logout").click()
    expect(tid(page, "login-username")).to_be_visible()
    assert requests_to(fake, "POST", "/console/api/logout")
    assert not fake.tokens

    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.js_errors == []  # type: ignore[attr-defined]


def test_console_page_return_to_bot_session_and_reconnect(page, fake_server):  # noqa: F811  (fixtures)
    """Return to bot; an existing session skips the login form; a dropped WebSocket reconnects and catches up."""
    fake = fake_server.fake
    page.goto(fake_server.url)
    tid(page, "login-username").fill("kati")
    tid(page, "login-password").fill(PASSWORD)
    tid(page, "login-submit").click()
    waiting_items = tid(page, "queue-waiting").get_by_test_id("queue-item")
    expect(waiting_items).to_have_count(2)

    # ---- claim, then hand the conversation back to the bot
    page.locator('[data-testid="queue-item"][data-conversation-id="7"]').click()
    tid(page, "claim").click()
    expect(tid(page, "queue-mine").get_by_test_id("queue-item")).to_have_count(1)
    tid(page, "return-to-bot").click()
    expect(page.locator("#conv-meta .state-bot")).to_have_text("With bot")
    expect(tid(page, "return-to-bot")).to_be_hidden()
    expect(tid(page, "close")).to_be_hidden()
    expect(tid(page, "claim")).to_be_hidden()
    expect(tid(page, "send")).to_be_disabled()  # replying needs ownership; notes stay possible
    expect(tid(page, "queue-mine").get_by_test_id("queue-item")).to_have_count(0)
    expect(waiting_items).to_have_count(1)
    assert requests_to(fake, "POST", "/console/api/conversations/7/return")

    # ---- keyboard: the queue item is a button reachable and usable without a mouse
    waiting_items.first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#conv-title")).to_have_text("Customer #8")

    # ---- reload: /me answers 200, so the console comes back directly, with the same conversation open
    page.reload()
    expect(tid(page, "queue-waiting")).to_be_visible()
    expect(tid(page, "login-username")).to_be_hidden()
    expect(page.locator("#conv-title")).to_have_text("Customer #8")
    wait_until(lambda: len(fake.sockets) == 1, what="the live socket")
    expect(page.locator("#live-status")).to_have_text("Live")

    # ---- the server drops the socket; a conversation arrives meanwhile; the page reconnects and catches up
    conv9 = copy.deepcopy(fake.conversations[8])
    conv9.update(id=9, reason="low_confidence", priority=2, customer_name="Ivan", waiting_since=_now_iso(), waited_seconds=0)
    fake_server.drop_sockets()
    expect(page.locator("#live-status")).to_have_text("Reconnecting…")
    fake.conversations[9] = conv9
    expect(waiting_items).to_have_count(2, timeout=8000)
    assert [waiting_items.nth(i).get_attribute("data-conversation-id") for i in range(2)] == ["8", "9"]
    wait_until(lambda: len(fake.sockets) == 1, timeout=8, what="the reconnected socket")
    expect(page.locator("#live-status")).to_have_text("Live")

    # ---- a `conversation` event for the open conversation updates it in place
    conv8 = fake.conversations[8]
    conv8.update(state="agent", agent=MARI)
    fake_server.push({"type": "conversation", "conversation": fake.summary(conv8)})
    expect(page.locator("#conv-meta")).to_contain_text("Claimed by Mari")
    expect(tid(page, "claim")).to_be_hidden()
    expect(waiting_items).to_have_count(1)

    # ---- a narrow window still shows the three parts side by side or stacked, without overflow
    page.set_viewport_size({"width": 800, "height": 900})
    for name in ("queue-waiting", "transcript", "composer", "packet-reason", "canned-search"):
        box = tid(page, name).bounding_box()
        assert box is not None and box["width"] > 100, (name, box)
        assert box["x"] + box["width"] <= 800 + 1, (name, box)
    assert page.js_errors == []  # type: ignore[attr-defined]
