"""What the handoff store hands out: plain, frozen views of its rows, safe to pass between threads and to JSON."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, Optional

from handoff import models as m


def as_utc(moment: Optional[datetime]) -> Optional[datetime]:
    """SQLite hands back naive datetimes; everything stored here is UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def iso(moment: Optional[datetime]) -> Optional[str]:
    moment = as_utc(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


class NotFound(LookupError):
    pass


@dataclass(frozen=True)
class AgentView:
    id: int
    username: str
    display_name: str
    role: str = "agent"
    active: bool = True

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def to_json(self) -> Dict[str, Any]:
        return {"username": self.username, "display_name": self.display_name, "role": self.role}


@dataclass(frozen=True)
class MessageView:
    id: int
    conversation_id: int
    role: str
    text: str
    author: Optional[str]
    created_at: Optional[str]
    payload: Dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> Dict[str, Any]:
        return {
            "id": self.id, "conversation_id": self.conversation_id, "role": self.role, "text": self.text,
            "author": self.author, "created_at": self.created_at,
            "buttons": self.payload.get("buttons") or [], "meta": self.payload.get("custom") or {},
        }


@dataclass(frozen=True)
class ConversationView:
    id: int
    channel: str
    customer_id: str
    state: str
    customer_name: Optional[str]
    language: Optional[str]
    register: Optional[str]
    awaiting_rating: bool
    agent: Optional[AgentView]
    handoff_id: Optional[int]


@dataclass(frozen=True)
class HandoffView:
    id: int
    conversation_id: int
    reason: str
    sentiment: str
    priority: int
    packet: Dict[str, Any]
    requested_at: Optional[str]
    claimed_at: Optional[str]
    outcome: Optional[str]
    resolution: Optional[str]
    rating: Optional[int]


@dataclass(frozen=True)
class EventView:
    id: int
    conversation_id: int
    kind: str
    payload: Dict[str, Any]


def agent_view(agent: Optional[m.Agent]) -> Optional[AgentView]:
    return AgentView(agent.id, agent.username, agent.display_name, agent.role or "agent", bool(agent.active)) if agent else None


def message_view(row: m.Message) -> MessageView:
    return MessageView(row.id, row.conversation_id, row.role, row.text, row.author, iso(row.created_at), dict(row.payload or {}))


def handoff_view(row: m.Handoff) -> HandoffView:
    return HandoffView(row.id, row.conversation_id, row.reason, row.sentiment, row.priority, dict(row.packet or {}),
                       iso(row.requested_at), iso(row.claimed_at), row.outcome, row.resolution, row.rating)
