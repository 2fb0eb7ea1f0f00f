"""The conversation router: every customer message from every channel passes here. It stores the message,
asks the bot only while the bot owns the conversation, and turns the bot's handoff into a queue entry.
Agent actions from the console pass here too, so the customer is told what happens, on their channel."""
from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Tuple

from handoff.bot_client import BotUnavailable, RasaBotClient
from handoff.conversation_lock import ConversationLocks
from handoff.hours import BusinessHours
from handoff.ownership import State, TransitionRefused
from handoff.store import HandoffStore, NotOwner
from handoff.views import AgentView, ConversationView, MessageView, NotFound
from knowledge.text import detect_language
from protocol.kinds import Kind, Limit
from protocol.limits import MessageLimits
from protocol.packet import HandoffPacket
from protocol.reasons import Reason
from replies.composer import ReplyComposer
from signals.card_numbers import mask_card_numbers

log = logging.getLogger(__name__)

Deliver = Callable[[ConversationView, MessageView], Awaitable[None]]
ShowTyping = Callable[[ConversationView, AgentView], Awaitable[None]]
RATING = re.compile(r"^\s*(?:/rate\D*)?([1-5])\s*(?:/\s*5)?\s*[.!]?\s*$")
RATING_BUTTONS = [{"title": str(n), "payload": str(n)} for n in range(1, 6)]
OFFERED_BUTTONS_LOOK_BACK = 20  # bot messages whose buttons a customer may still press
RETRY_FIRST_DELAY = timedelta(seconds=30)  # a push channel's failed delivery: tried again after this, then twice as long
RETRY_MAX_DELAY = timedelta(hours=1)
MAX_DELIVERY_TRIES = 12  # with the waits above, about six hours; then the agents see it was never delivered
RETRY_LEASE = timedelta(minutes=2)  # how long one gateway holds a due message while it tries it
# a turn journalled this long ago and never finished was cut off by a dying gateway: far longer than any turn takes
INTERRUPTED_TURN_AGE = timedelta(seconds=120)
RETRY_WAITS_FOR_TURN_SECONDS = 30.0  # a resend waits this long for the first send's answer (the bot gives up after 20)


def parse_rating(text: str) -> Optional[int]:
    match = RATING.match(text)
    if match:
        return int(match.group(1))
    stars = text.strip()
    if stars and set(stars) <= {"⭐", "★"} and len(stars) <= 5:
        return len(stars)
    return None


def customer_words(text: str) -> str:
    """A message the customer typed, as the bot gets it. A leading '/' is Rasa's syntax for an intent with
    entities ('/insult', '/request_human'), which only the bot's own buttons may use: typed, it is words, and
    the slash goes."""
    if not text.lstrip().startswith("/"):
        return text
    return text.lstrip().lstrip("/").strip() or "?"


class TooManyMessages(ValueError):
    """The conversation has stored as many customer messages this hour as it may: this one is not kept."""


def shown_text(text: str, metadata: Optional[Dict[str, Any]]) -> Tuple[str, Optional[Dict[str, Any]]]:
    """What the transcript shows of a customer message: a pressed button's title ("display" in the metadata) rather
    than its payload ('/faq{"faq_id":"billing-refund"}'), which is kept beside it for the record."""
    display = (metadata or {}).get("display")
    if text.startswith("/") and isinstance(display, str) and display.strip():
        return mask_card_numbers(display.strip()[:200]), {"button_payload": text}
    return text, None


class ConversationRouter:
    def __init__(self, store: HandoffStore, bot: RasaBotClient, hours: BusinessHours,
                 composer: Optional[ReplyComposer] = None, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 locks: Optional[ConversationLocks] = None, limits: MessageLimits = MessageLimits()):
        """`hours`, `limits` and the `composer` (its bot name) are the configured ones: the gateway builds them."""
        self.clock = clock
        self.limits = limits
        self.locks = locks or ConversationLocks()
        self.store = store
        self.bot = bot
        self.hours = hours
        self.composer = composer or ReplyComposer()
        self.deliverers: Dict[str, Deliver] = {}
        self.typing_shown: Dict[str, ShowTyping] = {}

    def register_channel(self, channel: str, deliver: Deliver, show_typing: Optional[ShowTyping] = None) -> None:
        """Channels that can push to the customer register here (and, if they can, show that an agent is typing);
        the others fetch new messages, and follow the live events, themselves."""
        self.deliverers[channel] = deliver
        if show_typing is not None:
            self.typing_shown[channel] = show_typing

    async def _db(self, method, *args, **kwargs):
        return await asyncio.to_thread(method, *args, **kwargs)

    # the customer's side

    async def receive(self, channel: str, customer_id: str, text: str, metadata: Optional[Dict[str, Any]] = None,
                      client_message_id: Optional[str] = None) -> List[MessageView]:
        """Handle one customer message; return the replies the customer gets now (none while a human owns it). The
        rate limit guards the bot: a customer writing to an agent is never told to slow down. Card numbers are
        masked first: neither the transcript, the handoff packet nor Rasa's tracker ever holds one.

        A `client_message_id` the conversation has seen (a client retrying a send) stores nothing and returns what
        the first send got. The turn is journalled from storing the message to storing its answer, so a gateway
        killed in between leaves it to `recover_interrupted_turns`. Past the hourly cap, TooManyMessages."""
        text = mask_card_numbers(text)
        conversation = await self._db(self.store.conversation, channel, customer_id)
        now = datetime.now(timezone.utc)  # real time: stored messages carry real time
        recent, this_hour = await self._db(self.store.customer_messages_since, conversation.id,
                                           now - self.limits.window, now - timedelta(hours=1))
        if self.limits.stored_per_hour and this_hour >= self.limits.stored_per_hour \
                and not await self._seen(conversation.id, client_message_id):  # a retry of a kept one is no new message
            raise TooManyMessages(f"at most {self.limits.stored_per_hour} messages an hour are kept per conversation")
        if len(text) > self.limits.max_chars:
            message, new = await self._db(self.store.add_customer_message, conversation.id, text[:self.limits.max_chars] + "…",
                                          conversation.customer_name, {"cut_from_chars": len(text)}, client_message_id)
            if not new:
                return await self._db(self.store.replies_to, message.id)
            return [await self.notice(conversation, "message_too_long", {"kind": Kind.LIMIT, "limit": Limit.MESSAGE_LENGTH},
                                       language=conversation.language or detect_language(text).code,
                                       limit=self.limits.max_chars)]
        pressed = await self._offered_button(conversation.id, text)
        shown, payload = shown_text(text, metadata) if pressed else (text, None)
        message, new = await self._db(self.store.add_customer_message, conversation.id, shown, conversation.customer_name,
                                      payload, client_message_id, True)
        if not new:
            return await self._first_sends_replies(message.id)
        async with self.locks.hold(conversation.id):
            # a turn that fails or is cancelled (the client went away) stays journalled: recovery hands it to the agents
            replies = await self._turn(conversation.id, text, metadata, pressed, recent)
            await self._db(self.store.finish_turn, message.id)
            return replies

    async def _first_sends_replies(self, message_id: int) -> List[MessageView]:
        """What the first send of a message got, once its turn is done (a retry can arrive while it runs)."""
        deadline = asyncio.get_running_loop().time() + RETRY_WAITS_FOR_TURN_SECONDS
        while await self._db(self.store.turn_pending, message_id) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
        return await self._db(self.store.replies_to, message_id)

    async def _seen(self, conversation_id: int, client_message_id: Optional[str]) -> bool:
        return client_message_id is not None and await self._db(
            self.store.has_client_message, conversation_id, client_message_id)

    async def _turn(self, conversation_id: int, text: str, metadata: Optional[Dict[str, Any]], pressed: bool,
                    recent: int) -> List[MessageView]:
        conversation = await self._db(self.store.get, conversation_id)  # the previous message may have handed off
        state = State(conversation.state)
        if state in (State.WAITING, State.AGENT):
            return []
        if self.limits.messages_per_window and recent >= self.limits.messages_per_window:
            if recent > self.limits.messages_per_window:
                return []  # told once per flood; the messages are kept for the agents
            return [await self.notice(conversation, "rate_limited", {"kind": Kind.LIMIT, "limit": Limit.RATE},
                                      seconds=int(self.limits.window.total_seconds()))]
        if state is State.CLOSED:
            rating = parse_rating(text) if conversation.awaiting_rating else None
            await self._db(self.store.resume_bot, conversation.id)
            if rating is not None:
                return [await self._rate(conversation, rating)]
        return await self._ask_bot(conversation, text if pressed else customer_words(text), metadata)

    async def recover_interrupted_turns(self, older_than: timedelta = INTERRUPTED_TURN_AGE) -> int:
        """Turns a dying gateway left unfinished: each customer is told a colleague will answer, and the
        conversation waits in the queue (reason bot_unavailable), as when the bot fails. Safe to run in several
        gateways at once: each turn is taken by one. Returns how many were recovered."""
        recovered = 0
        for message in await self._db(self.store.interrupted_turns, older_than):
            if not await self._db(self.store.finish_turn, message.id):
                continue  # another gateway took it
            conversation = await self._db(self.store.get, message.conversation_id)
            if conversation.state not in (State.BOT.value, State.CLOSED.value):
                continue  # already with the humans, who see the message
            log.warning("conversation %s: the turn of message %s was cut off; it goes to the agents", conversation.id, message.id)
            for reply in await self._bot_failed(conversation, message.text):
                await self._deliver(conversation, reply)
            recovered += 1
        return recovered

    async def _offered_button(self, conversation_id: int, text: str) -> bool:
        """Whether `text` is the payload of a button the bot offered in this conversation lately."""
        if not text.lstrip().startswith("/"):
            return False
        recent = (await self._db(self.store.messages, conversation_id, 0, ["bot"]))[-OFFERED_BUTTONS_LOOK_BACK:]
        return any(isinstance(b, dict) and b.get("payload") == text for m in recent for b in m.payload.get("buttons") or [])

    async def feedback(self, channel: str, customer_id: str, message_id: int, helpful: bool) -> List[MessageView]:
        """The customer's "was this helpful?" on one of the bot's answers: kept for the statistics; "no" on the
        latest answer counts as "that didn't help" for the bot (other entries, then a colleague)."""
        conversation = await self._db(self.store.find, channel, customer_id)
        if conversation is None:
            raise NotFound(f"no conversation of {customer_id!r} on {channel}")
        message = await self._db(self.store.message, message_id)
        custom = message.payload.get("custom") or {}
        if message.conversation_id != conversation.id or message.role != "bot" or custom.get("kind") != Kind.ANSWER:
            raise ValueError("only the bot's answers in this conversation can be rated")
        faq_id = custom.get("faq_id")
        if not await self._db(self.store.record_feedback, conversation.id, message_id, faq_id, helpful):
            return []
        verdict = "helpful" if helpful else "not helpful"
        await self._db(self.store.add_message, conversation.id, "system", f"The customer found the answer ({faq_id}) {verdict}",
                       None, {"feedback": {"message_id": message_id, "faq_id": faq_id, "helpful": helpful}})
        async with self.locks.hold(conversation.id):
            conversation = await self._db(self.store.get, conversation.id)
            if conversation.state != State.BOT.value:
                return []
            if helpful:
                return [await self.notice(conversation, "feedback_thanks", {"kind": Kind.FEEDBACK_THANKS, "helpful": True})]
            asked_since = await self._db(self.store.messages, conversation.id, message_id, ["customer"])
            if asked_since:  # an older answer: the bot has moved on to another question
                return [await self.notice(conversation, "feedback_noted", {"kind": Kind.FEEDBACK_THANKS, "helpful": False})]
            return await self._ask_bot(conversation, "/didnt_help", {"feedback": {"message_id": message_id, "faq_id": faq_id}})

    async def notice(self, conversation: ConversationView, key: str, custom: Dict[str, Any],
                     language: Optional[str] = None, register: Optional[str] = None, name: Optional[str] = None,
                     buttons: Sequence[Dict[str, str]] = (), **fields: Any) -> MessageView:
        """A message of the router's or a channel's own (not the bot's), composed in the conversation's language and
        register (or the given ones), never in a wording used before in the conversation; stored, and returned."""
        used = await self._used_phrases(conversation.id)
        reply = self.composer.compose(key, language or conversation.language or "en", used, name=name,
                                      register=register or conversation.register, **fields)
        payload: Dict[str, Any] = {"custom": custom, "phrase_id": reply.phrase_id}
        if buttons:
            payload["buttons"] = list(buttons)
        return await self._db(self.store.add_message, conversation.id, "bot", reply.text, None, payload)

    async def _ask_bot(self, conversation: ConversationView, text: str, metadata: Optional[Dict[str, Any]]) -> List[MessageView]:
        try:
            replies = await self.bot.send(rasa_sender_id(conversation), text, {**(metadata or {}), "channel": conversation.channel})
        except BotUnavailable as error:
            log.error("the bot failed on conversation %s: %s", conversation.id, error)
            replies = []
        if not replies:  # the bot always replies; nothing means an action failed inside it
            return await self._bot_failed(conversation, text)
        recorded: List[MessageView] = []
        handoff: Optional[Dict[str, Any]] = None
        for reply in replies:
            custom = reply.get("custom") or {}
            learned = (custom.get("customer_name"), custom.get("language"), custom.get("register"))
            known = (conversation.customer_name, conversation.language, conversation.register)
            if any(new and new != old for new, old in zip(learned, known)):
                await self._db(self.store.note_customer, conversation.id, *learned)
                conversation = await self._db(self.store.get, conversation.id)
            payload = {"buttons": reply.get("buttons") or [], "custom": custom}
            recorded.append(await self._db(self.store.add_message, conversation.id, "bot", reply.get("text") or "", None, payload))
            if handoff is None:
                handoff = HandoffPacket.parse(custom)
        if handoff is not None:
            status = await self._hand_off(conversation, handoff)
            if status is not None:
                recorded.append(status)
        return recorded

    async def _bot_failed(self, conversation: ConversationView, text: str) -> List[MessageView]:
        """The bot is down, stalled or broken: the customer is told, in their language, that a colleague will
        answer, and the conversation waits in the agents' queue. No internal detail reaches the customer."""
        language = conversation.language or detect_language(text).code
        sorry = await self.notice(conversation, f"handoff_{Reason.BOT_UNAVAILABLE}",
                                  {"kind": Kind.HANDOFF, "reason": Reason.BOT_UNAVAILABLE, "language": language}, language=language)
        status = await self._hand_off(conversation, HandoffPacket(Reason.BOT_UNAVAILABLE, language, question=text))
        return [sorry] + ([status] if status is not None else [])

    async def _hand_off(self, conversation: ConversationView, handoff: HandoffPacket) -> Optional[MessageView]:
        language = handoff.language or conversation.language or "en"
        register = handoff.register or conversation.register
        try:
            await self._db(self.store.hand_off, conversation.id, handoff.reason, handoff.mood.label, handoff.to_stored())
        except TransitionRefused:
            log.info("conversation %s is already with the humans", conversation.id)
            return None
        if self.hours.is_open(self.clock()):
            position = await self._db(self.store.queue_position, conversation.id) or 1
            minutes = await self._db(self.store.expected_wait_minutes, position)
            return await self.notice(
                conversation, "queue_next" if position == 1 else "queue_position",
                {"kind": Kind.QUEUE_STATUS, "position": position, "expected_minutes": minutes, "after_hours": False},
                language=language, register=register, position=position, minutes=minutes)
        return await self.notice(conversation, "after_hours", {"kind": Kind.QUEUE_STATUS, "after_hours": True},
                                 language=language, register=register, hours=self.hours.describe(language))

    async def _rate(self, conversation: ConversationView, rating: int) -> MessageView:
        await self._db(self.store.rate, conversation.id, rating)
        return await self.notice(conversation, "rating_thanks" if rating >= 4 else "rating_thanks_low",
                                 {"kind": Kind.RATING_THANKS, "rating": rating})

    async def _used_phrases(self, conversation_id: int) -> List[str]:
        messages = await self._db(self.store.messages, conversation_id, 0, ["bot"])
        return [m.payload["phrase_id"] for m in messages if m.payload.get("phrase_id")]

    async def customer_typing(self, channel: str, customer_id: str) -> None:
        conversation = await self._db(self.store.find, channel, customer_id)
        if conversation and conversation.state in (State.WAITING.value, State.AGENT.value):
            await self._db(self.store.publish, conversation.id, "typing", {"who": "customer"})

    # the agent's side

    async def claim(self, conversation_id: int, agent: AgentView) -> ConversationView:
        conversation = await self._db(self.store.claim, conversation_id, agent.id)
        await self._db(self.store.add_message, conversation_id, "system", f"{agent.display_name} claimed the conversation", agent.display_name)
        await self._tell_customer(conversation, "agent_joined", {"kind": Kind.AGENT_JOINED, "agent": agent.display_name},
                                  agent_name=agent.display_name)
        return conversation

    async def agent_reply(self, conversation_id: int, agent: AgentView, text: str) -> MessageView:
        conversation = await self._owned(conversation_id, agent)
        message = await self._db(self.store.add_message, conversation_id, "agent", mask_card_numbers(text), agent.display_name)
        await self._deliver(conversation, message)
        return message

    async def add_note(self, conversation_id: int, agent: AgentView, text: str) -> MessageView:
        await self._db(self.store.get, conversation_id)
        return await self._db(self.store.add_message, conversation_id, "note", mask_card_numbers(text), agent.display_name)

    async def agent_typing(self, conversation_id: int, agent: AgentView) -> None:
        await self._db(self.store.publish, conversation_id, "typing", {"who": "agent", "agent": agent.display_name})
        conversation = await self._db(self.store.get, conversation_id)
        show = self.typing_shown.get(conversation.channel)
        if show is not None and conversation.state == State.AGENT.value:
            try:
                await show(conversation, agent)
            except Exception:  # only an indicator
                log.warning("could not show %s's typing on %s", agent.display_name, conversation.channel, exc_info=True)

    async def return_to_bot(self, conversation_id: int, agent: AgentView) -> ConversationView:
        conversation = await self._db(self.store.return_to_bot, conversation_id, agent.id)
        await self._db(self.store.add_message, conversation_id, "system", f"{agent.display_name} returned the conversation to the bot", agent.display_name)
        await self._tell_customer(conversation, "returned_to_bot", {"kind": Kind.RETURNED_TO_BOT})
        return conversation

    async def close(self, conversation_id: int, agent: AgentView, resolution: Optional[str],
                    tell_customer: bool = False) -> ConversationView:
        """Close the conversation; with `tell_customer` the customer is told the outcome (the resolution) first."""
        conversation = await self._db(self.store.close, conversation_id, resolution, agent.id)
        note = f"{agent.display_name} closed the conversation" + (f": {resolution}" if resolution else "")
        await self._db(self.store.add_message, conversation_id, "system", note, agent.display_name)
        if tell_customer and resolution:
            await self._tell_customer(conversation, "outcome_report", {"kind": Kind.OUTCOME, "agent": agent.display_name},
                                      agent_name=agent.display_name, resolution=resolution)
        await self._tell_customer(conversation, "rating_request", {"kind": Kind.RATING_REQUEST},
                                  buttons=RATING_BUTTONS, name=conversation.customer_name)
        return conversation

    async def _owned(self, conversation_id: int, agent: AgentView) -> ConversationView:
        conversation = await self._db(self.store.get, conversation_id)
        if conversation.state != State.AGENT.value or not conversation.agent or conversation.agent.id != agent.id:
            owner = conversation.agent.display_name if conversation.agent else None
            raise NotOwner(f"claim the conversation first (it is '{conversation.state}'" + (f", with {owner})" if owner else ")"))
        return conversation

    async def _tell_customer(self, conversation: ConversationView, key: str, custom: Dict[str, Any],
                             buttons: Sequence[Dict[str, str]] = (), name: Optional[str] = None, **fields: Any) -> MessageView:
        """A notice pushed to the customer's channel: what an agent did (joined, closed, gave back to the bot)."""
        message = await self.notice(conversation, key, custom, name=name, buttons=buttons, **fields)
        await self._deliver(conversation, message)
        return message

    async def _deliver(self, conversation: ConversationView, message: MessageView) -> None:
        deliver = self.deliverers.get(conversation.channel)
        if deliver is None:
            return  # the channel fetches the stored message itself
        if await self._db(self.store.outbox.has_deferred, conversation.id):  # behind an earlier one, to keep the order
            await self._db(self.store.outbox.defer, message.id, "waits for an earlier message", timedelta(0), timedelta(0))
            return
        try:
            await deliver(conversation, message)
        except Exception as error:
            log.warning("could not deliver message %s to %s (%s); it is kept and tried again", message.id,
                        conversation.channel, error)
            await self._db(self.store.outbox.defer, message.id, repr(error), RETRY_FIRST_DELAY, RETRY_MAX_DELAY)

    async def retry_deliveries(self, channel: str) -> int:
        """Try the channel's kept messages again that are due, in order per conversation; returns how many got
        through. A push channel calls this now and then, so a message an agent wrote during an outage arrives later."""
        deliver = self.deliverers.get(channel)
        if deliver is None:
            return 0
        due = await self._db(self.store.outbox.take_due, channel, RETRY_LEASE)
        failed: set = set()
        delivered = 0
        for message in due:
            if message.conversation_id in failed:
                continue  # stays leased, and behind the failed one
            try:
                await deliver(await self._db(self.store.get, message.conversation_id), message)
            except Exception as error:
                failed.add(message.conversation_id)
                tries = await self._db(self.store.outbox.defer, message.id, repr(error), RETRY_FIRST_DELAY, RETRY_MAX_DELAY)
                log.warning("message %s to %s failed again (%d tries): %s", message.id, channel, tries, error)
                if tries >= MAX_DELIVERY_TRIES:
                    log.error("message %s to %s is given up after %d tries", message.id, channel, tries)
                    await self._db(self.store.outbox.give_up, message.id, tries, repr(error))
                continue
            await self._db(self.store.outbox.delivered, message.id)
            delivered += 1
        return delivered

    def suggested_reply(self, conversation: ConversationView, reason: str, agent: AgentView) -> str:
        key = f"agent_suggestion_{reason}"
        if key not in self.composer.phrases:
            key = "agent_suggestion_human_request"
        return self.composer.compose(key, conversation.language or "en", (), name=conversation.customer_name,
                                     register=conversation.register, agent_name=agent.display_name).text


def rasa_sender_id(conversation: ConversationView) -> str:
    return f"{conversation.channel}:{conversation.customer_id}"
