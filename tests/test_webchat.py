"""The web chat's WebSocket protocol (docs/webchat.md) over a real aiohttp server with a stand-in bot:
history on hello, replies, malformed frames, session ids, feedback, and live delivery from the shared
event table, also when the agent works on another gateway of the same database."""
from __future__ import annotations

import asyncio
import json
from typing import Any, Dict, List, Optional

import pytest
from aiohttp import WSMsgType
from fake_bot import FakeBot
from helpers import gateway_app

from handoff.console.app import ROUTER_KEY
from handoff.hours import BusinessHours
from handoff.store import HandoffStore
from protocol.kinds import Kind
from protocol.limits import CEILING_CHARS
from supportbot.channels.webchat import CHANNEL, MAX_FRAME_CHARS, parse_frame, FrameError, valid_session
from supportbot.gateway import build_app
from supportbot.settings import Settings

PASSWORD = "correct horse"
SESSION = "3f2b1c9e-7a41-4c55-9d0e-5b8a2f6c1d10"
CLARIFY_BUTTONS = [{"title": "Pay by card", "payload": '/faq{"faq_id":"billing-card"}'},
                   {"title": "E-invoice", "payload": '/faq{"faq_id":"billing-einvoice"}'}]


class ButtonBot(FakeBot):
    """The fake bot, plus a clarifying question with quick replies."""

    async def send(self, sender_id: str, text: str, metadata: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
        if text == "how to pay":
            self.calls.append(text)
            return [{"text": "Did you mean one of these?", "buttons": CLARIFY_BUTTONS,
                     "custom": {"kind": "clarify", "options": ["billing-card", "billing-einvoice"], "score": 0.3}}]
        return await super().send(sender_id, text, metadata)


@pytest.fixture
def bot():
    return ButtonBot()


@pytest.fixture
async def client(database_url, bot, aiohttp_client):
    app = gateway_app(database_url, bot)
    app[ROUTER_KEY].store.agents.create("mari", "Mari", PASSWORD)
    return await aiohttp_client(app)


class Socket:
    """A customer's socket with a small reader: frames are collected, and awaited by type."""

    def __init__(self, ws):
        self.ws = ws
        self.frames: List[Dict[str, Any]] = []

    @classmethod
    async def open(cls, client, session: Optional[str] = SESSION) -> "Socket":
        socket = cls(await client.ws_connect("/webchat/socket"))
        if session is not None:
            await socket.send({"type": "hello", "session": session})
            await socket.next("history")
        return socket

    async def send(self, frame: Dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(frame))

    async def next(self, kind: str, timeout: float = 5.0, **match) -> Dict[str, Any]:
        """The next not yet taken frame of this type (and these fields); frames before it stay."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for index, frame in enumerate(self.frames):
                if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
                    return self.frames.pop(index)
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"no {kind} frame {match or ''} within {timeout} s; got {self.frames}")
            incoming = await self.ws.receive(timeout=remaining)
            if incoming.type != WSMsgType.TEXT:
                raise AssertionError(f"the socket ended: {incoming}")
            self.frames.append(json.loads(incoming.data))

    async def messages(self, count: int, timeout: float = 5.0) -> List[Dict[str, Any]]:
        return [(await self.next("message", timeout))["message"] for _ in range(count)]

    async def quiet(self, seconds: float = 0.8) -> List[Dict[str, Any]]:
        """Everything that arrives within `seconds` (and was not taken yet)."""
        try:
            while True:
                incoming = await self.ws.receive(timeout=seconds)
                if incoming.type != WSMsgType.TEXT:
                    break
                self.frames.append(json.loads(incoming.data))
        except asyncio.TimeoutError:
            pass
        taken, self.frames = self.frames, []
        return taken

    async def close(self) -> None:
        await self.ws.close()


async def login(client, username="mari"):
    reply = await client.post("/console/api/login", json={"username": username, "password": PASSWORD})
    assert reply.status == 200, await reply.text()


def conversation_id(client, session: str = SESSION) -> int:
    return client.app[ROUTER_KEY].store.find(CHANNEL, session).id


# ---------------------------------------------------------------- the pages


async def test_pages_and_widget_files_are_served(client):
    for path in ("/", "/webchat/demo"):
        page = await client.get(path)
        assert page.status == 200
        assert page.content_type == "text/html"
        text = await page.text()
        assert '<script src="/webchat/widget.js"' in text and "Lainet" in text
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    script = await client.get("/webchat/widget.js")
    assert script.status == 200 and script.content_type == "application/javascript"
    assert "document.currentScript" in await script.text()
    assert script.headers["Access-Control-Allow-Origin"] == "*"
    style = await client.get("/webchat/widget.css")
    assert style.status == 200 and style.content_type == "text/css"
    for missing in ("/webchat/nothing.js", "/webchat/..%2Fwebchat.py", "/webchat/demo.html"):
        assert (await client.get(missing)).status == 404, missing


async def test_malformed_http_requests_get_4xx(client):
    plain = await client.get("/webchat/socket")  # no WebSocket upgrade
    assert plain.status == 400
    assert "WebSocket" in (await plain.json())["error"]
    assert (await client.post("/webchat/socket", data="x")).status == 405
    assert (await client.post("/webchat/widget.js")).status == 405


# ---------------------------------------------------------------- hello, history, messages


async def test_hello_message_replies_and_history_after_a_reconnect(client, bot):
    socket = await Socket.open(client, session=None)
    await socket.send({"type": "hello", "session": SESSION})
    history = await socket.next("history")
    assert history["messages"] == []
    assert history["status"] == {"state": "bot", "queue_position": None, "agent": None}
    assert history["bot_name"] == "Laine"
    assert client.app[ROUTER_KEY].store.find(CHANNEL, SESSION) is None  # a hello alone stores nothing

    await socket.send({"type": "message", "text": "how do I pay?"})
    assert await socket.next("typing", who="bot", active=True)
    customer, answer = await socket.messages(2)
    assert await socket.next("typing", who="bot", active=False)
    assert (customer["role"], customer["text"]) == ("customer", "how do I pay?")
    assert (answer["role"], answer["text"], answer["author"]) == ("bot", "bot answer to: how do I pay?", "Laine")
    assert answer["meta"] == {"kind": "answer", "language": "en"}
    assert set(answer) == {"id", "role", "text", "buttons", "meta", "author", "created_at"}
    assert answer["id"] > customer["id"]
    assert bot.calls == ["how do I pay?"]
    assert [f for f in await socket.quiet() if f["type"] == "message"] == [], "a message was sent twice"
    await socket.close()

    again = await Socket.open(client, session=None)  # a page reload: a new socket, the same session
    await again.send({"type": "hello", "session": SESSION})
    history = await again.next("history")
    assert [(m["role"], m["text"]) for m in history["messages"]] == [
        ("customer", "how do I pay?"), ("bot", "bot answer to: how do I pay?")]
    assert [m["id"] for m in history["messages"]] == [customer["id"], answer["id"]]
    await again.close()

    other = await Socket.open(client, session="another-customer-1")
    assert other.frames == []
    await other.close()


async def test_quick_replies_show_their_title_and_hide_internal_metadata(client, bot):
    socket = await Socket.open(client)
    await socket.send({"type": "message", "text": "how to pay"})
    _, question = await socket.messages(2)
    assert question["buttons"] == CLARIFY_BUTTONS
    assert question["meta"] == {"kind": "clarify"}  # no scores or candidate ids for the customer

    payload = CLARIFY_BUTTONS[0]["payload"]
    await socket.send({"type": "message", "text": payload, "display": "Pay by card"})
    choice, answer = await socket.messages(2)
    assert choice["text"] == "Pay by card", "the customer's choice reads as the button's title"
    assert answer["text"] == f"bot answer to: {payload}", "the bot got the payload"
    await socket.close()

    again = await Socket.open(client, session=None)
    await again.send({"type": "hello", "session": SESSION})
    history = (await again.next("history"))["messages"]
    assert history[2]["text"] == "Pay by card"
    handoff_socket = await Socket.open(client, session="handoff-customer")
    await handoff_socket.send({"type": "message", "text": "I want an idiot human"})
    frames = await handoff_socket.messages(3)
    assert frames[1]["meta"] == {"kind": "handoff", "language": "en"}  # not the reason 'rude' nor the sentiment
    await again.close()
    await handoff_socket.close()


@pytest.mark.parametrize("raw, code", [
    ("not json", "bad_frame"),
    ("[1, 2]", "bad_frame"),
    ('"hello"', "bad_frame"),
    ('{"type": "dance"}', "bad_frame"),
    ('{"no": "type"}', "bad_frame"),
    ('{"type": "message"}', "bad_frame"),
    ('{"type": "message", "text": 42}', "bad_frame"),
    ('{"type": "message", "text": "   "}', "bad_frame"),
    ('{"type": "message", "text": "hi", "display": 5}', "bad_frame"),
    ('{"type": "message", "text": "hi", "payload": [1]}', "bad_frame"),
    ('{"type": "message", "text": "hi", "id": 7}', "bad_frame"),
    ('{"type": "message", "text": "hi", "id": ""}', "bad_frame"),
    ('{"type": "message", "text": "hi", "id": "has space"}', "bad_frame"),
    ('{"type": "feedback", "message_id": "7", "helpful": true}', "bad_frame"),
    ('{"type": "feedback", "message_id": true, "helpful": true}', "bad_frame"),
    ('{"type": "feedback", "message_id": 7, "helpful": "yes"}', "bad_frame"),
    ('{"type": "hello", "session": "short"}', "bad_session"),
    ('{"type": "hello", "session": "has spaces in it"}', "bad_session"),
    ('{"type": "hello", "session": "<script>alert(1)</script>"}', "bad_session"),
    ('{"type": "hello", "session": 12345678}', "bad_session"),
])
def test_frame_checks(raw, code):
    with pytest.raises(FrameError) as problem:
        parse_frame(raw)
    assert problem.value.code == code


def test_session_ids():
    assert valid_session("3f2b1c9e-7a41-4c55-9d0e-5b8a2f6c1d10")
    assert valid_session("a" * 8) and valid_session("A_b-" * 25)
    assert not valid_session("a" * 7) and not valid_session("a" * 101)
    assert not valid_session("ünicode-session") and not valid_session(None) and not valid_session("a/b/c/d/e")


async def test_malformed_frames_get_an_error_frame_and_the_socket_lives_on(client, bot):
    socket = await Socket.open(client, session=None)
    await socket.send({"type": "message", "text": "before hello"})
    assert (await socket.next("error"))["code"] == "hello_first"
    await socket.send({"type": "hello", "session": "bad id!"})
    assert (await socket.next("error"))["code"] == "bad_session"
    await socket.send({"type": "hello", "session": SESSION})
    await socket.next("history")
    for raw in ("{", "null", '{"type": "message", "text": ["x"]}', '{"type": "nope"}'):
        await socket.ws.send_str(raw)
        assert (await socket.next("error"))["code"] == "bad_frame", raw
    await socket.ws.send_bytes(b"\x00\x01")
    assert (await socket.next("error"))["code"] == "bad_frame"
    await socket.send({"type": "message", "text": "x" * (CEILING_CHARS + 1)})
    assert (await socket.next("error"))["code"] == "too_long", "past the ceiling of every channel, a malformed frame"
    await socket.ws.send_str(json.dumps({"type": "message", "text": "y" * 3000, "pad": "z" * MAX_FRAME_CHARS}))
    assert (await socket.next("error"))["code"] == "too_big"
    await socket.send({"type": "hello", "session": "someone-else-entirely"})
    assert (await socket.next("error"))["code"] == "bad_session"
    assert bot.calls == []
    await socket.send({"type": "message", "text": "still here?"})
    _, answer = await socket.messages(2)
    assert answer["text"] == "bot answer to: still here?"
    await socket.close()


async def test_a_huge_frame_closes_only_that_socket(client):
    socket = await Socket.open(client)
    await socket.ws.send_str("x" * (200 * 1024))
    closing = await socket.ws.receive(timeout=5)
    assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
    assert socket.ws.close_code == 1009
    fine = await Socket.open(client)  # the server is fine
    await fine.close()


# ---------------------------------------------------------------- handoff, live delivery, typing


async def test_handoff_status_agent_reply_and_typing_arrive_live(client, bot):
    socket = await Socket.open(client)
    await socket.send({"type": "message", "text": "I want a human"})
    customer, handoff, queue = await socket.messages(3)
    assert handoff["meta"]["kind"] == "handoff" and queue["meta"]["kind"] == "queue_status"
    status = await socket.next("status")
    assert status == {"type": "status", "state": "waiting", "queue_position": 1, "agent": None}

    second = await Socket.open(client, session="second-customer")  # behind us in the queue
    await second.send({"type": "message", "text": "human please"})
    await second.messages(3)
    assert (await second.next("status", state="waiting"))["queue_position"] == 2

    await login(client)
    conversation = conversation_id(client)
    assert (await client.post(f"/console/api/conversations/{conversation}/claim")).status == 200
    assert await socket.next("status", state="agent") == {"type": "status", "state": "agent", "queue_position": None, "agent": "Mari"}
    joined = (await socket.messages(1))[0]
    assert joined["meta"] == {"kind": "agent_joined", "agent": "Mari"} and "Mari" in joined["text"]
    assert (await second.next("status", state="waiting"))["queue_position"] == 1  # moved up

    assert (await client.post(f"/console/api/conversations/{conversation}/typing")).status == 204
    assert await socket.next("typing", who="agent") == {"type": "typing", "who": "agent", "agent": "Mari", "active": True}
    reply = await client.post(f"/console/api/conversations/{conversation}/messages", json={"text": "Hi, Mari here <b>!</b>"})
    assert reply.status == 201
    agent_message = (await socket.messages(1))[0]
    assert (agent_message["role"], agent_message["author"], agent_message["text"]) == ("agent", "Mari", "Hi, Mari here <b>!</b>")

    await socket.quiet(0.3)  # what is left of the earlier turns
    calls = len(bot.calls)
    await socket.send({"type": "typing"})
    await socket.send({"type": "message", "text": "thanks, my bill is wrong"})
    echoed = (await socket.messages(1))[0]
    assert echoed["role"] == "customer"
    quiet = await socket.quiet()
    assert not [f for f in quiet if f["type"] == "typing" and f["who"] == "bot"], "the bot is silent while Mari has it"
    assert not [f for f in quiet if f["type"] == "message"]
    assert len(bot.calls) == calls

    note = await client.post(f"/console/api/conversations/{conversation}/notes", json={"text": "internal: check invoice"})
    assert note.status == 201
    closed = await client.post(f"/console/api/conversations/{conversation}/close", json={"resolution": "fixed"})
    assert closed.status == 200
    assert (await socket.next("status", state="closed"))["agent"] is None
    rating = (await socket.messages(1))[0]
    assert rating["meta"]["kind"] == "rating_request" and len(rating["buttons"]) == 5
    assert not [f for f in await socket.quiet() if f["type"] == "message"], "an internal note reached the customer"

    await socket.send({"type": "message", "text": "5", "display": "5"})
    _, thanks = await socket.messages(2)
    assert thanks["meta"]["kind"] == "rating_thanks"
    assert (await socket.next("status"))["state"] == "bot"  # closed → bot publishes no event; the socket is told anyway
    await socket.close()
    await second.close()


async def test_agent_on_another_gateway_reaches_the_customer(database_url, aiohttp_client):
    """Two gateways on one database: the customer's socket is on one, the agent's console on the other."""
    customer_gateway = await aiohttp_client(gateway_app(database_url, ButtonBot()))
    agent_gateway = await aiohttp_client(gateway_app(database_url, ButtonBot()))
    agent_gateway.app[ROUTER_KEY].store.agents.create("mari", "Mari", PASSWORD)

    socket = await Socket.open(customer_gateway)
    tab = await Socket.open(customer_gateway)  # the same customer in a second browser tab
    await socket.send({"type": "message", "text": "talk to a human"})
    await socket.messages(3)
    assert [m["role"] for m in await tab.messages(3)] == ["customer", "bot", "bot"]  # the other tab follows

    await login(agent_gateway)
    conversation = conversation_id(agent_gateway)
    assert (await agent_gateway.post(f"/console/api/conversations/{conversation}/claim")).status == 200
    assert (await socket.next("status", state="agent", timeout=8))["agent"] == "Mari"
    reply = await agent_gateway.post(f"/console/api/conversations/{conversation}/messages", json={"text": "Mari from gateway two"})
    assert reply.status == 201
    received = [m for m in await socket.messages(2, timeout=8)]
    assert [m["meta"].get("kind") for m in received] == ["agent_joined", None]
    assert received[1]["text"] == "Mari from gateway two"
    assert [m["text"] for m in await tab.messages(2, timeout=8)][1] == "Mari from gateway two"
    assert not [f for f in await socket.quiet() if f["type"] == "message"], "a message arrived twice"

    # the poller is one task per gateway, not one per socket
    hub_tasks = [t for t in asyncio.all_tasks() if "WebchatHub.run" in repr(t.get_coro())]
    assert len(hub_tasks) == 2
    await socket.close()
    await tab.close()


# ---------------------------------------------------------------- feedback


async def test_feedback_on_an_answer(client, bot):
    router = client.app[ROUTER_KEY]
    if not hasattr(router, "feedback"):
        pytest.skip("ConversationRouter.feedback is not there yet")
    socket = await Socket.open(client)
    await socket.send({"type": "message", "text": "how do I pay?"})
    customer, answer = await socket.messages(2)
    await socket.send({"type": "feedback", "message_id": answer["id"], "helpful": True})
    thanks = (await socket.messages(1))[0]
    assert (thanks["role"], thanks["meta"]["kind"]) == ("bot", "feedback_thanks")
    assert not [f for f in await socket.quiet() if f["type"] in ("error", "message")]
    stored = router.store.messages(conversation_id(client), 0, ["system"])
    assert stored[-1].payload["feedback"] == {"message_id": answer["id"], "faq_id": None, "helpful": True}

    await socket.send({"type": "message", "text": "how do I pay by card?"})
    _, second_answer = await socket.messages(2)
    await socket.send({"type": "feedback", "message_id": second_answer["id"], "helpful": False})
    assert await socket.next("typing", who="bot", active=True)  # the bot tries again
    retry = (await socket.messages(1))[0]
    assert retry["role"] == "bot" and retry["text"] == "bot answer to: /didnt_help"

    for wrong in (customer["id"], answer["id"] + 1000):
        await socket.send({"type": "feedback", "message_id": wrong, "helpful": False})
        assert (await socket.next("error"))["code"] == "bad_feedback"

    stranger = await Socket.open(client, session="a-stranger-here")
    await stranger.send({"type": "feedback", "message_id": answer["id"], "helpful": False})
    assert (await stranger.next("error"))["code"] == "bad_feedback"  # not this customer's answer
    await socket.close()
    await stranger.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_only_the_allowed_sites_may_open_the_socket(database_url, aiohttp_client):
    store = HandoffStore.open(database_url, run_migrations=False)
    settings = Settings()
    settings.webchat_origins = "https://www.lainet.example, https://lainet.example/"
    client = await aiohttp_client(build_app(settings, store=store, bot=ButtonBot(), hours=BusinessHours.parse("always")))
    refused = await client.get("/webchat/socket", headers={"Origin": "https://evil.example", "Connection": "Upgrade",
                                                            "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                                                            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert refused.status == 403
    for origin in ("https://lainet.example", "https://WWW.lainet.example", f"http://{client.host}:{client.port}"):
        ws = await client.ws_connect("/webchat/socket", headers={"Origin": origin})
        await ws.send_json({"type": "hello", "session": SESSION})
        assert (await ws.receive_json(timeout=10))["type"] == "history", origin
        await ws.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_message_limit_follows_the_routers(database_url, aiohttp_client):
    client = await aiohttp_client(gateway_app(database_url, ButtonBot(), max_message_chars=50))
    socket = await Socket.open(client, session=None)
    await socket.send({"type": "hello", "session": SESSION})
    assert (await socket.next("history"))["max_chars"] == 50, "the widget learns the limit"
    await socket.send({"type": "message", "text": "x" * 51})
    customer, notice = await socket.messages(2)
    assert len(customer["text"]) == 51 and customer["text"].endswith("…"), "its beginning is kept"
    assert notice["meta"]["kind"] == Kind.LIMIT and "50" in notice["text"], "the router's notice, as on every channel"
    await socket.close()


async def test_a_message_sent_again_with_its_id_is_stored_and_answered_once(client, bot):
    socket = await Socket.open(client)
    await socket.send({"type": "message", "text": "how do I pay?", "id": "m-1"})
    await socket.messages(2)
    await socket.close()
    again = await Socket.open(client)  # the widget resends what it is not sure got through, with the same id
    await again.send({"type": "message", "text": "how do I pay?", "id": "m-1"})
    await again.quiet()
    store = client.app[ROUTER_KEY].store
    assert [m.text for m in store.messages(conversation_id(client), roles=["customer"])] == ["how do I pay?"]
    assert bot.calls == ["how do I pay?"]
    await again.close()


async def test_past_the_hourly_cap_the_customer_gets_an_error_frame(database_url, aiohttp_client):
    client = await aiohttp_client(gateway_app(database_url, FakeBot(), max_messages_per_hour=2))
    socket = await Socket.open(client)
    for n in range(2):
        await socket.send({"type": "message", "text": f"message {n}"})
        await socket.messages(2)
    await socket.send({"type": "message", "text": "one too many"})
    refused = await socket.next("error")
    assert refused["code"] == "too_many_messages"
    store = client.app[ROUTER_KEY].store
    assert len(store.messages(conversation_id(client), roles=["customer"])) == 2
    await socket.close()
