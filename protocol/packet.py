"""The handoff packet: what the bot tells the gateway, and the gateway the agent, when a person takes over. The bot
builds it into the `custom` metadata of its handoff message; the router parses it back from there."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from protocol.kinds import Kind
from protocol.moods import CALM, MoodReading
from protocol.reasons import Reason


@dataclass(frozen=True)
class Considered:
    """One knowledge entry the bot weighed, and its score: what the agent sees under "the bot tried"."""
    faq_id: str
    score: float

    def to_dict(self) -> Dict[str, Any]:
        return {"faq_id": self.faq_id, "score": round(float(self.score), 4)}


@dataclass(frozen=True)
class HandoffPacket:
    reason: str
    language: str
    question: str = ""  # the customer's message that led to the handoff
    customer_name: Optional[str] = None
    register: Optional[str] = None  # formal or informal, as the customer writes
    considered: List[Considered] = field(default_factory=list)
    mood: MoodReading = CALM

    def to_metadata(self) -> Dict[str, Any]:
        """The bot message's `custom` payload."""
        return {"kind": Kind.HANDOFF, "reason": self.reason, "language": self.language, "question": self.question,
                "customer_name": self.customer_name, "register": self.register,
                "considered": [c.to_dict() for c in self.considered], "sentiment": self.mood.to_dict()}

    def to_stored(self) -> Dict[str, Any]:
        """What the handoff episode keeps for the console."""
        stored = self.to_metadata()
        del stored["kind"], stored["register"]
        return stored

    @classmethod
    def parse(cls, custom: Any) -> Optional["HandoffPacket"]:
        """The packet in a bot message's `custom` metadata, or None when the message is not a handoff. A packet
        from elsewhere may lack fields or carry wrong types: each falls back to a safe default."""
        if not isinstance(custom, dict) or custom.get("kind") != Kind.HANDOFF:
            return None
        reason = custom.get("reason")
        considered = []
        for item in custom.get("considered") or []:
            if isinstance(item, dict) and isinstance(item.get("faq_id"), str):
                score = item.get("score")
                considered.append(Considered(item["faq_id"], float(score) if isinstance(score, (int, float)) else 0.0))
        return cls(reason=reason if reason in Reason.all() else Reason.HUMAN_REQUEST,
                   language=_text(custom.get("language")) or "en", question=_text(custom.get("question")),
                   customer_name=_text(custom.get("customer_name")) or None,
                   register=_text(custom.get("register")) or None, considered=considered,
                   mood=MoodReading.parse(custom.get("sentiment")))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
