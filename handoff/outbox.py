"""The outbox: messages a push channel (Telegram) could not deliver yet, tried again later with growing waits,
in each conversation's order, and given up on as a dead letter the agents see."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable, Dict, List

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from handoff import models as m
from handoff.views import MessageView, NotFound, as_utc, iso, message_view


class Outbox:
    """`store.outbox`. `message` and `add_message` are the store's, so that a dead letter's note reaches the
    transcript and the live feed like any other message."""

    def __init__(self, session: Callable[[], Session], message: Callable[[int], MessageView],
                 add_message: Callable[..., MessageView]):
        self._session = session
        self._message = message
        self._add_message = add_message

    def defer(self, message_id: int, error: str, first_delay: timedelta, max_delay: timedelta) -> int:
        """Keep the message for a later try (again, if it was kept already), waiting twice as long after each failed
        try, up to `max_delay`; returns the failed tries so far."""
        with self._session() as s, s.begin():
            message = s.get(m.Message, message_id)
            if message is None:
                raise NotFound(f"no message {message_id}")
            row = s.execute(select(m.DeferredDelivery).where(m.DeferredDelivery.message_id == message_id)).scalar_one_or_none()
            if row is None:
                conversation = s.get(m.Conversation, message.conversation_id)
                row = m.DeferredDelivery(message_id=message_id, conversation_id=message.conversation_id,
                                         channel=conversation.channel, attempts=0)
                s.add(row)
            row.attempts = (row.attempts or 0) + 1
            row.last_error = error[:2000]
            row.next_attempt_at = m.utcnow() + min(first_delay * 2 ** min(row.attempts - 1, 20), max_delay)
            return row.attempts

    def has_deferred(self, conversation_id: int) -> bool:
        query = select(m.DeferredDelivery.id).where(m.DeferredDelivery.conversation_id == conversation_id,
                                                    m.DeferredDelivery.given_up_at.is_(None)).limit(1)
        with self._session() as s:
            return s.execute(query).first() is not None

    def take_due(self, channel: str, lease: timedelta, limit: int = 100) -> List[MessageView]:
        """The channel's kept messages that are due, oldest first, each leased for `lease` with a compare-and-set, so
        two gateways never send the same one; a conversation's messages only up to its first one not yet due."""
        now = m.utcnow()
        query = (select(m.DeferredDelivery).where(m.DeferredDelivery.channel == channel, m.DeferredDelivery.given_up_at.is_(None))
                 .order_by(m.DeferredDelivery.conversation_id, m.DeferredDelivery.message_id))
        taken: List[MessageView] = []
        with self._session() as s, s.begin():
            blocked: set = set()
            for row in s.execute(query).scalars():
                if row.conversation_id in blocked or as_utc(row.next_attempt_at) > now:
                    blocked.add(row.conversation_id)  # later messages wait for the earlier one: the order holds
                    continue
                won = s.execute(update(m.DeferredDelivery)
                                .where(m.DeferredDelivery.id == row.id, m.DeferredDelivery.next_attempt_at == row.next_attempt_at)
                                .values(next_attempt_at=now + lease).execution_options(synchronize_session=False))
                if won.rowcount != 1:
                    blocked.add(row.conversation_id)
                    continue
                taken.append(message_view(s.get(m.Message, row.message_id)))
                if len(taken) >= limit:
                    break
        return sorted(taken, key=lambda v: v.id)

    def give_up(self, message_id: int, tries: int, error: str) -> MessageView:
        """The dead letter: the message is no longer tried (nor holds back later ones), and the agents see that the
        customer never got it, with the last error: in the transcript, the live feed and `undelivered`."""
        with self._session() as s, s.begin():
            s.execute(update(m.DeferredDelivery).where(m.DeferredDelivery.message_id == message_id)
                      .values(given_up_at=m.utcnow(), attempts=tries, last_error=error[:2000]))
        message = self._message(message_id)
        note = (f"Message {message_id} could not be delivered to the customer after {tries} tries and is no longer "
                f"retried; last error: {error[:300]}")
        return self._add_message(message.conversation_id, "system", note, None,
                                {"undelivered": {"message_id": message_id, "tries": tries}})

    def undelivered(self, limit: int = 100) -> List[Dict[str, Any]]:
        """The dead letters, newest first: what the agents must pass on to the customer some other way."""
        query = (select(m.DeferredDelivery, m.Message).join(m.Message, m.Message.id == m.DeferredDelivery.message_id)
                 .where(m.DeferredDelivery.given_up_at.isnot(None))
                 .order_by(m.DeferredDelivery.given_up_at.desc()).limit(limit))
        with self._session() as s:
            return [{"conversation_id": row.conversation_id, "channel": row.channel, "message": message_view(message).to_json(),
                     "tries": row.attempts, "last_error": (row.last_error or "")[:300], "given_up_at": iso(row.given_up_at)}
                    for row, message in s.execute(query)]

    def dismiss(self, message_id: int) -> None:
        """An agent has dealt with a dead letter."""
        self.delivered(message_id)

    def delivered(self, message_id: int) -> None:
        with self._session() as s, s.begin():
            s.execute(delete(m.DeferredDelivery).where(m.DeferredDelivery.message_id == message_id))
