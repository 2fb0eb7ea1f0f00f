"""The Telegram channel of the gateway over real HTTP, against a local stand-in for the Bot API (tests/fake_telegram.py):
the helpers, the webhook's checks, a conversation with a scripted bot, and a whole conversation with the real bot,
the console and a restart of the gateway."""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import time
from datetime import datetime, timezone
from typing import Any, Dict, List, Optional

import pytest
from aiohttp.test_utils import TestClient, TestServer
from fake_telegram import FakeTelegram, buttons_of

from replies.composer import load_phrases
from handoff.db import migrate
from handoff.hours import BusinessHours
from handoff.store import HandoffStore
from handoff.views import MessageView
from supportbot.channels import telegram as tg
from supportbot.channels.telegram import (
    MAX_TEXT, TELEGRAM_KEY, keyboard_for, parse_callback_data, split_text, utf16_length, webhook_secret,
)
from supportbot.gateway import build_app
from supportbot.settings import Settings
from supportbot.stack import free_port

TOKEN = "123456:TEST-token"
for _name in ("TELEGRAM_TOKEN", "TELEGRAM_API_URL", "TELEGRAM_WEBHOOK_URL", "TELEGRAM_WEBHOOK_SECRET"):
    os.environ.pop(_name, None)  # a developer's real bot must never be polled by a test's gateway (nor its children)
PASSWORD = "correct horse battery"
PHRASES = load_phrases()


def variants(key: str, language: str) -> List[str]:
    by_register = PHRASES[key][language]
    return list(by_register["formal"]) + list(by_register["informal"])


# --- helpers --------------------------------------------------------------------------------------------------

def test_long_text_is_split_at_paragraphs_then_lines_then_words():
    paragraphs = ["Paragraph %d. " % i + "word " * 300 for i in range(8)]  # about 1.5k characters each
    text = "\n\n".join(p.strip() for p in paragraphs)
    chunks = split_text(text)
    assert len(chunks) > 1 and "".join(chunks) == text
    assert all(utf16_length(c) <= MAX_TEXT for c in chunks)
    assert all(c.endswith("\n\n") for c in chunks[:-1])  # whole paragraphs

    lines = "\n".join("line %d " % i + "x" * 90 for i in range(100))
    chunks = split_text(lines)
    assert "".join(chunks) == lines and all(len(c) <= MAX_TEXT for c in chunks)
    assert all(c.endswith("\n") for c in chunks[:-1])

    words = " ".join("word%d" % i for i in range(2000))
    chunks = split_text(words)
    assert "".join(chunks) == words and all(len(c) <= MAX_TEXT for c in chunks)
    assert all(c.endswith(" ") for c in chunks[:-1])


def test_split_cuts_unbroken_text_and_counts_as_telegram_does():
    solid = "a" * 10000
    assert [len(c) for c in split_text(solid)] == [4096, 4096, 1808]
    emoji = "😀" * 3000  # two UTF-16 units each: Telegram's limit counts those
    chunks = split_text(emoji)
    assert "".join(chunks) == emoji and all(utf16_length(c) <= MAX_TEXT for c in chunks)
    assert split_text("short") == ["short"] and split_text("") == [""]
    assert split_text("x" * MAX_TEXT) == ["x" * MAX_TEXT]
    early_paragraph = "intro\n\n" + "word " * 1000  # a paragraph break near the start is not worth a tiny message
    assert len(split_text(early_paragraph)[0]) > MAX_TEXT // 2


def test_callback_data():
    assert parse_callback_data("b:123:0") == ("b", 123, 0)
    assert parse_callback_data("f:77:1") == ("f", 77, 1) and parse_callback_data("f:77:0").value == 0
    for bad in (None, "", "b:1", "f:1:2", "x:1:1", "b:-1:0", "b:1:0:extra", "b:abc:0", "b:1:" + "9" * 5):
        assert parse_callback_data(bad) is None, bad
    assert len(tg.button_data(10 ** 17, 999).encode()) <= 64


def test_keyboards():
    clarify = MessageView(5, 1, "bot", "Which one?", None, None, {"buttons": [
        {"title": "How do I cancel my contract?", "payload": '/faq{"faq_id":"contract-cancel"}'},
        {"title": "None of these", "payload": "/deny"}], "custom": {"kind": "clarify"}})
    rows = keyboard_for(clarify).inline_keyboard
    assert [[(b.text, b.callback_data) for b in row] for row in rows] == [
        [("How do I cancel my contract?", "b:5:0")], [("None of these", "b:5:1")]]
    answer = MessageView(6, 1, "bot", "Pay by bank link.", None, None, {"buttons": [], "custom": {"kind": "answer"}})
    assert [[b.callback_data for b in row] for row in keyboard_for(answer).inline_keyboard] == [["f:6:1", "f:6:0"]]
    rating = MessageView(7, 1, "bot", "How did we do?", None, None,
                         {"buttons": [{"title": str(n), "payload": str(n)} for n in range(1, 6)], "custom": {}})
    assert len(keyboard_for(rating).inline_keyboard) == 1  # one row of 1-5
    assert keyboard_for(MessageView(8, 1, "agent", "Hi", "Mari", None, {})) is None


def test_the_webhook_secret_is_generated_once_and_kept(tmp_path):
    kept = tmp_path / "var" / "telegram-webhook-secret"
    first = webhook_secret("", kept)
    assert len(first) >= 32 and set(first) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
    assert webhook_secret("", kept) == first and (kept.stat().st_mode & 0o777) == 0o600
    assert webhook_secret("configured", kept) == "configured"


# --- the gateway with a scripted bot ---------------------------------------------------------------------------

class ScriptedBot:
    """Stands in for Rasa: a clarifying question with buttons, a handoff, a long answer, else a short answer."""

    def __init__(self, delay: float = 0.0):
        self.calls: List[Dict[str, Any]] = []
        self.delay = delay

    async def send(self, sender_id: str, text: str, metadata: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
        self.calls.append({"sender": sender_id, "text": text, "metadata": metadata})
        await asyncio.sleep(self.delay)
        language = ((metadata or {}).get("telegram") or {}).get("language_code") or "en"
        if text == "boom":
            raise RuntimeError("the scripted bot broke")
        if text == "contract":
            return [{"text": "Did you mean one of these?", "custom": {"kind": "clarify", "language": language},
                     "buttons": [{"title": "Cancelling a contract", "payload": '/faq{"faq_id":"contract-cancel"}'},
                                 {"title": "None of these", "payload": "/deny"}]}]
        if "human" in text:
            return [{"text": "A colleague will take over.", "custom": {
                "kind": "handoff", "reason": "human_request", "language": language, "question": text}}]
        if text == "long":
            return [{"text": "\n\n".join(f"Step {i}: " + "do this " * 100 for i in range(10)),
                     "custom": {"kind": "answer", "faq_id": "long-one", "language": language}}]
        return [{"text": f"answer to: {text}", "custom": {"kind": "answer", "faq_id": "some-faq", "language": language}}]

    async def close(self) -> None:
        pass


@pytest.fixture
async def fake():
    server = await FakeTelegram(TOKEN).start()
    yield server
    await server.close()


@pytest.fixture
def sqlite_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'supportbot.db'}"
    migrate(url)
    return url


@contextlib.asynccontextmanager
async def gateway(settings: Settings, bot=None, port: Optional[int] = None):
    """The gateway in this process, with its Telegram channel started."""
    app = build_app(settings, store=HandoffStore.open(settings.database_url, run_migrations=False), bot=bot,
                    hours=BusinessHours.parse("always"), rasa_urls=None if bot else settings.rasa_urls)
    client = TestClient(TestServer(app, host="127.0.0.1", port=port))
    await client.start_server()
    try:
        await asyncio.wait_for(app[TELEGRAM_KEY].ready.wait(), 30)
        yield client
    finally:
        await client.close()


async def wait_until(condition, timeout: float = 30.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(condition)
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def press_data(message: Dict[str, Any], text: str) -> str:
    return next(b["callback_data"] for b in buttons_of(message) if b["text"] == text)


async def test_malformed_or_unauthenticated_webhook_requests_are_refused(fake, sqlite_url):
    port = free_port()
    settings = Settings(database_url=sqlite_url, telegram_token=TOKEN, telegram_api_url=fake.url,
                        telegram_webhook_url=f"http://127.0.0.1:{port}/webhooks/telegram", telegram_webhook_secret="s3cret-token")
    bot = ScriptedBot()
    async with gateway(settings, bot, port) as client:
        assert fake.webhook["url"] == settings.telegram_webhook_url and fake.webhook["secret_token"] == "s3cret-token"
        assert set(fake.webhook["allowed_updates"]) == {"message", "edited_message", "callback_query"}
        update = {"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": {"id": 42, "type": "private"},
                                              "from": {"id": 42, "is_bot": False, "first_name": "Anna"}, "text": "hi"}}
        assert (await client.post("/webhooks/telegram", json=update)).status == 403
        wrong = {tg.SECRET_HEADER: "guess"}
        assert (await client.post("/webhooks/telegram", json=update, headers=wrong)).status == 403
        right = {tg.SECRET_HEADER: "s3cret-token"}
        for body in (b"not json", b"\xff\xfe", b"[1, 2]", b'"text"', b"{}", b'{"update_id": "1"}',
                     json.dumps({"update_id": 2, "message": "not a message"}).encode(),
                     json.dumps({"update_id": 3, "message": {"chat": 5}}).encode()):
            reply = await client.post("/webhooks/telegram", data=body, headers={**right, "Content-Type": "application/json"})
            assert reply.status == 400, (body, reply.status, await reply.text())
        assert (await client.get("/health")).status == 200
        assert bot.calls == []

        await fake.text(42, "how do I pay?")  # the fake posts to the webhook with the secret, as Telegram does
        [answer] = await fake.wait_sent(42, 0)
        assert answer["text"] == "answer to: how do I pay?"
        assert [b["text"] for b in buttons_of(answer)] == ["👍", "👎"]
        assert bot.calls[0]["sender"] == "telegram:42"
    assert not any(call["method"] == "deleteWebhook" for call in fake.calls)  # Telegram keeps updates while we are away


async def test_an_update_telegram_sends_again_is_handled_once(fake, sqlite_url):
    port = free_port()
    settings = Settings(database_url=sqlite_url, telegram_token=TOKEN, telegram_api_url=fake.url,
                        telegram_webhook_url=f"http://127.0.0.1:{port}/webhooks/telegram", telegram_webhook_secret="s3cret-token")
    bot = ScriptedBot()
    async with gateway(settings, bot, port) as client:
        update = {"update_id": 777, "message": {"message_id": 5, "date": 0, "chat": {"id": 43, "type": "private"},
                                                "from": {"id": 43, "is_bot": False, "first_name": "Anna"}, "text": "how do I pay?"}}
        for _ in range(3):  # Telegram repeats an update whose webhook call it thinks failed
            reply = await client.post("/webhooks/telegram", json=update, headers={tg.SECRET_HEADER: "s3cret-token"})
            assert reply.status == 200
        await fake.wait_sent(43, 0)
        await fake.text(43, "and by card?")  # the next update goes through after the repeats
        await fake.wait_sent(43, 1)
        store = client.server.app[TELEGRAM_KEY].router.store
        conversation = store.find("telegram", "43")
        assert [m.text for m in store.messages(conversation.id, 0, ["customer"])] == ["how do I pay?", "and by card?"]
        assert [c["text"] for c in bot.calls] == ["how do I pay?", "and by card?"]
        assert len(fake.sent_to(43)) == 2


async def test_a_conversation_with_a_scripted_bot_over_long_polling(fake, sqlite_url, monkeypatch, caplog):
    monkeypatch.setattr(tg, "TYPING_EVERY", 0.05)
    monkeypatch.setattr(tg, "TYPING_AFTER", 0.0)
    settings = Settings(database_url=sqlite_url, telegram_token=TOKEN, telegram_api_url=fake.url)
    bot = ScriptedBot(delay=0.3)
    chat = 4242
    async with gateway(settings, bot) as client:
        store = client.server.app[TELEGRAM_KEY].router.store
        assert any(call["method"] == "deleteWebhook" for call in fake.calls)  # polling makes sure no webhook is set

        await fake.text(chat, "/start", first_name="Ivan", language_code="ru")
        [greeting] = await fake.wait_sent(chat, 0)
        assert bot.calls[-1]["text"] == "Здравствуйте!"  # the customer's greeting, in their app's language
        assert bot.calls[-1]["metadata"]["telegram"] == {"first_name": "Ivan", "language_code": "ru"}
        assert greeting["text"] == "answer to: Здравствуйте!"
        assert len([a for a in fake.chat_actions if a["chat_id"] == chat and a["action"] == "typing"]) >= 3

        await fake.sticker(chat, first_name="Ivan", language_code="ru")
        [polite] = await fake.wait_sent(chat, 1)
        assert polite["text"] in variants("unsupported_content", "ru")
        conversation = store.find("telegram", str(chat))
        assert [m.text for m in store.messages(conversation.id, 0, ["customer"])][-1] == "[sticker]"
        assert len(bot.calls) == 1  # the bot was not asked

        edited = await fake.text(chat, "how do I pay?", language_code="ru")
        await fake.wait_sent(chat, 2)
        await fake.text(chat, "how do I pay by card?", language_code="ru", edited_id=edited["message"]["message_id"])
        [again] = await fake.wait_sent(chat, 3)
        assert again["text"] == "answer to: how do I pay by card?"

        await fake.text(chat, "contract", language_code="ru")
        [clarify] = await fake.wait_sent(chat, 4)
        assert [b["text"] for b in buttons_of(clarify)] == ["Cancelling a contract", "None of these"]
        await fake.press(clarify, press_data(clarify, "Cancelling a contract"), language_code="ru")
        [chosen] = await fake.wait_sent(chat, 5)
        assert bot.calls[-1]["text"] == '/faq{"faq_id":"contract-cancel"}'
        assert chosen["text"] == 'answer to: /faq{"faq_id":"contract-cancel"}'
        stored = store.messages(store.find("telegram", str(chat)).id, 0, ["customer"])
        assert stored[-1].text == "Cancelling a contract", "the transcript shows the pressed button's title"
        assert fake.callback_answers and "reply_markup" not in clarify  # the pressed buttons are gone
        await fake.press(clarify, "b:99999:0")  # a button of a message that is not this chat's: answered, ignored
        await wait_until(lambda: len(fake.callback_answers) == 2, what="the callback answer")

        await fake.press(chosen, press_data(chosen, "👍"), language_code="ru")
        [thanks] = await fake.wait_sent(chat, 6)
        assert thanks["text"] in variants("feedback_thanks", "ru")
        assert "reply_markup" not in chosen
        calls = len(bot.calls)
        await fake.press(chosen, "f:1:1")  # not an answer of the bot: answered, nothing else
        await wait_until(lambda: len(fake.callback_answers) == 4, what="the callback answer")
        assert len(bot.calls) == calls and len(fake.sent_to(chat)) == 7

        await fake.text(chat, "boom", language_code="ru")  # an error is logged, and the next message is answered
        await wait_until(lambda: "failed on update" in caplog.text, what="the error in the log")
        assert "the scripted bot broke" in caplog.text and len(fake.sent_to(chat)) == 7

        await fake.text(chat, "long", language_code="ru")
        parts = await fake.wait_sent(chat, 7, count=2, settle=0.3)
        assert len(parts) == 2 and all(len(p["text"]) <= 4096 for p in parts)
        assert "reply_markup" not in parts[0] and [b["text"] for b in buttons_of(parts[1])] == ["👍", "👎"]

        # an agent takes over: the bot is silent, and what the agent says arrives from the console
        await fake.text(chat, "I want a human", language_code="ru")
        await fake.wait_sent(chat, 9, count=2)
        kinds = [m.payload["custom"]["kind"] for m in store.messages(conversation.id, 0, ["bot"])[-2:]]
        assert kinds == ["handoff", "queue_status"]
        store.agents.create("mari", "Mari", PASSWORD)
        assert (await client.post("/console/api/login", json={"username": "mari", "password": PASSWORD})).status == 200
        assert (await client.post(f"/console/api/conversations/{conversation.id}/claim")).status == 200
        [joined] = await fake.wait_sent(chat, 11)
        assert "Mari" in joined["text"]
        typing_before = len([a for a in fake.chat_actions if a["chat_id"] == chat])
        assert (await client.post(f"/console/api/conversations/{conversation.id}/typing")).status == 204
        assert len([a for a in fake.chat_actions if a["chat_id"] == chat]) == typing_before + 1, "the agent's typing shows"
        sent = await client.post(f"/console/api/conversations/{conversation.id}/messages", json={"text": "Mari here."})
        assert sent.status == 201
        [from_agent] = await fake.wait_sent(chat, 12)
        assert from_agent["text"] == "Mari here." and "reply_markup" not in from_agent
        calls = len(bot.calls)
        await fake.text(chat, "thank you", language_code="ru")
        await wait_until(lambda: store.messages(conversation.id, 0, ["customer"])[-1].text == "thank you", what="the message")
        await asyncio.sleep(0.3)
        assert len(bot.calls) == calls and len(fake.sent_to(chat)) == 13
        await fake.text(chat, "x" * 4096)  # longer than the router takes: a polite note, no crash
        [too_long] = await fake.wait_sent(chat, 13)
        assert store.messages(conversation.id, 0, ["bot"])[-1].payload["custom"] == {"kind": "limit", "limit": "message_length"}
        assert "4000" in too_long["text"]


async def test_the_channel_answers_politely_when_the_bot_is_down(fake, sqlite_url):
    settings = Settings(database_url=sqlite_url, telegram_token=TOKEN, telegram_api_url=fake.url,
                        rasa_port=free_port())  # nothing listens there
    async with gateway(settings) as client:
        await fake.text(77, "Tere, arve on liiga suur", language_code="et")
        sorry = (await fake.wait_sent(77, 0))[0]
        assert sorry["text"] in variants("handoff_bot_unavailable", "et")
        store = client.server.app[TELEGRAM_KEY].router.store
        conversation = store.find("telegram", "77")
        assert store.messages(conversation.id, 0, ["customer"])[0].text == "Tere, arve on liiga suur"
        assert conversation.state == "waiting" and store.current_handoff(conversation.id).reason == "bot_unavailable"


async def test_the_gateway_starts_while_telegram_is_unreachable_and_the_token_stays_out_of_the_logs(sqlite_url, caplog):
    settings = Settings(database_url=sqlite_url, telegram_token=TOKEN, telegram_api_url=f"http://127.0.0.1:{free_port()}")
    app = build_app(settings, bot=ScriptedBot(), hours=BusinessHours.parse("always"))
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/health")).status == 200
        await asyncio.sleep(0.5)
        assert not app[TELEGRAM_KEY].ready.is_set()
    assert "not reachable" in caplog.text and "TEST-token" not in caplog.text


async def test_without_a_token_there_is_no_telegram_channel(sqlite_url):
    app = build_app(Settings(database_url=sqlite_url, telegram_token=""), bot=ScriptedBot())
    assert TELEGRAM_KEY not in app
    async with TestClient(TestServer(app)) as client:
        assert (await client.post("/webhooks/telegram", json={})).status in (404, 405)


# --- the whole bot ---------------------------------------------------------------------------------------------

@pytest.mark.slow
async def test_a_whole_conversation_on_telegram_with_the_real_bot_and_an_agent(live_bot):
    fake = await FakeTelegram(TOKEN).start()
    settings = dataclasses.replace(live_bot, telegram_token=TOKEN, telegram_api_url=fake.url)
    store = HandoffStore.open(live_bot.database_url, run_migrations=False)
    store.agents.create("tg-mari", "Mari", PASSWORD)
    chat = 90210
    greetings = variants("greet", "en")
    try:
        async with gateway(settings) as client:
            await fake.text(chat, "/start", first_name="Anna", language_code="en")
            [greeting] = await fake.wait_sent(chat, 0)
            assert any(greeting["text"] == g.format(bot_name="Laine", name_greeting=n) for g in greetings
                       for n in ("", ", Anna")), greeting["text"]
            conversation = store.find("telegram", str(chat))
            assert store.messages(conversation.id, 0, ["bot"])[-1].payload["custom"]["intent"] == "greet"

            await fake.text(chat, "how can I pay my bill?")
            [answer] = await fake.wait_sent(chat, 1)
            custom = store.messages(conversation.id, 0, ["bot"])[-1].payload["custom"]
            assert (custom["kind"], custom["faq_id"]) == ("answer", "billing-payment-methods"), custom
            assert [b["text"] for b in buttons_of(answer)] == ["👍", "👎"]
            await fake.press(answer, press_data(answer, "👍"))
            [thanks] = await fake.wait_sent(chat, 2)
            assert thanks["text"] in variants("feedback_thanks", "en")

            await fake.sticker(chat)
            [polite] = await fake.wait_sent(chat, 3)
            assert polite["text"] in variants("unsupported_content", "en")

            await fake.text(chat, "contract help")  # too vague: "which of these did you mean?"
            [clarify] = await fake.wait_sent(chat, 4)
            assert store.messages(conversation.id, 0, ["bot"])[-1].payload["custom"]["kind"] == "clarify"
            first_option = buttons_of(clarify)[0]
            await fake.press(clarify, first_option["callback_data"])
            [chosen] = await fake.wait_sent(chat, 5)
            custom = store.messages(conversation.id, 0, ["bot"])[-1].payload["custom"]
            assert custom["kind"] == "answer" and custom["faq_id"].startswith("contract-"), custom
            assert [b["text"] for b in buttons_of(chosen)] == ["👍", "👎"]

            await fake.text(chat, "I want to talk to a human")
            await fake.wait_sent(chat, 6, count=2)
            kinds = [m.payload["custom"]["kind"] for m in store.messages(conversation.id, 0, ["bot"])[-2:]]
            assert kinds == ["handoff", "queue_status"] and store.get(conversation.id).state == "waiting"

            assert (await client.post("/console/api/login", json={"username": "tg-mari", "password": PASSWORD})).status == 200
            assert (await client.post(f"/console/api/conversations/{conversation.id}/claim")).status == 200
            [joined] = await fake.wait_sent(chat, 8)
            assert "Mari" in joined["text"]
            reply = await client.post(f"/console/api/conversations/{conversation.id}/messages",
                                      json={"text": "Hi Anna, Mari here. How can I help?"})
            assert reply.status == 201
            [from_agent] = await fake.wait_sent(chat, 9)
            assert from_agent["text"] == "Hi Anna, Mari here. How can I help?"

            await fake.text(chat, "My last invoice looks too high")
            await wait_until(lambda: store.messages(conversation.id, 0, ["customer"])[-1].text == "My last invoice looks too high",
                             what="the customer's message in the console")
            await asyncio.sleep(1.0)
            assert len(fake.sent_to(chat)) == 10  # the bot stays silent while the agent owns the conversation

        # a new gateway (a restart): the agent's next reply reaches the chat from what is stored alone
        async with gateway(settings) as client:
            assert (await client.post("/console/api/login", json={"username": "tg-mari", "password": PASSWORD})).status == 200
            reply = await client.post(f"/console/api/conversations/{conversation.id}/messages",
                                      json={"text": "I checked it: a one-off roaming fee."})
            assert reply.status == 201
            [later] = await fake.wait_sent(chat, 10)
            assert later["text"] == "I checked it: a one-off roaming fee."

            await fake.text(chat, "ok, thanks")
            await wait_until(lambda: store.messages(conversation.id, 0, ["customer"])[-1].text == "ok, thanks",
                             what="the customer's message after the restart")
            closed = await client.post(f"/console/api/conversations/{conversation.id}/close", json={"resolution": "explained"})
            assert closed.status == 200
            [rating] = await fake.wait_sent(chat, 11)
            assert [b["text"] for b in buttons_of(rating)] == ["1", "2", "3", "4", "5"]
            await fake.press(rating, press_data(rating, "5"))
            [rated] = await fake.wait_sent(chat, 12)
            assert rated["text"] in variants("rating_thanks", "en")
            assert store.current_handoff(conversation.id) is None or store.get(conversation.id).state == "bot"
    finally:
        await fake.close()
        store.engine.dispose()


def test_a_private_bot_never_polls_with_the_shells_token(monkeypatch):
    from supportbot.settings import Settings
    from supportbot.stack import private_settings

    monkeypatch.setenv("TELEGRAM_TOKEN", "123456:from-the-shell")
    assert Settings.from_environ().child_environment()["TELEGRAM_TOKEN"] == "123456:from-the-shell"
    assert private_settings(Settings.from_environ()).child_environment()["TELEGRAM_TOKEN"] == ""


async def test_agent_replies_written_during_a_telegram_outage_arrive_later_in_order(fake, sqlite_url, monkeypatch):
    import sqlalchemy as sa

    from handoff import models

    settings = Settings(database_url=sqlite_url, telegram_token=TOKEN, telegram_api_url=fake.url)
    chat = 515
    async with gateway(settings, ScriptedBot()) as client:
        channel = client.server.app[TELEGRAM_KEY]
        channel.retry_every = 0.1
        store = channel.router.store
        await fake.text(chat, "I want a human")
        await fake.wait_sent(chat, 0, count=2)
        conversation = store.find("telegram", str(chat))
        store.agents.create("mari", "Mari", PASSWORD)
        assert (await client.post("/console/api/login", json={"username": "mari", "password": PASSWORD})).status == 200
        fake.sending_fails = True
        assert (await client.post(f"/console/api/conversations/{conversation.id}/claim")).status == 200
        for text in ("first", "second"):
            sent = await client.post(f"/console/api/conversations/{conversation.id}/messages", json={"text": text})
            assert sent.status == 201, "the agent's reply is accepted while Telegram is down"
        assert len(fake.sent_to(chat)) == 2 and store.outbox.has_deferred(conversation.id)
        fake.sending_fails = False
        with store.session() as s, s.begin():  # an hour later: due again
            s.execute(sa.update(models.DeferredDelivery).values(next_attempt_at=datetime(2000, 1, 1, tzinfo=timezone.utc)))
        later = await fake.wait_sent(chat, 2, count=3)
        assert "Mari" in later[0]["text"] and [m["text"] for m in later[1:]] == ["first", "second"]
        await wait_until(lambda: not store.outbox.has_deferred(conversation.id), what="the kept messages to be cleared")
