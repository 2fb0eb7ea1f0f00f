"""Slow consumers cannot freeze the others: bounded per-socket sending (a socket that does not read is closed,
the rest get their frames), the console feed and the web chat poller going on after errors, paginated history
in the console and the web chat, and the limit of new web chat conversations per client address."""
from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from typing import Any, Callable, Dict, List, Optional

import pytest
from aiohttp import WSMsgType, web
from app_thread import AppThread
from browser import browser, page  # noqa: F401  (pytest fixtures)
from fake_bot import FakeBot
from helpers import REST_AUTH, gateway_app

from handoff.console import app as console_module
from handoff.console.app import ROUTER_KEY, Console, LiveFeed
from handoff.live_events import TOO_SLOW_CLOSE_CODE, BoundedSender
from supportbot.channels.webchat import CHANNEL, HISTORY_PAGE, HUB_KEY, NewConversationLimit
from supportbot.gateway import build_app
from supportbot.settings import Settings

PASSWORD = "correct horse"
SESSION = "slow-consumer-session-1"


async def until(condition: Callable[[], bool], what: str, seconds: float = 10.0) -> None:
    """Waits for `condition`; a guard against hanging, not a measure of speed."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what}: not within {seconds} s")
        await asyncio.sleep(0.02)


class FakeSocket:
    """Stands in for a WebSocketResponse; `stuck`: a send never completes, as to a client that stopped reading."""

    def __init__(self, stuck: bool = False, close_hangs: bool = False):
        self.stuck = stuck
        self.close_hangs = close_hangs
        self.frames: List[Dict[str, Any]] = []
        self.closed = False
        self.close_code: Optional[int] = None

    async def send_str(self, text: str) -> None:
        if self.stuck:
            await asyncio.Event().wait()
        self.frames.append(json.loads(text))

    async def close(self, code: int = 1000, message: bytes = b"") -> bool:
        self.closed, self.close_code = True, code
        if self.close_hangs:
            await asyncio.Event().wait()
        return True


class FakeTransport:
    aborted = False

    def abort(self) -> None:
        self.aborted = True


# ---------------------------------------------------------------- the bounded sender


async def test_frames_go_out_in_order():
    fake = FakeSocket()
    out = BoundedSender(fake)
    for n in range(5):
        assert out.send({"n": n})
    await until(lambda: len(fake.frames) == 5, "five frames sent")
    assert [f["n"] for f in fake.frames] == list(range(5))
    assert not fake.closed
    await out.stop()


async def test_a_send_that_never_completes_closes_the_socket_as_too_slow():
    fake = FakeSocket(stuck=True)
    out = BoundedSender(fake, send_timeout=0.05)
    assert out.send({"n": 1})
    await until(lambda: fake.closed, "the stuck socket closed")
    assert fake.close_code == TOO_SLOW_CLOSE_CODE and out.too_slow
    assert not out.send({"n": 2}), "a closed socket takes no more frames"
    await out.stop()


async def test_a_full_queue_closes_the_socket_without_waiting_for_the_timeout():
    fake = FakeSocket(stuck=True)
    out = BoundedSender(fake, max_queued=3, send_timeout=3600)
    accepted = [out.send({"n": n}) for n in range(6)]
    assert accepted[:3] == [True] * 3 and not accepted[-1]
    await until(lambda: fake.closed, "the socket with a full queue closed")  # long before the hour is over
    assert fake.close_code == TOO_SLOW_CLOSE_CODE
    await out.stop()


async def test_when_even_the_close_cannot_go_out_the_connection_is_dropped():
    fake, transport = FakeSocket(stuck=True, close_hangs=True), FakeTransport()
    out = BoundedSender(fake, transport, send_timeout=0.05, close_timeout=0.05)
    out.send({"n": 1})
    await until(lambda: transport.aborted, "the connection dropped")
    await out.stop()


async def test_finish_closes_after_the_queued_frames():
    fake = FakeSocket()
    out = BoundedSender(fake)
    out.send({"n": 1})
    out.send({"n": 2})
    out.finish(4401, b"session ended")
    assert not out.send({"n": 3})
    await out.stop()
    assert [f["n"] for f in fake.frames] == [1, 2] and fake.close_code == 4401


# ---------------------------------------------------------------- the web chat: a customer who does not read


def masked_text_frame(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def socket_that_stops_reading(host: str, port: int, session: str):
    """A WebSocket client with a tiny receive buffer that says hello and then never reads again."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    raw.setblocking(False)
    await asyncio.get_running_loop().sock_connect(raw, (host, port))
    reader, writer = await asyncio.open_connection(sock=raw, limit=1024)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(f"GET /webchat/socket HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    await writer.drain()
    assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
    writer.write(masked_text_frame(json.dumps({"type": "hello", "session": session})))
    await writer.drain()
    return reader, writer  # the reader too: without it, what arrives would be read and dropped


class Customer:
    """A customer's socket that reads: frames are collected and awaited by type."""

    def __init__(self, ws):
        self.ws = ws
        self.frames: List[Dict[str, Any]] = []

    @classmethod
    async def open(cls, client, session: str = SESSION, **headers) -> "Customer":
        customer = cls(await client.ws_connect("/webchat/socket", headers=headers))
        await customer.send({"type": "hello", "session": session})
        await customer.next("history")
        return customer

    async def send(self, frame: Dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(frame))

    async def next(self, kind: str, timeout: float = 10.0) -> Dict[str, Any]:
        while True:
            for index, frame in enumerate(self.frames):
                if frame["type"] == kind:
                    return self.frames.pop(index)
            incoming = await self.ws.receive(timeout=timeout)
            if incoming.type != WSMsgType.TEXT:
                raise AssertionError(f"the socket ended: {incoming}")
            self.frames.append(json.loads(incoming.data))

    async def message(self, timeout: float = 10.0) -> Dict[str, Any]:
        return (await self.next("message", timeout))["message"]


@pytest.fixture
def bot():
    return FakeBot()


@pytest.fixture
async def client(database_url, bot, aiohttp_client):
    app = gateway_app(database_url, bot)
    app[ROUTER_KEY].store.agents.create("mari", "Mari", PASSWORD)
    return await aiohttp_client(app, headers=REST_AUTH)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_customer_who_stops_reading_is_closed_and_delays_nobody(client):
    hub = client.app[HUB_KEY]
    hub.send_timeout = 0.5
    store = client.app[ROUTER_KEY].store
    reading = await Customer.open(client)
    await reading.send({"type": "message", "text": "hello"})
    await reading.message()
    await reading.message()
    conversation = store.find(CHANNEL, SESSION).id

    before = set(hub.clients)
    _, writer = await socket_that_stops_reading(client.host, client.port, SESSION)  # the same customer's other tab
    await until(lambda: len(hub.clients) == 2 and all(c.ready for c in hub.clients), "the second tab joined")
    [slow] = hub.clients - before
    # a small send buffer: the server has to wait for this client after about a hundred kilobytes
    slow.out.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)

    texts = [f"{n:03d} " + "x" * 3900 for n in range(80)]

    def agent_writes():
        for text in texts:
            store.add_message(conversation, "agent", text, "Mari")

    await asyncio.to_thread(agent_writes)
    received = [(await reading.message())["text"] for _ in texts]
    assert received == texts, "the reading tab got every message, in order"
    await until(lambda: slow not in hub.clients, "the tab that does not read was let go")
    assert slow.out.too_slow and reading.ws.closed is False
    writer.close()

    again = Customer(await client.ws_connect("/webchat/socket"))  # the slow tab reconnects and catches up
    await again.send({"type": "hello", "session": SESSION})
    history = await again.next("history")
    assert [m["text"] for m in history["messages"]][-len(texts):] == texts


async def test_the_console_feed_of_a_socket_that_does_not_read_ends(database_url, bot):
    app = gateway_app(database_url, bot)
    router = app[ROUTER_KEY]
    agent = router.store.agents.create("mari", "Mari", PASSWORD)
    fake = FakeSocket(stuck=True)
    feed = LiveFeed(Console(router, None), agent, BoundedSender(fake, send_timeout=0.05), poll_seconds=0.01)
    running = asyncio.create_task(feed.run())
    await until(running.done, "the feed ended")
    assert running.exception() is None
    assert fake.close_code == TOO_SLOW_CLOSE_CODE
    router.store.engine.dispose()


# ---------------------------------------------------------------- the feed survives errors


class FailsOnce:
    """Wraps a store method: raises on the next call after `arm()`, then works again."""

    def __init__(self, method):
        self.method = method
        self.armed = False
        self.failed = 0

    def arm(self) -> None:
        self.armed = True

    def __call__(self, *args, **kwargs):
        if self.armed:
            self.armed = False
            self.failed += 1
            raise RuntimeError("the database went away for a moment")
        return self.method(*args, **kwargs)


async def login(client, username: str = "mari") -> None:
    reply = await client.post("/console/api/login", json={"username": username, "password": PASSWORD})
    assert reply.status == 200, await reply.text()


async def next_of(socket, kind: str, condition: Callable[[Dict[str, Any]], bool] = lambda e: True) -> Dict[str, Any]:
    while True:
        event = await socket.receive_json(timeout=10)
        if event["type"] == kind and condition(event):
            return event


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_console_feed_goes_on_after_a_failed_read_and_a_failed_frame(client, caplog):
    store = client.app[ROUTER_KEY].store
    await login(client)
    async with client.ws_connect("/console/api/live") as socket_:
        assert (await socket_.receive_json(timeout=10))["type"] == "queue"
        store.events_after = FailsOnce(store.events_after)
        store.events_after.arm()
        await until(lambda: store.events_after.failed == 1, "the read failed")
        await client.post("/webhooks/rest/webhook", json={"sender": "anna", "message": "I want a human"})
        queue = await next_of(socket_, "queue", lambda e: bool(e["waiting"]))
        conversation = queue["waiting"][0]["id"]

        store.publish(conversation + 1000, "state", {"state": "waiting"})  # no such conversation: no frame
        await client.post("/webhooks/rest/webhook", json={"sender": "anna", "message": "still there?"})
        message = await next_of(socket_, "message", lambda e: e["message"]["conversation_id"] == conversation)
        assert message["message"]["text"] == "still there?"
    assert "the live feed of mari failed; trying again" in caplog.text
    assert "could not be sent to mari" in caplog.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_web_chat_poller_goes_on_after_a_failed_read(client, caplog):
    store = client.app[ROUTER_KEY].store
    customer = await Customer.open(client)
    await customer.send({"type": "message", "text": "hello"})
    await customer.message()
    await customer.message()
    conversation = store.find(CHANNEL, SESSION).id
    store.events_after = FailsOnce(store.events_after)
    store.events_after.arm()
    await until(lambda: store.events_after.failed == 1, "the read failed")
    await asyncio.to_thread(store.add_message, conversation, "agent", "still here", "Mari")
    assert (await customer.message())["text"] == "still here"
    assert "the web chat's live poller failed; trying again" in caplog.text


# ---------------------------------------------------------------- paginated history


def fill(store, conversation_id: int, count: int) -> List[int]:
    """`count` messages, every fifth an internal note; their ids."""
    ids = []
    for n in range(count):
        role = "note" if n % 5 == 4 else ("customer" if n % 2 else "bot")
        ids.append(store.add_message(conversation_id, role, f"message {n}", None).id)
    return ids


def test_pages_hold_every_message_once(store):
    conversation = store.conversation("webchat", "pages")
    ids = fill(store, conversation.id, 53)
    seen, before, flags = [], None, []
    while True:
        page, has_earlier = store.messages_page(conversation.id, before, 10)
        seen[:0] = [m.id for m in page]
        flags.append(has_earlier)
        if not has_earlier:
            break
        before = page[0].id
    assert seen == ids
    assert flags == [True] * 5 + [False]
    visible, _ = store.messages_page(conversation.id, None, 100, ("customer", "bot"))
    assert [m.role for m in visible if m.role == "note"] == [] and len(visible) == 53 - 10
    assert store.messages_page(conversation.id, ids[0], 10) == ([], False)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_console_sends_the_latest_page_and_older_ones_on_request(client, monkeypatch):
    store = client.app[ROUTER_KEY].store
    conversation = store.conversation("rest", "long-talker")
    ids = fill(store, conversation.id, console_module.MESSAGE_PAGE + 30)
    await login(client)
    details = await (await client.get(f"/console/api/conversations/{conversation.id}")).json()
    assert [m["id"] for m in details["messages"]] == ids[-console_module.MESSAGE_PAGE:]
    assert details["has_earlier"] is True

    seen = [m["id"] for m in details["messages"]]
    before = seen[0]
    while True:
        reply = await client.get(f"/console/api/conversations/{conversation.id}/messages",
                                 params={"before": before, "limit": 7})
        assert reply.status == 200
        page = await reply.json()
        seen[:0] = [m["id"] for m in page["messages"]]
        if not page["has_earlier"]:
            break
        before = page["messages"][0]["id"]
    assert seen == ids, "every message once, in order"

    latest = await (await client.get(f"/console/api/conversations/{conversation.id}/messages")).json()
    assert [m["id"] for m in latest["messages"]] == ids[-console_module.MESSAGE_PAGE:]
    monkeypatch.setattr(console_module, "MAX_MESSAGE_PAGE", 12)
    capped = await (await client.get(f"/console/api/conversations/{conversation.id}/messages",
                                     params={"limit": 100000})).json()
    assert len(capped["messages"]) == 12

    for bad in ({"before": "abc"}, {"before": "0"}, {"before": "-3"}, {"before": "²"}, {"before": "9" * 30},
                {"limit": "0"}, {"limit": "x"}, {"limit": "1.5"}, {"limit": ""}):
        reply = await client.get(f"/console/api/conversations/{conversation.id}/messages", params=bad)
        assert reply.status == 400, bad
        assert "error" in await reply.json()
    assert (await client.get("/console/api/conversations/99999/messages")).status == 404


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_console_messages_need_a_login(client):
    assert (await client.get("/console/api/conversations/1/messages")).status == 401


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_web_chat_history_comes_in_pages(client):
    store = client.app[ROUTER_KEY].store
    conversation = store.conversation(CHANNEL, SESSION)
    ids = fill(store, conversation.id, HISTORY_PAGE + 60)
    visible = [i for n, i in enumerate(ids) if n % 5 != 4]
    customer = Customer(await client.ws_connect("/webchat/socket"))
    await customer.send({"type": "hello", "session": SESSION})
    history = await customer.next("history")
    assert [m["id"] for m in history["messages"]] == visible[-HISTORY_PAGE:]
    assert history["has_earlier"] is True

    seen = [m["id"] for m in history["messages"]]
    while True:
        await customer.send({"type": "history", "before": seen[0]})
        page = await customer.next("history_page")
        assert page["before"] == seen[0]
        seen[:0] = [m["id"] for m in page["messages"]]
        if not page["has_earlier"]:
            break
    assert seen == visible, "every message the customer may see, once, in order; no internal notes"

    for bad in ({"type": "history"}, {"type": "history", "before": "12"}, {"type": "history", "before": 0},
                {"type": "history", "before": True}):
        await customer.send(bad)
        assert (await customer.next("error"))["code"] == "bad_frame", bad

    stranger = await Customer.open(client, session="never-wrote-anything")
    await stranger.send({"type": "history", "before": ids[-1]})
    page = await stranger.next("history_page")
    assert page["messages"] == [] and page["has_earlier"] is False  # not another customer's messages


# ---------------------------------------------------------------- new conversations per address


def test_the_limit_counts_per_address_in_a_sliding_hour():
    now = [0.0]
    limit = NewConversationLimit(2, window=3600, clock=lambda: now[0])
    assert limit.allow("10.0.0.1") and limit.allow("10.0.0.1")
    assert not limit.allow("10.0.0.1")
    assert limit.allow("10.0.0.2")
    now[0] = 3599
    assert not limit.allow("10.0.0.1")
    now[0] = 3600
    assert limit.allow("10.0.0.1")
    unlimited = NewConversationLimit(0)
    assert all(unlimited.allow("10.0.0.1") for _ in range(100))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_one_address_may_start_only_so_many_conversations(client, bot):
    store = client.app[ROUTER_KEY].store
    client.app[HUB_KEY].new_conversations.per_hour = 2
    first = await Customer.open(client, session="customer-one")
    await first.send({"type": "message", "text": "one"})
    assert [(await first.message())["role"] for _ in range(2)] == ["customer", "bot"]
    second = await Customer.open(client, session="customer-two")
    await second.send({"type": "message", "text": "two"})
    assert [(await second.message())["role"] for _ in range(2)] == ["customer", "bot"]

    # the header is not believed unless the gateway is behind a trusted proxy
    third = await Customer.open(client, session="customer-three", **{"X-Forwarded-For": "198.51.100.7"})
    await third.send({"type": "message", "text": "three"})
    refused = await third.next("error")
    assert refused["code"] == "too_many_conversations" and "try again later" in refused["error"]
    assert store.find(CHANNEL, "customer-three") is None, "nothing is stored"
    assert "three" not in bot.calls

    await first.send({"type": "message", "text": "one again"})  # an existing conversation goes on
    assert (await first.message())["text"] == "one again"
    tab = await Customer.open(client, session="customer-two")  # and so does another tab of one
    await tab.send({"type": "message", "text": "two again"})
    assert (await tab.message())["text"] == "two again"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_behind_a_trusted_proxy_the_forwarded_address_counts(client):
    store = client.app[ROUTER_KEY].store
    hub = client.app[HUB_KEY]
    hub.new_conversations.per_hour = 1
    hub.trust_forwarded_for = True
    for n, forwarded in enumerate(["203.0.113.1", "203.0.113.2", "203.0.113.1, 203.0.113.3"]):
        customer = await Customer.open(client, session=f"proxied-{n}", **{"X-Forwarded-For": forwarded})
        await customer.send({"type": "message", "text": f"hi {n}"})
        await customer.message()
    assert all(store.find(CHANNEL, f"proxied-{n}") for n in range(3)), "the last address of the header is the client's"
    again = await Customer.open(client, session="proxied-again", **{"X-Forwarded-For": "10.9.9.9, 203.0.113.2"})
    await again.send({"type": "message", "text": "me again"})
    assert (await again.next("error"))["code"] == "too_many_conversations"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_settings_reach_the_web_chat(database_url, monkeypatch):
    from handoff.store import HandoffStore

    monkeypatch.setenv("WEBCHAT_NEW_CONVERSATIONS_PER_HOUR", "7")
    monkeypatch.setenv("BEHIND_TRUSTED_PROXY", "yes")
    store = HandoffStore.open(database_url, run_migrations=False)
    hub = build_app(Settings.from_environ(), store=store, bot=FakeBot())[HUB_KEY]
    assert hub.new_conversations.per_hour == 7 and hub.trust_forwarded_for is True
    monkeypatch.delenv("BEHIND_TRUSTED_PROXY")
    monkeypatch.delenv("WEBCHAT_NEW_CONVERSATIONS_PER_HOUR")
    defaults = Settings.from_environ()
    assert (defaults.behind_trusted_proxy, defaults.webchat_new_conversations_per_hour) == (False, 30)
    store.engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_console_page_shows_earlier_messages_on_request(database_url, page):  # noqa: F811  (fixture)
    from playwright.sync_api import expect

    app = gateway_app(database_url, FakeBot())
    store = app[ROUTER_KEY].store
    store.agents.create("mari", "Mari", PASSWORD)
    conversation = store.conversation("rest", "long-talker")
    count = console_module.MESSAGE_PAGE + 30
    ids = fill(store, conversation.id, count)
    store.hand_off(conversation.id, "human_request")
    with AppThread(app) as gateway:
        page.goto(f"http://127.0.0.1:{gateway.port}/console/#conversation-{conversation.id}")
        page.get_by_test_id("login-username").fill("mari")
        page.get_by_test_id("login-password").fill(PASSWORD)
        page.get_by_test_id("login-submit").click()
        page.locator(f'[data-testid="queue-item"][data-conversation-id="{conversation.id}"]').first.click()
        messages = page.locator('#transcript [data-testid="message"]')
        expect(messages).to_have_count(console_module.MESSAGE_PAGE)
        earlier = page.get_by_test_id("show-earlier")
        earlier.click()
        expect(messages).to_have_count(count)
        expect(earlier).to_have_count(0)
        shown = [int(i) for i in messages.evaluate_all("nodes => nodes.map(n => n.dataset.messageId)")]
        assert shown == ids, "every message once, in order"

        page.get_by_test_id("claim").click()  # the conversation is read again: the earlier pages stay
        expect(page.get_by_test_id("return-to-bot")).to_be_visible()
        expect(messages.first).to_have_attribute("data-message-id", str(ids[0]))
        expect(earlier).to_have_count(0)
        assert page.js_errors == []
        page.goto("about:blank")  # the live socket closes: the server can stop
    store.engine.dispose()
