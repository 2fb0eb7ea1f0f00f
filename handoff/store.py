"""Everything the handoff keeps in its database, behind one class with plain, synchronous methods.
State changes are compare-and-set updates, so exactly one of two concurrent claims wins on any database."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Container, Dict, Iterable, List, Optional, Sequence, Tuple

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from handoff import models as m
from handoff.db import make_engine, migrate
from handoff.agents import AgentDirectory
from handoff.outbox import Outbox
from handoff.ownership import ALLOWED, State, TransitionRefused, check_transition, priority_for
from handoff.views import (ConversationView, EventView, HandoffView, MessageView, NotFound, agent_view, as_utc,
                           handoff_view, message_view)
from protocol.moods import Mood

DEFAULT_MINUTES_PER_CUSTOMER = 4
CUSTOMER_VISIBLE_ROLES = ("customer", "bot", "agent")


class AlreadyClaimed(TransitionRefused):
    def __init__(self, owner: Optional[str], current: Optional[State]):
        who = f"by {owner}" if owner else "or no longer waiting"
        super().__init__(f"already claimed {who}", current)
        self.owner = owner


class NotOwner(TransitionRefused):
    """Only the agent who has the conversation may do this (or anyone, while it still waits)."""


class HandoffStore:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._sessions = sessionmaker(engine, future=True, expire_on_commit=False)
        self.agents = AgentDirectory(self.session, self._publish)
        self.outbox = Outbox(self.session, self.message, self.add_message)

    @classmethod
    def open(cls, url: str, run_migrations: bool = True) -> "HandoffStore":
        if run_migrations:
            migrate(url)
        return cls(make_engine(url))

    def session(self) -> Session:
        return self._sessions()

    # conversations

    def conversation(self, channel: str, customer_id: str) -> ConversationView:
        """The customer's conversation on this channel, created on first contact."""
        with self.session() as s:
            row = s.execute(select(m.Conversation).where(
                m.Conversation.channel == channel, m.Conversation.customer_id == customer_id)).scalar_one_or_none()
            if row is None:
                try:
                    row = m.Conversation(channel=channel, customer_id=customer_id, state=State.BOT.value)
                    s.add(row)
                    s.commit()
                except IntegrityError:  # the same customer's first two messages raced
                    s.rollback()
                    row = s.execute(select(m.Conversation).where(
                        m.Conversation.channel == channel, m.Conversation.customer_id == customer_id)).scalar_one()
            return self._conversation_view(s, row)

    def get(self, conversation_id: int) -> ConversationView:
        with self.session() as s:
            return self._conversation_view(s, self._row(s, conversation_id))

    def find(self, channel: str, customer_id: str) -> Optional[ConversationView]:
        with self.session() as s:
            row = s.execute(select(m.Conversation).where(
                m.Conversation.channel == channel, m.Conversation.customer_id == customer_id)).scalar_one_or_none()
            return self._conversation_view(s, row) if row else None

    def note_customer(self, conversation_id: int, name: Optional[str] = None, language: Optional[str] = None,
                      register: Optional[str] = None) -> None:
        values = {k: v for k, v in (("customer_name", name), ("language", language), ("register", register)) if v}
        if values:
            with self.session() as s, s.begin():
                s.execute(update(m.Conversation).where(m.Conversation.id == conversation_id).values(**values))

    def _row(self, s: Session, conversation_id: int) -> m.Conversation:
        row = s.get(m.Conversation, conversation_id)
        if row is None:
            raise NotFound(f"no conversation {conversation_id}")
        return row

    def _conversation_view(self, s: Session, row: m.Conversation) -> ConversationView:
        agent = s.get(m.Agent, row.agent_id) if row.agent_id else None
        return ConversationView(row.id, row.channel, row.customer_id, row.state, row.customer_name, row.language,
                                row.register, bool(row.awaiting_rating), agent_view(agent), row.current_handoff_id)

    # messages

    def add_message(self, conversation_id: int, role: str, text: str, author: Optional[str] = None,
                    payload: Optional[Dict[str, Any]] = None) -> MessageView:
        with self.session() as s, s.begin():
            row = m.Message(conversation_id=conversation_id, role=role, text=text, author=author, payload=payload or {})
            s.add(row)
            s.flush()
            view = message_view(row)
            s.execute(update(m.Conversation).where(m.Conversation.id == conversation_id).values(updated_at=m.utcnow()))
            self._publish(s, conversation_id, "message", {"message": view.to_json()})
        return view

    def add_customer_message(self, conversation_id: int, text: str, author: Optional[str] = None,
                             payload: Optional[Dict[str, Any]] = None, client_message_id: Optional[str] = None,
                             turn_pending: bool = False) -> Tuple[MessageView, bool]:
        """Store a customer message; with a `client_message_id` seen before in this conversation (a retried send),
        nothing is stored and the first one is returned, with False. `turn_pending` journals that the bot is to
        answer it: until `finish_turn`, a gateway that dies mid-turn leaves it for `interrupted_turns`."""
        try:
            with self.session() as s, s.begin():
                row = m.Message(conversation_id=conversation_id, role="customer", text=text, author=author,
                                payload=payload or {}, client_message_id=client_message_id, turn_pending=turn_pending)
                s.add(row)
                s.flush()
                view = message_view(row)
                s.execute(update(m.Conversation).where(m.Conversation.id == conversation_id).values(updated_at=m.utcnow()))
                self._publish(s, conversation_id, "message", {"message": view.to_json()})
            return view, True
        except IntegrityError:
            if client_message_id is None:
                raise
        with self.session() as s:
            row = s.execute(select(m.Message).where(m.Message.conversation_id == conversation_id,
                                                    m.Message.client_message_id == client_message_id)).scalar_one()
            return message_view(row), False

    def has_client_message(self, conversation_id: int, client_message_id: str) -> bool:
        query = select(m.Message.id).where(m.Message.conversation_id == conversation_id,
                                           m.Message.client_message_id == client_message_id).limit(1)
        with self.session() as s:
            return s.execute(query).first() is not None

    def replies_to(self, message_id: int) -> List[MessageView]:
        """The bot's messages after a customer message, up to the customer's next one: what that message got."""
        first = self.message(message_id)
        with self.session() as s:
            next_customer = s.execute(select(func.min(m.Message.id)).where(
                m.Message.conversation_id == first.conversation_id, m.Message.role == "customer",
                m.Message.id > message_id)).scalar()
            query = select(m.Message).where(m.Message.conversation_id == first.conversation_id, m.Message.role == "bot",
                                            m.Message.id > message_id)
            if next_customer:
                query = query.where(m.Message.id < next_customer)
            return [message_view(r) for r in s.execute(query.order_by(m.Message.id)).scalars()]

    def turn_pending(self, message_id: int) -> bool:
        with self.session() as s:
            return bool(s.execute(select(m.Message.turn_pending).where(m.Message.id == message_id)).scalar())

    def finish_turn(self, message_id: int) -> bool:
        """The turn of this customer message is done (its answer or handoff is stored); False if it already was,
        which is how exactly one of two gateways takes over an interrupted turn."""
        with self.session() as s, s.begin():
            return s.execute(update(m.Message).where(m.Message.id == message_id, m.Message.turn_pending.is_(True))
                             .values(turn_pending=False).execution_options(synchronize_session=False)).rowcount == 1

    def interrupted_turns(self, older_than: timedelta, limit: int = 100) -> List[MessageView]:
        """Customer messages whose turn began longer ago than any turn takes, and never finished: the gateway
        handling them died."""
        query = (select(m.Message).where(m.Message.turn_pending.is_(True), m.Message.created_at < m.utcnow() - older_than)
                 .order_by(m.Message.id).limit(limit))
        with self.session() as s:
            return [message_view(r) for r in s.execute(query).scalars()]

    def messages(self, conversation_id: int, after_id: int = 0, roles: Optional[Sequence[str]] = None) -> List[MessageView]:
        query = select(m.Message).where(m.Message.conversation_id == conversation_id, m.Message.id > after_id)
        if roles:
            query = query.where(m.Message.role.in_(list(roles)))
        with self.session() as s:
            return [message_view(r) for r in s.execute(query.order_by(m.Message.id)).scalars()]

    def messages_page(self, conversation_id: int, before_id: Optional[int] = None, limit: int = 100,
                      roles: Optional[Sequence[str]] = None) -> Tuple[List[MessageView], bool]:
        """The latest `limit` messages (below `before_id`, when given), in id order, and whether there are older ones."""
        query = select(m.Message).where(m.Message.conversation_id == conversation_id)
        if before_id is not None:
            query = query.where(m.Message.id < before_id)
        if roles:
            query = query.where(m.Message.role.in_(list(roles)))
        with self.session() as s:
            rows = list(s.execute(query.order_by(m.Message.id.desc()).limit(limit + 1)).scalars())
        return [message_view(r) for r in reversed(rows[:limit])], len(rows) > limit

    def message(self, message_id: int) -> MessageView:
        with self.session() as s:
            row = s.get(m.Message, message_id)
            if row is None:
                raise NotFound(f"no message {message_id}")
            return message_view(row)

    def customer_messages_since(self, conversation_id: int, *moments: datetime) -> Tuple[int, ...]:
        """How many customer messages the conversation has had since each of `moments`, in one query."""
        counts = [func.coalesce(func.sum(case((m.Message.created_at >= moment, 1), else_=0)), 0) for moment in moments]
        query = select(*counts).where(m.Message.conversation_id == conversation_id, m.Message.role == "customer",
                                      m.Message.created_at >= min(moments))
        with self.session() as s:
            return tuple(int(n) for n in s.execute(query).one())

    # answer feedback

    def record_feedback(self, conversation_id: int, message_id: int, faq_id: Optional[str], helpful: bool) -> bool:
        """The customer's verdict on one answer; False when that answer was already rated (the first verdict stays)."""
        try:
            with self.session() as s, s.begin():
                s.add(m.AnswerFeedback(conversation_id=conversation_id, message_id=message_id, faq_id=faq_id, helpful=helpful))
        except IntegrityError:
            return False
        return True

    def feedback_by_entry(self) -> Dict[str, Dict[str, int]]:
        """Per knowledge entry: how many customers found its answer helpful, and how many did not."""
        query = (select(m.AnswerFeedback.faq_id, m.AnswerFeedback.helpful, func.count())
                 .group_by(m.AnswerFeedback.faq_id, m.AnswerFeedback.helpful))
        summary: Dict[str, Dict[str, int]] = {}
        with self.session() as s:
            for faq_id, helpful, count in s.execute(query):
                counts = summary.setdefault(faq_id or "", {"helpful": 0, "not_helpful": 0})
                counts["helpful" if helpful else "not_helpful"] += count
        return summary

    # ownership

    def _change_state(self, s: Session, conversation_id: int, expected: Iterable[State], target: State,
                      owner: Optional[int] = None, **values) -> m.Conversation:
        """Compare-and-set from one of the `expected` states; with `owner`, a conversation an agent has only when
        that agent has it."""
        expected = [e for e in expected if target in ALLOWED[e]]
        condition = m.Conversation.state.in_([e.value for e in expected])
        if owner is not None:
            others = [e.value for e in expected if e is not State.AGENT]
            condition = or_(m.Conversation.state.in_(others),
                            and_(m.Conversation.state == State.AGENT.value, m.Conversation.agent_id == owner))
        result = s.execute(
            update(m.Conversation)
            .where(m.Conversation.id == conversation_id, condition)
            .values(state=target.value, updated_at=m.utcnow(), **values)
            .execution_options(synchronize_session=False)
        )
        row = self._row(s, conversation_id)
        s.refresh(row)
        if result.rowcount != 1:
            current = State(row.state)
            holder = s.get(m.Agent, row.agent_id) if row.agent_id else None
            if target is State.AGENT:
                raise AlreadyClaimed(holder.display_name if holder else None, current)
            if owner is not None and current is State.AGENT and row.agent_id != owner:
                raise NotOwner(f"{holder.display_name if holder else 'another agent'} has the conversation", current)
            check_transition(current, target)
            raise TransitionRefused(f"the conversation is '{current.value}', not {[e.value for e in expected]}", current)
        self._publish(s, conversation_id, "state", {"state": target.value})
        return row

    def hand_off(self, conversation_id: int, reason: str, sentiment: str = Mood.CALM,
                 packet: Optional[Dict[str, Any]] = None) -> HandoffView:
        """bot → waiting, with what the agent needs to know. Refused when a human already has the conversation."""
        with self.session() as s, s.begin():
            row = self._change_state(s, conversation_id, [State.BOT, State.CLOSED], State.WAITING,
                                     agent_id=None, awaiting_rating=False)
            episode = m.Handoff(conversation_id=conversation_id, reason=reason, sentiment=sentiment,
                                priority=priority_for(reason, sentiment), packet=packet or {})
            s.add(episode)
            s.flush()
            row.current_handoff_id = episode.id
            return handoff_view(episode)

    def claim(self, conversation_id: int, agent_id: int) -> ConversationView:
        with self.session() as s, s.begin():
            row = self._change_state(s, conversation_id, [State.WAITING], State.AGENT, agent_id=agent_id)
            s.execute(update(m.Handoff).where(m.Handoff.id == row.current_handoff_id)
                      .values(claimed_at=m.utcnow(), agent_id=agent_id))
            return self._conversation_view(s, row)

    def return_to_bot(self, conversation_id: int, agent_id: Optional[int] = None) -> ConversationView:
        """waiting or agent → bot; with `agent_id`, refused (NotOwner) when another agent has the conversation."""
        with self.session() as s, s.begin():
            row = self._change_state(s, conversation_id, [State.WAITING, State.AGENT], State.BOT, owner=agent_id,
                                     agent_id=None)
            self._end_handoff(s, row.current_handoff_id, "returned", None)
            return self._conversation_view(s, row)

    def close(self, conversation_id: int, resolution: Optional[str] = None, agent_id: Optional[int] = None) -> ConversationView:
        """waiting or agent → closed; with `agent_id`, refused (NotOwner) when another agent has the conversation."""
        with self.session() as s, s.begin():
            row = self._change_state(s, conversation_id, [State.WAITING, State.AGENT], State.CLOSED, owner=agent_id,
                                     awaiting_rating=True)
            self._end_handoff(s, row.current_handoff_id, "closed", resolution)
            return self._conversation_view(s, row)

    def resume_bot(self, conversation_id: int) -> None:
        """closed → bot, at the customer's next message; a no-op if it already happened."""
        with self.session() as s, s.begin():
            s.execute(update(m.Conversation)
                      .where(m.Conversation.id == conversation_id, m.Conversation.state == State.CLOSED.value)
                      .values(state=State.BOT.value, awaiting_rating=False, agent_id=None, updated_at=m.utcnow()))

    def rate(self, conversation_id: int, rating: int) -> Optional[HandoffView]:
        if not 1 <= rating <= 5:
            raise ValueError("a rating is 1 to 5")
        with self.session() as s, s.begin():
            row = self._row(s, conversation_id)
            if not row.current_handoff_id:
                return None
            episode = s.get(m.Handoff, row.current_handoff_id)
            episode.rating, episode.rated_at = rating, m.utcnow()
            row.awaiting_rating = False
            return handoff_view(episode)

    def _end_handoff(self, s: Session, handoff_id: Optional[int], outcome: str, resolution: Optional[str]) -> None:
        if handoff_id:
            s.execute(update(m.Handoff).where(m.Handoff.id == handoff_id)
                      .values(ended_at=m.utcnow(), outcome=outcome, resolution=resolution))

    def current_handoff(self, conversation_id: int) -> Optional[HandoffView]:
        with self.session() as s:
            row = self._row(s, conversation_id)
            episode = s.get(m.Handoff, row.current_handoff_id) if row.current_handoff_id else None
            return handoff_view(episode) if episode else None

    # the queue

    def waiting(self) -> List[ConversationView]:
        """Waiting conversations, rude and upset customers first, then by waiting time."""
        query = (select(m.Conversation).join(m.Handoff, m.Handoff.id == m.Conversation.current_handoff_id)
                 .where(m.Conversation.state == State.WAITING.value)
                 .order_by(m.Handoff.priority, m.Handoff.requested_at, m.Handoff.id))
        with self.session() as s:
            return [self._conversation_view(s, r) for r in s.execute(query).scalars()]

    def owned_by(self, agent_id: int) -> List[ConversationView]:
        query = (select(m.Conversation).where(m.Conversation.state == State.AGENT.value, m.Conversation.agent_id == agent_id)
                 .order_by(m.Conversation.updated_at.desc()))
        with self.session() as s:
            return [self._conversation_view(s, r) for r in s.execute(query).scalars()]

    def queue_position(self, conversation_id: int) -> Optional[int]:
        for position, conversation in enumerate(self.waiting(), start=1):
            if conversation.id == conversation_id:
                return position
        return None

    def customer_statuses(self, conversation_ids: Sequence[int]) -> Dict[int, Dict[str, Any]]:
        """What each customer is told of their conversation: its state, the place in the queue while waiting, the
        agent's name while an agent has it. The queue is read once for all of them; unknown ids are left out."""
        with self.session() as s:
            rows = s.execute(select(m.Conversation).where(m.Conversation.id.in_(list(conversation_ids)))).scalars()
            conversations = {row.id: self._conversation_view(s, row) for row in rows}
        positions: Dict[int, int] = {}
        if any(c.state == State.WAITING.value for c in conversations.values()):
            positions = {c.id: n for n, c in enumerate(self.waiting(), start=1)}
        return {i: {"state": c.state, "queue_position": positions.get(i) if c.state == State.WAITING.value else None,
                    "agent": c.agent.display_name if c.agent and c.state == State.AGENT.value else None}
                for i, c in conversations.items()}

    def expected_wait_minutes(self, position: int, recent: int = 20) -> int:
        """Position times the median time-to-claim of the recent handoffs (a default while there is no history)."""
        query = (select(m.Handoff.requested_at, m.Handoff.claimed_at).where(m.Handoff.claimed_at.isnot(None))
                 .order_by(m.Handoff.claimed_at.desc()).limit(recent))
        with self.session() as s:
            waits = sorted((as_utc(c) - as_utc(r)).total_seconds() / 60 for r, c in s.execute(query))
        per_customer = max(1.0, waits[len(waits) // 2]) if waits else DEFAULT_MINUTES_PER_CUSTOMER
        return round(per_customer * position)

    def last_message(self, conversation_id: int) -> Optional[MessageView]:
        query = (select(m.Message).where(m.Message.conversation_id == conversation_id, m.Message.role != "note")
                 .order_by(m.Message.id.desc()).limit(1))
        with self.session() as s:
            row = s.execute(query).scalar_one_or_none()
            return message_view(row) if row else None

    def unanswered_count(self, conversation_id: int) -> int:
        """Customer messages since the last agent reply."""
        with self.session() as s:
            last_agent = s.execute(select(func.max(m.Message.id)).where(
                m.Message.conversation_id == conversation_id, m.Message.role == "agent")).scalar() or 0
            return s.execute(select(func.count()).select_from(m.Message).where(
                m.Message.conversation_id == conversation_id, m.Message.role == "customer", m.Message.id > last_agent)).scalar()

    def handoff_summary(self) -> Dict[str, Dict[str, Any]]:
        """Per handoff reason: how many, how many were rated, and their average rating."""
        query = (select(m.Handoff.reason, func.count(), func.count(m.Handoff.rating), func.avg(m.Handoff.rating))
                 .group_by(m.Handoff.reason))
        with self.session() as s:
            return {reason: {"handoffs": total, "rated": rated, "average_rating": round(float(average), 2) if average else None}
                    for reason, total, rated, average in s.execute(query)}

    # live events

    def _publish(self, s: Session, conversation_id: int, kind: str, payload: Dict[str, Any]) -> None:
        s.add(m.LiveEvent(conversation_id=conversation_id, kind=kind, payload=payload))

    def publish(self, conversation_id: int, kind: str, payload: Dict[str, Any]) -> None:
        with self.session() as s, s.begin():
            self._publish(s, conversation_id, kind, payload)

    def last_event_id(self) -> int:
        with self.session() as s:
            return s.execute(select(func.max(m.LiveEvent.id))).scalar() or 0

    def events_after(self, event_id: int, also_since: Optional[datetime] = None, limit: int = 500,
                     seen: Container[int] = ()) -> List[EventView]:
        """Up to `limit` events after `event_id`, by the primary key. With `also_since`, also the events at or
        below `event_id` created since then that are not in `seen`: on PostgreSQL a concurrent transaction may
        commit late, with a lower id. Those are found by the created_at index, their ids first, and only the
        unseen ones are read whole. Two queries rather than one OR, so that neither keeps the other from its
        index nor its limit. In id order."""
        with self.session() as s:
            rows = list(s.execute(select(m.LiveEvent).where(m.LiveEvent.id > event_id)
                                  .order_by(m.LiveEvent.id).limit(limit)).scalars()) if limit > 0 else []
            if also_since is not None:
                late = [i for i in s.execute(select(m.LiveEvent.id).where(
                    m.LiveEvent.id <= event_id, m.LiveEvent.created_at >= also_since)).scalars() if i not in seen]
                for start in range(0, len(late), 500):
                    rows.extend(s.execute(select(m.LiveEvent).where(m.LiveEvent.id.in_(late[start:start + 500]))).scalars())
            return [EventView(e.id, e.conversation_id, e.kind, dict(e.payload or {})) for e in sorted(rows, key=lambda e: e.id)]

    def prune_events(self, older_than: timedelta = timedelta(hours=1)) -> int:
        with self.session() as s, s.begin():
            return s.execute(delete(m.LiveEvent).where(m.LiveEvent.created_at < m.utcnow() - older_than)).rowcount
