"""What every action needs about the conversation: its language, the customer's name, and how to send
a message that carries machine-readable metadata in its `custom` payload."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.knowledge_client import knowledge_client
from replies.brevity import LOOK_BACK, customer_brevity
from replies.composer import FORMAL, Reply, ReplyComposer, remember
from replies.register import detect_register
from knowledge.encoders import MESSAGE_VECTOR
from knowledge.text import detect_language, extract_name, is_clearly_in
from protocol.kinds import Kind
from protocol.moods import CALM, MoodReading
from protocol.packet import Considered, HandoffPacket
from signals.sentiment.detector import sentiment_detector

_composer = ReplyComposer()


def use_reply_composer(composer: ReplyComposer) -> None:
    """Install the actions' composer (the action server's, with the configured bot name)."""
    global _composer
    _composer = composer


def latest_text(tracker: Tracker) -> str:
    return (tracker.latest_message or {}).get("text") or ""


def conversation_language(tracker: Tracker, text: Optional[str] = None) -> str:
    """The language of the latest message; a very short Latin-script message keeps the conversation's language."""
    text = latest_text(tracker) if text is None else text
    known = tracker.get_slot("language")
    if text.startswith("/"):
        return known or "en"
    name = extract_name(text)
    text = text.replace(name, " ") if name else text
    detected = detect_language(text, default=known or "en")
    if known and detected.code != known and not is_clearly_in(text, detected.code):
        return known
    return detected.code


def customer_name(tracker: Tracker, text: Optional[str] = None) -> Optional[str]:
    return extract_name(latest_text(tracker) if text is None else text) or tracker.get_slot("customer_name")


def earlier_customer_texts(tracker: Tracker, limit: int = 5) -> List[str]:
    texts = [e.get("text") or "" for e in tracker.events if e.get("event") == "user"]
    return [t for t in texts[:-1] if t and not t.startswith("/")][-limit:]


def last_bot_kind(tracker: Tracker) -> Optional[str]:
    """The kind of the bot's latest message in this conversation (answer, clarify, smalltalk, ...), if any."""
    for event in reversed(tracker.events):
        if event.get("event") == "bot":
            return ((event.get("data") or {}).get("custom") or {}).get("kind")
    return None


def just_answered(tracker: Tracker) -> Optional[str]:
    """The entry the bot answered with in its last turn, if its last turn was an answer."""
    user_turns = 0
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            user_turns += 1
            if user_turns > 1:
                return None
        elif event.get("event") == "bot":
            custom = (event.get("data") or {}).get("custom") or {}
            return custom.get("faq_id") if custom.get("kind") == Kind.ANSWER else None
    return None


class Conversation:
    """Collects the replies and slot changes of one action run."""

    def __init__(self, dispatcher: CollectingDispatcher, tracker: Tracker):
        self.dispatcher = dispatcher
        self.tracker = tracker
        self.text = latest_text(tracker)
        self.language = conversation_language(tracker, self.text)
        self.name = customer_name(tracker, self.text)
        self.register = (None if self.text.startswith("/") else detect_register(self.text)) \
            or tracker.get_slot("register") or FORMAL
        self.brevity = customer_brevity(earlier_customer_texts(tracker, LOOK_BACK - 1) + [self.text])
        self.used: List[str] = list(tracker.get_slot("used_phrases") or [])
        self.events: List[Dict[str, Any]] = []
        self._mood: Optional[Dict[str, Any]] = None
        self._vector: Optional[np.ndarray] = None

    @property
    def vector(self) -> np.ndarray:
        """The message's embedding, made once (by Rasa's NLU when it could) for the sentiment and the knowledge."""
        if self._vector is None:
            self._vector = knowledge_client().query_vector(self.text, (self.tracker.latest_message or {}).get(MESSAGE_VECTOR))
        return self._vector

    def mood(self) -> Dict[str, Any]:
        """The customer's sentiment from this message and the earlier ones: calm, upset or rude."""
        if self._mood is None:
            if self.text.startswith("/"):
                self._mood = CALM.to_dict()
            else:
                detector = sentiment_detector()
                same_encoder = detector.encoder.name == knowledge_client().encoder_name
                found = detector.assess(self.text, self.language, earlier_customer_texts(self.tracker),
                                        vector=self.vector if same_encoder else None)
                self._mood = MoodReading(found.label, found.upset, found.rude, tuple(found.signals)).to_dict()
        return self._mood

    def has_said(self, key: str) -> bool:
        """Whether a variant of the phrase `key` was used in this conversation already."""
        return any(used.startswith(f"{key}:") for used in self.used)

    def phrase(self, key: str, with_name: bool = False, **fields: object) -> Reply:
        brevity = self.brevity
        if key == "greet" and not self.has_said("greet"):
            brevity = None  # the first greeting is the first variant, which introduces the assistant by name
        reply = _composer.compose(key, self.language, self.used, name=self.name if with_name else None,
                                 register=self.register, brevity=brevity, **fields)
        self.used = remember(self.used, reply)
        return reply

    def say(self, text: str, metadata: Dict[str, Any], buttons: Optional[List[Dict[str, str]]] = None) -> None:
        self.dispatcher.utter_message(text=text, buttons=buttons or [], json_message=metadata)

    def set(self, slot: str, value: Any) -> None:
        self.events.append(SlotSet(slot, value))

    def finish(self) -> List[Dict[str, Any]]:
        events = [SlotSet("language", self.language), SlotSet("used_phrases", self.used)]
        if self.register != self.tracker.get_slot("register"):
            events.append(SlotSet("register", self.register))
        if self.name and self.name != self.tracker.get_slot("customer_name"):
            events.append(SlotSet("customer_name", self.name))
        return events + self.events

    def hand_off(self, reason: str, considered: Optional[List[Dict[str, Any]]] = None,
                 sentiment: Optional[Dict[str, Any]] = None) -> None:
        """Tell the customer a colleague takes over, and why; the metadata is the agent's handoff packet."""
        reply = self.phrase(f"handoff_{reason}")
        packet = HandoffPacket(reason, self.language, question=self.text, customer_name=self.name,
                               register=self.register,
                               considered=[Considered(c["faq_id"], c["score"]) for c in considered or []],
                               mood=MoodReading.parse(sentiment or self.mood()))
        self.say(reply.text, packet.to_metadata())
