"""Crash safety: retried sends are stored once, a turn cut off by a dying gateway still reaches the agents, the hourly
cap keeps a flood out of the database, and a message that can never be delivered is a dead letter agents see."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fake_bot import FakeBot
from sqlalchemy import update

from handoff import models as m
from handoff.hours import BusinessHours
from protocol.limits import MessageLimits
from protocol.reasons import Reason
from handoff.router import MAX_DELIVERY_TRIES, ConversationRouter, TooManyMessages
from handoff.store import HandoffStore

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def bot():
    return FakeBot()


@pytest.fixture
def router(store, bot):
    return ConversationRouter(store, bot, BusinessHours.parse("always"))


async def test_a_retried_send_is_stored_once_and_gets_the_first_answer(router, bot, store):
    first = await router.receive("rest", "anna", "how do I pay?", client_message_id="m-1")
    again = await router.receive("rest", "anna", "how do I pay?", client_message_id="m-1")
    assert [r.id for r in again] == [r.id for r in first] and first
    conversation = store.find("rest", "anna")
    assert [m.text for m in store.messages(conversation.id, roles=["customer"])] == ["how do I pay?"]
    assert bot.calls == ["how do I pay?"]
    await router.receive("rest", "anna", "how do I pay?", client_message_id="m-2")  # a new message, same words
    assert len(store.messages(conversation.id, roles=["customer"])) == 2


async def test_two_sends_of_one_message_at_once_ask_the_bot_once(store):
    class SlowBot(FakeBot):
        async def send(self, sender_id, text, metadata=None):
            await asyncio.sleep(0.2)
            return await super().send(sender_id, text, metadata)

    bot = SlowBot()
    router = ConversationRouter(store, bot, BusinessHours.parse("always"))
    first, second = await asyncio.gather(router.receive("rest", "anna", "hello", client_message_id="same"),
                                         router.receive("rest", "anna", "hello", client_message_id="same"))
    assert bot.calls == ["hello"]
    assert [r.id for r in first] == [r.id for r in second] and first


async def test_client_ids_are_per_conversation(router, store):
    await router.receive("rest", "anna", "hello", client_message_id="1")
    await router.receive("rest", "mati", "hello", client_message_id="1")
    assert all(len(store.messages(store.find("rest", who).id, roles=["customer"])) == 1 for who in ("anna", "mati"))


async def test_finished_turns_leave_nothing_to_recover(router, store):
    await router.receive("rest", "anna", "how do I pay?")
    await router.receive("rest", "anna", "I want a human")
    await router.receive("rest", "anna", "still there?")  # stored while waiting: no turn either
    assert store.interrupted_turns(timedelta(0)) == []
    assert await router.recover_interrupted_turns(timedelta(0)) == 0


async def test_a_turn_cut_off_mid_way_reaches_the_queue_and_the_customer(store, bot):
    delivered = []

    async def deliver(conversation, message):
        delivered.append(message.text)

    conversation = store.conversation("telegram", "42")
    # what a gateway killed while the bot was thinking leaves behind: the message, journalled, and nothing else
    message, _ = store.add_customer_message(conversation.id, "my internet is down", turn_pending=True)
    router = ConversationRouter(store, bot, BusinessHours.parse("always"))
    router.register_channel("telegram", deliver)
    assert await router.recover_interrupted_turns(timedelta(minutes=5)) == 0, "a turn still in time was taken over"
    assert await router.recover_interrupted_turns(timedelta(0)) == 1
    assert store.get(conversation.id).state == "waiting"
    assert store.current_handoff(conversation.id).reason == Reason.BOT_UNAVAILABLE
    assert store.current_handoff(conversation.id).packet["question"] == "my internet is down"
    assert delivered and delivered == [r.text for r in store.replies_to(message.id)]
    assert await router.recover_interrupted_turns(timedelta(0)) == 0, "recovered twice"
    assert bot.calls == []


async def test_a_cut_off_turn_of_a_conversation_already_with_the_humans_is_only_closed(router, store):
    await router.receive("rest", "anna", "I want a human")
    conversation = store.find("rest", "anna")
    store.add_customer_message(conversation.id, "hello?", turn_pending=True)
    assert await router.recover_interrupted_turns(timedelta(0)) == 0
    assert store.interrupted_turns(timedelta(0)) == []
    assert store.current_handoff(conversation.id).reason == "human_request"


@pytest.mark.slow
def test_a_gateway_killed_mid_turn_loses_neither_the_message_nor_the_handoff(tmp_path):
    """A real process, killed with SIGKILL while the bot works on the customer's message; another one recovers."""
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    HandoffStore.open(url)
    started = tmp_path / "bot-was-asked"
    script = textwrap.dedent(f"""
        import asyncio, pathlib
        from handoff.hours import BusinessHours
        from handoff.router import ConversationRouter
        from handoff.store import HandoffStore

        class HangingBot:
            async def send(self, sender_id, text, metadata=None):
                pathlib.Path({str(started)!r}).touch()
                await asyncio.sleep(3600)

        router = ConversationRouter(HandoffStore.open({url!r}, run_migrations=False), HangingBot(), BusinessHours.parse("always"))
        asyncio.run(router.receive("webchat", "s-123456789", "kas arve on makstud?", client_message_id="c1"))
    """)
    gateway = subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT_ROOT,
                               env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    try:
        deadline = time.monotonic() + 120
        while not started.exists():
            assert gateway.poll() is None, "the gateway process ended by itself"
            assert time.monotonic() < deadline, "the bot was never asked"
            time.sleep(0.1)
        gateway.send_signal(signal.SIGKILL)
        gateway.wait(timeout=30)
    finally:
        if gateway.poll() is None:
            gateway.kill()
    store = HandoffStore.open(url, run_migrations=False)
    conversation = store.find("webchat", "s-123456789")
    assert [msg.text for msg in store.messages(conversation.id, roles=["customer"])] == ["kas arve on makstud?"]
    assert store.get(conversation.id).state == "bot"
    router = ConversationRouter(store, FakeBot(), BusinessHours.parse("always"))
    assert asyncio.run(router.recover_interrupted_turns(timedelta(0))) == 1
    assert store.get(conversation.id).state == "waiting"
    assert store.current_handoff(conversation.id).reason == Reason.BOT_UNAVAILABLE
    told = store.messages(conversation.id, roles=["bot"])
    assert told and told[0].payload["custom"]["language"] == "et"


async def test_past_the_hourly_cap_nothing_more_is_stored(store, bot):
    router = ConversationRouter(store, bot, BusinessHours.parse("always"),
                                limits=MessageLimits(messages_per_window=0, stored_per_hour=3))
    for n in range(3):
        await router.receive("rest", "anna", f"message {n}", client_message_id=f"id-{n}")
    with pytest.raises(TooManyMessages):
        await router.receive("rest", "anna", "one too many", client_message_id="id-3")
    assert await router.receive("rest", "anna", "message 0", client_message_id="id-0"), "a retry was refused"
    conversation = store.find("rest", "anna")
    assert len(store.messages(conversation.id, roles=["customer"])) == 3
    with store.session() as s, s.begin():  # an hour later
        s.execute(update(m.Message).values(created_at=m.utcnow() - timedelta(hours=1, minutes=1)))
    await router.receive("rest", "anna", "after an hour")
    assert len(store.messages(conversation.id, roles=["customer"])) == 4


async def test_a_message_given_up_is_a_dead_letter_that_holds_nothing_back(router, store):
    async def unreachable(conversation, message):
        raise ConnectionError("Telegram unreachable")

    router.register_channel("telegram", unreachable)
    mari = store.agents.create("mari", "Mari", "correct horse")
    await router.receive("telegram", "42", "I want a human")
    conversation = store.find("telegram", "42")
    await router.claim(conversation.id, mari)
    kept = await router.agent_reply(conversation.id, mari, "Your refund is on its way")
    with store.session() as s, s.begin():
        s.execute(update(m.DeferredDelivery).values(next_attempt_at=m.utcnow() - timedelta(seconds=1),
                                                    attempts=MAX_DELIVERY_TRIES - 1))
    for _ in range(3):  # every kept message of the conversation, one at a time
        await router.retry_deliveries("telegram")
        with store.session() as s, s.begin():
            s.execute(update(m.DeferredDelivery).where(m.DeferredDelivery.given_up_at.is_(None))
                      .values(next_attempt_at=m.utcnow() - timedelta(seconds=1), attempts=MAX_DELIVERY_TRIES - 1))
    dead = store.outbox.undelivered()
    assert kept.id in [d["message"]["id"] for d in dead]
    assert all(d["conversation_id"] == conversation.id and d["tries"] == MAX_DELIVERY_TRIES for d in dead)
    assert not store.outbox.has_deferred(conversation.id), "a dead letter still holds later messages back"
    store.outbox.dismiss(kept.id)
    assert kept.id not in [d["message"]["id"] for d in store.outbox.undelivered()]


async def test_a_turn_that_fails_inside_stays_journalled_for_the_agents(store):
    class BrokenBot(FakeBot):
        async def send(self, sender_id, text, metadata=None):
            raise RuntimeError("an unexpected failure inside the turn")

    router = ConversationRouter(store, BrokenBot(), BusinessHours.parse("always"))
    with pytest.raises(RuntimeError):
        await router.receive("rest", "anna", "how do I pay?")
    assert await router.recover_interrupted_turns(timedelta(0)) == 1
    assert store.get(store.find("rest", "anna").id).state == "waiting"
