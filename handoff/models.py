"""Tables of the handoff database. The conversation's `state` is the one ownership truth every channel obeys."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, Boolean, false, Column, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import declarative_base

from protocol.moods import Mood

Base = declarative_base()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Agent(Base):
    __tablename__ = "agents"
    id = Column(Integer, primary_key=True)
    username = Column(String(80), nullable=False, unique=True)
    display_name = Column(String(120), nullable=False)
    password_hash = Column(String(255), nullable=False)
    active = Column(Boolean, nullable=False, default=True)
    role = Column(String(16), nullable=False, default="agent", server_default="agent")  # admin or agent
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class AgentSession(Base):
    __tablename__ = "agent_sessions"
    token_hash = Column(String(64), primary_key=True)
    agent_id = Column(Integer, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False, index=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    expires_at = Column(DateTime(timezone=True), nullable=False)
    last_seen_at = Column(DateTime(timezone=True))  # the agent's last request: sessions end after a while idle


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("channel", "customer_id", name="uq_conversations_channel_customer"),
        Index("ix_conversations_state", "state"),
    )
    id = Column(Integer, primary_key=True)
    channel = Column(String(40), nullable=False)
    customer_id = Column(String(200), nullable=False)
    state = Column(String(16), nullable=False, default="bot")
    customer_name = Column(String(120))
    language = Column(String(8))
    register = Column(String(16))  # formal or informal: how the customer addresses us
    current_handoff_id = Column(Integer)
    agent_id = Column(Integer, ForeignKey("agents.id"))
    awaiting_rating = Column(Boolean, nullable=False, default=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class Handoff(Base):
    """One stay of a conversation with the humans: from the bot's handoff until it is closed or returned."""

    __tablename__ = "handoffs"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(Integer, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False, index=True)
    reason = Column(String(40), nullable=False)
    sentiment = Column(String(16), nullable=False, default=Mood.CALM)
    priority = Column(Integer, nullable=False)
    packet = Column(JSON, nullable=False, default=dict)
    requested_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    claimed_at = Column(DateTime(timezone=True))
    agent_id = Column(Integer, ForeignKey("agents.id"))
    ended_at = Column(DateTime(timezone=True))
    outcome = Column(String(16))  # "closed" or "returned"
    resolution = Column(Text)
    rating = Column(Integer)
    rated_at = Column(DateTime(timezone=True))


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),
        Index("uq_messages_conversation_client_id", "conversation_id", "client_message_id", unique=True),
    )
    id = Column(Integer, primary_key=True)
    conversation_id = Column(Integer, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False)
    role = Column(String(16), nullable=False)  # customer, bot, agent, note, system
    text = Column(Text, nullable=False)
    author = Column(String(120))
    payload = Column(JSON, nullable=False, default=dict)  # buttons and the bot's custom metadata
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    # the id the customer's client gave the message, so a retried send is stored once (REST, web chat, Telegram)
    client_message_id = Column(String(120))
    # the turn journal: true from storing a customer message the bot is to answer until the answer is stored
    turn_pending = Column(Boolean, nullable=False, default=False, server_default=false(), index=True)


class LiveEvent(Base):
    """Append-only feed that every process polls for live updates, so several instances stay in step."""

    __tablename__ = "live_events"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(Integer, nullable=False)
    kind = Column(String(24), nullable=False)  # message, state, typing
    payload = Column(JSON, nullable=False, default=dict)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow, index=True)


class AnswerFeedback(Base):
    """The customer's "was this helpful?" on one bot answer: the statistics per knowledge entry."""

    __tablename__ = "answer_feedback"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(Integer, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False, index=True)
    message_id = Column(Integer, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False, unique=True)
    faq_id = Column(String(200), index=True)
    helpful = Column(Boolean, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class DeferredDelivery(Base):
    """A message a push channel (Telegram) could not deliver yet: retried, in order, until it gets through or is
    given up (handoff.router.MAX_DELIVERY_TRIES)."""

    __tablename__ = "deferred_deliveries"
    id = Column(Integer, primary_key=True)
    message_id = Column(Integer, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False, unique=True)
    conversation_id = Column(Integer, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False, index=True)
    channel = Column(String(40), nullable=False)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime(timezone=True), nullable=False, index=True)
    last_error = Column(Text)
    given_up_at = Column(DateTime(timezone=True))  # the dead letter: no longer tried; the agents see it
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
