"""The conversation router: the bot speaks only while it owns the conversation."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import List

import pytest
from fake_bot import FakeBot

from replies.composer import load_phrases
from handoff.bot_client import BotUnavailable
from handoff.hours import BusinessHours
from protocol.limits import MessageLimits
from handoff.ownership import TransitionRefused
from handoff.router import ConversationRouter, parse_rating

PHRASES = load_phrases()
from handoff.views import NotFound


@pytest.fixture
def bot():
    return FakeBot()


@pytest.fixture
def router(store, bot):
    return ConversationRouter(store, bot, BusinessHours.parse("always"))


@pytest.fixture
def mari(store):
    return store.agents.create("mari", "Mari", "correct horse")


async def test_the_bot_stays_silent_while_humans_own_the_conversation(router, bot, store, mari):
    assert [m.text for m in await router.receive("rest", "anna", "how do I pay?")] == ["bot answer to: how do I pay?"]
    handoff_replies = await router.receive("rest", "anna", "I want a human")
    assert [m.payload["custom"]["kind"] for m in handoff_replies] == ["handoff", "queue_status"]
    assert handoff_replies[1].payload["custom"]["position"] == 1
    asked = len(bot.calls)
    assert await router.receive("rest", "anna", "hello? anyone?") == []
    conversation = store.find("rest", "anna")
    await router.claim(conversation.id, mari)
    assert await router.receive("rest", "anna", "thanks for joining") == []
    assert len(bot.calls) == asked, "the bot was asked while a human owned the conversation"
    texts = [m.text for m in store.messages(conversation.id, roles=("customer",))]
    assert texts[-2:] == ["hello? anyone?", "thanks for joining"]


async def test_agent_replies_reach_the_customers_channel(router, store, mari):
    delivered = []

    async def deliver(conversation, message):
        delivered.append((conversation.customer_id, message.role, message.text))

    router.register_channel("telegram", deliver)
    await router.receive("telegram", "42", "I want a human")
    conversation = store.find("telegram", "42")
    await router.claim(conversation.id, mari)
    await router.agent_reply(conversation.id, mari, "Hi, Mari here")
    assert delivered[0][1] == "bot" and "Mari" in delivered[0][2]  # told who joined
    assert delivered[1] == ("42", "agent", "Hi, Mari here")


async def test_only_the_owner_replies(router, store, mari):
    jaan = store.agents.create("jaan", "Jaan", "correct horse")
    await router.receive("rest", "anna", "I want a human")
    conversation = store.find("rest", "anna")
    with pytest.raises(TransitionRefused):
        await router.agent_reply(conversation.id, mari, "not claimed yet")
    await router.claim(conversation.id, mari)
    with pytest.raises(TransitionRefused):
        await router.agent_reply(conversation.id, jaan, "I am not the owner")


async def test_return_to_bot_then_the_bot_answers_again(router, bot, store, mari):
    await router.receive("rest", "anna", "I want a human")
    conversation = store.find("rest", "anna")
    await router.claim(conversation.id, mari)
    await router.return_to_bot(conversation.id, mari)
    replies = await router.receive("rest", "anna", "what about roaming?")
    assert [m.text for m in replies] == ["bot answer to: what about roaming?"]


async def test_close_asks_for_a_rating_and_stores_it(router, store, mari):
    await router.receive("rest", "anna", "I want a human")
    conversation = store.find("rest", "anna")
    await router.claim(conversation.id, mari)
    await router.close(conversation.id, mari, "explained the bill")
    request = store.messages(conversation.id, roles=("bot",))[-1]
    assert request.payload["custom"]["kind"] == "rating_request"
    assert [b["payload"] for b in request.payload["buttons"]] == ["1", "2", "3", "4", "5"]
    thanks = await router.receive("rest", "anna", "5")
    assert thanks[0].payload["custom"] == {"kind": "rating_thanks", "rating": 5}
    assert store.current_handoff(conversation.id).rating == 5
    assert store.get(conversation.id).state == "bot"


async def test_a_question_instead_of_a_rating_goes_to_the_bot(router, bot, store, mari):
    await router.receive("rest", "anna", "I want a human")
    conversation = store.find("rest", "anna")
    await router.claim(conversation.id, mari)
    await router.close(conversation.id, mari, None)
    replies = await router.receive("rest", "anna", "and how do I change my plan?")
    assert replies[0].text == "bot answer to: and how do I change my plan?"
    assert store.current_handoff(conversation.id).rating is None


async def test_after_hours_the_customer_is_told_honestly(store, bot):
    monday = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
    router = ConversationRouter(store, bot, BusinessHours.parse("sat 10:00-11:00"), clock=lambda: monday)
    replies = await router.receive("rest", "anna", "I want a human")
    status = replies[-1]
    assert status.payload["custom"] == {"kind": "queue_status", "after_hours": True}
    assert "Sat 10:00–11:00" in status.text
    assert store.get(store.find("rest", "anna").id).state == "waiting"  # still queued for the morning


async def test_the_handoff_packet_is_stored(router, store):
    await router.receive("rest", "anna", "you idiot")
    conversation = store.find("rest", "anna")
    handoff = store.current_handoff(conversation.id)
    assert (handoff.reason, handoff.sentiment, handoff.priority) == ("rude", "rude", 0)
    assert handoff.packet["considered"] == [{"faq_id": "billing-payment-methods", "score": 0.41}]
    assert store.get(conversation.id).customer_name == "Anna"


@pytest.mark.parametrize("text,rating", [("5", 5), (" 3 ", 3), ("4/5", 4), ("⭐⭐", 2), ("6", None), ("15", None), ("five", None)])
def test_parse_rating(text, rating):
    assert parse_rating(text) == rating


def test_business_hours():
    hours = BusinessHours.parse("mon-fri 09:00-18:00; sat 10:00-14:00", "Europe/Tallinn")
    monday_noon_tallinn = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)  # 12:00 in Tallinn
    sunday = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)
    monday_evening = datetime(2026, 11, 23, 17, 0, tzinfo=timezone.utc)  # 19:00 in Tallinn
    assert hours.is_open(monday_noon_tallinn)
    assert not hours.is_open(sunday)
    assert not hours.is_open(monday_evening)
    assert hours.describe("et") == "E–R 9:00–18:00, L 10:00–14:00"
    assert hours.describe("ru") == "Пн–Пт 9:00–18:00, Сб 10:00–14:00"
    with pytest.raises(ValueError):
        BusinessHours.parse("weekdays 9-5")


async def test_the_queue_message_keeps_the_customers_register(store):
    from replies.composer import load_phrases

    class InformalRussianBot(FakeBot):
        async def send(self, sender_id, text, metadata=None):
            return [{"text": "Передаю коллеге.", "custom": {"kind": "handoff", "reason": "human_request", "language": "ru",
                                                           "register": "informal", "considered": []}}]

    router = ConversationRouter(store, InformalRussianBot(), BusinessHours.parse("always"))
    replies = await router.receive("rest", "ivan", "дай оператора")
    informal = [v.format(minutes=4) for v in load_phrases()["queue_next"]["ru"]["informal"]]
    assert replies[-1].text in informal
    assert store.find("rest", "ivan").register == "informal"


class SlowBot(FakeBot):
    """Records how many messages of one conversation it handles at the same time."""

    def __init__(self):
        super().__init__()
        self.busy = 0
        self.most_at_once = 0

    async def send(self, sender_id, text, metadata=None):
        import asyncio

        self.busy += 1
        self.most_at_once = max(self.most_at_once, self.busy)
        await asyncio.sleep(0.05)
        self.busy -= 1
        return await super().send(sender_id, text, metadata)


async def test_a_conversations_messages_reach_the_bot_one_at_a_time(store):
    import asyncio

    bot = SlowBot()
    router = ConversationRouter(store, bot, BusinessHours.parse("always"))
    await router.receive("rest", "anna", "hello")
    await asyncio.gather(*(router.receive("rest", "anna", f"question {i}") for i in range(5)))
    assert bot.most_at_once == 1 and len(bot.calls) == 6


async def test_after_a_handoff_the_waiting_messages_do_not_reach_the_bot(store):
    import asyncio

    bot = SlowBot()
    router = ConversationRouter(store, bot, BusinessHours.parse("always"))
    await asyncio.gather(router.receive("rest", "anna", "I want a human"),
                         *(router.receive("rest", "anna", f"question {i}") for i in range(3)))
    assert store.find("rest", "anna").state == "waiting"
    assert bot.calls[-1] == "I want a human", "the bot was asked after it handed off"


async def test_the_redis_lock_serialises_across_gateways(store, redis_url):
    import asyncio

    from handoff.conversation_lock import ConversationLocks

    url = redis_url
    bot = SlowBot()
    routers = [ConversationRouter(store, bot, BusinessHours.parse("always"), locks=ConversationLocks(url)) for _ in range(2)]
    await routers[0].receive("rest", "anna", "hello")
    await asyncio.gather(*(routers[i % 2].receive("rest", "anna", f"question {i}") for i in range(6)))
    assert bot.most_at_once == 1 and len(bot.calls) == 7
    for router in routers:
        await router.locks.close()


async def test_a_too_long_message_gets_a_polite_reply_and_its_beginning_is_kept(store, bot):
    router = ConversationRouter(store, bot, BusinessHours.parse("always"), limits=MessageLimits(max_chars=50))
    replies = await router.receive("webchat", "long-1", "Mul ei tööta internet, " + "palun aidake " * 20)
    assert bot.calls == [], "the bot was asked about a message it cannot read whole"
    assert [r.payload["custom"] for r in replies] == [{"kind": "limit", "limit": "message_length"}]
    assert "50" in replies[0].text and "tähemärki" in replies[0].text  # in the customer's language
    kept = store.messages(store.find("webchat", "long-1").id, roles=("customer",))
    assert len(kept[0].text) == 51 and kept[0].payload["cut_from_chars"] > 50


async def test_a_flood_is_answered_once_and_every_message_is_kept(store, bot):
    router = ConversationRouter(store, bot, BusinessHours.parse("always"), limits=MessageLimits.parse_rate("3/60"))
    kinds = []
    for n in range(6):
        replies = await router.receive("rest", "flood", f"question {n}")
        kinds.append([r.payload["custom"].get("kind") for r in replies])
    assert kinds == [["answer"], ["answer"], ["answer"], ["limit"], [], []]
    assert len(bot.calls) == 3
    conversation = store.find("rest", "flood")
    assert len(store.messages(conversation.id, roles=("customer",))) == 6
    other = await router.receive("rest", "someone-else", "question")
    assert [r.payload["custom"]["kind"] for r in other] == ["answer"], "the limit is per customer"


def test_rate_limit_settings_are_checked():
    assert MessageLimits.parse_rate("off").messages_per_window == 0
    assert MessageLimits.parse_rate("5/10").window.total_seconds() == 10
    with pytest.raises(ValueError, match="20/60"):
        MessageLimits.parse_rate("fast")


async def test_feedback_on_answers_feeds_the_bot_and_the_statistics(router, bot, store):
    first = (await router.receive("webchat", "fb", "how do I pay?"))[0]
    thanks = await router.feedback("webchat", "fb", first.id, True)
    assert [m.payload["custom"]["kind"] for m in thanks] == ["feedback_thanks"]
    assert await router.feedback("webchat", "fb", first.id, False) == [], "an answer is rated once"
    second = (await router.receive("webchat", "fb", "and by card?"))[0]
    asked = len(bot.calls)
    await router.feedback("webchat", "fb", second.id, False)
    assert bot.calls[asked:] == ["/didnt_help"], "'not helpful' on the latest answer goes to the bot"
    third = (await router.receive("webchat", "fb", "roaming?"))[0]
    await router.receive("webchat", "fb", "and abroad?")
    asked = len(bot.calls)
    noted = await router.feedback("webchat", "fb", third.id, False)
    assert len(bot.calls) == asked and [m.payload["custom"]["kind"] for m in noted] == ["feedback_thanks"]
    assert store.feedback_by_entry() == {"": {"helpful": 1, "not_helpful": 2}}
    system = [m.text for m in store.messages(store.find("webchat", "fb").id, roles=("system",))]
    assert len(system) == 3 and "not helpful" in system[-1], "the agents see the feedback in the transcript"


async def test_only_the_bots_answers_of_the_conversation_can_be_rated(router, store):
    await router.receive("webchat", "fb-a", "how do I pay?")
    answer_b = (await router.receive("webchat", "fb-b", "how do I pay?"))[0]
    customer_message = store.messages(store.find("webchat", "fb-a").id, roles=("customer",))[0]
    with pytest.raises(ValueError):
        await router.feedback("webchat", "fb-a", answer_b.id, True)
    with pytest.raises(ValueError):
        await router.feedback("webchat", "fb-a", customer_message.id, True)
    with pytest.raises(NotFound):
        await router.feedback("webchat", "fb-a", 10 ** 9, True)
    with pytest.raises(NotFound):
        await router.feedback("webchat", "nobody", answer_b.id, True)


async def test_a_pressed_button_shows_its_title_in_the_transcript_and_the_bot_gets_its_payload(router, bot, store):
    payload = '/faq{"faq_id":"billing-refund"}'
    await router.receive("webchat", "buttons", "what are my refund options")
    await router.receive("webchat", "buttons", payload, {"display": "How do I get a refund?"})
    await router.receive("webchat", "buttons", "plain text", {"display": "something else"})
    assert bot.calls == ["what are my refund options", payload, "plain text"]
    shown = store.messages(store.find("webchat", "buttons").id, roles=("customer",))
    assert [(m.text, m.payload) for m in shown][1:] == [
        ("How do I get a refund?", {"button_payload": payload}), ("plain text", {})]


@pytest.mark.parametrize("typed, bot_gets", [
    ("/insult", "insult"),
    ("/restart", "restart"),
    (' /faq{"faq_id":"billing-refund"}', 'faq{"faq_id":"billing-refund"}'),  # a button never offered here
    ("/", "?"),
])
async def test_a_customer_typing_rasa_intent_syntax_sends_words(router, bot, store, typed, bot_gets):
    await router.receive("rest", "slash", typed)
    assert bot.calls == [bot_gets]
    conversation = store.find("rest", "slash")
    assert conversation.state == "bot", "typed intent syntax must not jump the queue"
    assert [m.text for m in store.messages(conversation.id, roles=("customer",))] == [typed]


class FlakyChannel:
    """A push channel that is down until it is told otherwise."""

    def __init__(self):
        self.up = False
        self.delivered: List[str] = []

    async def deliver(self, conversation, message):
        if not self.up:
            raise ConnectionError("the channel's API is unreachable")
        self.delivered.append(message.text)


def make_due(store, conversation_id):
    """Time passes: every kept message of the conversation is due now."""
    import sqlalchemy as sa

    from handoff import models

    with store.session() as s, s.begin():
        s.execute(sa.update(models.DeferredDelivery).where(models.DeferredDelivery.conversation_id == conversation_id)
                  .values(next_attempt_at=datetime(2000, 1, 1, tzinfo=timezone.utc)))


async def test_a_push_channel_gets_what_it_missed_later_and_in_order(router, store, mari):
    channel = FlakyChannel()
    router.register_channel("telegram", channel.deliver)
    await router.receive("telegram", "42", "I want a human")
    conversation = store.find("telegram", "42")
    await router.claim(conversation.id, mari)  # "Mari joined": not delivered, kept
    await router.agent_reply(conversation.id, mari, "first")
    await router.agent_reply(conversation.id, mari, "second")
    assert channel.delivered == [] and store.outbox.has_deferred(conversation.id)
    assert await router.retry_deliveries("telegram") == 0, "nothing is due before the first wait is over"
    make_due(store, conversation.id)
    assert await router.retry_deliveries("telegram") == 0  # still down: tried once more, and kept
    channel.up = True
    await router.agent_reply(conversation.id, mari, "third")  # the channel is up, but this one waits its turn
    assert channel.delivered == []
    make_due(store, conversation.id)
    assert await router.retry_deliveries("telegram") == 4
    assert channel.delivered[1:] == ["first", "second", "third"] and "Mari" in channel.delivered[0]
    assert not store.outbox.has_deferred(conversation.id)
    await router.agent_reply(conversation.id, mari, "fourth")
    assert channel.delivered[-1] == "fourth", "with nothing kept, messages go straight out again"


async def test_a_message_that_never_gets_through_is_given_up_and_the_agents_see_it(router, store, mari):
    from handoff.router import MAX_DELIVERY_TRIES

    channel = FlakyChannel()
    router.register_channel("telegram", channel.deliver)
    await router.receive("telegram", "44", "I want a human")
    conversation = store.find("telegram", "44")
    await router.claim(conversation.id, mari)  # "Mari joined": not delivered, kept (the first try)
    for _ in range(MAX_DELIVERY_TRIES - 1):
        assert store.outbox.has_deferred(conversation.id)
        make_due(store, conversation.id)
        await router.retry_deliveries("telegram")
    assert not store.outbox.has_deferred(conversation.id), "tried forever"
    [note] = [m for m in store.messages(conversation.id, roles=("system",)) if "could not be delivered" in m.text]
    assert note.payload["undelivered"]["tries"] == MAX_DELIVERY_TRIES and "unreachable" in note.text
    channel.up = True
    await router.agent_reply(conversation.id, mari, "are you still there?")
    assert channel.delivered == ["are you still there?"], "the next message goes out again"


async def test_two_gateways_never_retry_the_same_message_twice(router, store, mari, database_url):
    from handoff.store import HandoffStore

    channel = FlakyChannel()
    router.register_channel("telegram", channel.deliver)
    await router.receive("telegram", "43", "I want a human")
    conversation = store.find("telegram", "43")
    await router.claim(conversation.id, mari)
    make_due(store, conversation.id)
    channel.up = True
    other = ConversationRouter(HandoffStore.open(database_url, run_migrations=False), FakeBot(), BusinessHours.parse("always"))
    other.register_channel("telegram", channel.deliver)
    results = await asyncio.gather(router.retry_deliveries("telegram"), other.retry_deliveries("telegram"))
    assert sorted(results) == [0, 1] and len(channel.delivered) == 1



async def test_a_customer_writing_to_an_agent_is_never_told_to_slow_down(store, bot, mari):
    router = ConversationRouter(store, bot, BusinessHours.parse("always"), limits=MessageLimits.parse_rate("2/60"))
    await router.receive("rest", "chatty", "I want a human")
    conversation = store.find("rest", "chatty")
    await router.claim(conversation.id, mari)
    for n in range(5):
        assert await router.receive("rest", "chatty", f"more details {n}") == []
    kinds = [(m.payload.get("custom") or {}).get("kind") for m in store.messages(conversation.id, 0, ["bot"])]
    assert "limit" not in kinds


class BrokenBot(FakeBot):
    def __init__(self, failure):
        super().__init__()
        self.failure = failure

    async def send(self, sender_id, text, metadata=None):
        self.calls.append(text)
        if self.failure == "down":
            raise BotUnavailable("the Rasa server at http://127.0.0.1:5005/webhooks/rest/webhook is unreachable")
        return []  # an action failed inside Rasa: no reply at all


@pytest.mark.parametrize("failure", ["down", "silent"])
@pytest.mark.parametrize("text, language", [("Tere, arve on liiga suur", "et"), ("My bill is too high", "en"),
                                            ("Счёт слишком большой", "ru")])
async def test_when_the_bot_fails_a_colleague_takes_over_and_the_customer_is_told(store, failure, text, language):
    router = ConversationRouter(store, BrokenBot(failure), BusinessHours.parse("always"))
    replies = await router.receive("rest", f"broken-{failure}-{language}", text)
    conversation = store.find("rest", f"broken-{failure}-{language}")
    sorry = replies[0]
    assert sorry.payload["custom"] == {"kind": "handoff", "reason": "bot_unavailable", "language": language}
    assert sorry.text in {v for register in PHRASES["handoff_bot_unavailable"][language].values() for v in register}
    assert replies[1].payload["custom"]["kind"] == "queue_status"
    assert not any(word in r.text for r in replies for word in ("http", "Rasa", "127.0.0.1"))
    assert conversation.state == "waiting"
    assert store.current_handoff(conversation.id).reason == "bot_unavailable"
    assert [m.text for m in store.messages(conversation.id, roles=("customer",))] == [text]


CARD = "4111 1111 1111 1111"


async def test_card_numbers_are_masked_before_anything_is_stored_or_sent_to_the_bot(router, bot, store, mari):
    await router.receive("rest", "card", f"my card {CARD} was charged twice, contract 1234567890")
    await router.receive("rest", "card", "I want a human, card 4111-1111-1111-1111")
    conversation = store.find("rest", "card")
    texts = [m.text for m in store.messages(conversation.id, roles=("customer",))]
    assert texts == ["my card •••• •••• •••• 1111 was charged twice, contract 1234567890",
                     "I want a human, card •••• •••• •••• 1111"]
    assert not any("4111 1111" in call or "4111-1111" in call for call in bot.calls)
    assert "4111-1111" not in str(store.current_handoff(conversation.id).packet)
    await router.claim(conversation.id, mari)
    await router.agent_reply(conversation.id, mari, f"I see the card {CARD}, thanks")
    await router.add_note(conversation.id, mari, f"card {CARD} refunded")
    stored = [m.text for m in store.messages(conversation.id, roles=("agent", "note"))]
    assert stored == ["I see the card •••• •••• •••• 1111, thanks", "card •••• •••• •••• 1111 refunded"]


@pytest.mark.parametrize("text", ["1234 5678 9012 3456", "call me at +372 5555 5555", "order 2026120212345"])
def test_digits_that_are_not_a_card_number_stay(text):
    from signals.card_numbers import mask_card_numbers

    assert mask_card_numbers(text) == text
