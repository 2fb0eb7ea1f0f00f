"""A known service desk, stored through HandoffStore with fixed timestamps: the requests of docs/analytics.md's
definitions across et, ru and en, for the analytics, the export and the pages' tests.

Day 0 is a Monday (2026-11-16 for the hand-computed tests); the dates below are for that Monday. Period: days 0-13.

| request | day, UTC   | language | what happens                                                   | outcome        |
|---------|------------|----------|----------------------------------------------------------------|----------------|
| B1      | -6 08:00   | ru       | an answer (before the period)                                  | contained      |
| A1      | 0 09:00    | et       | answer (helpful), 20 min later a second answer                 | contained, came back (A2) |
| B2      | 1 09:00    | ru       | an answer                                                      | contained, durable |
| C1      | 2 12:00    | en       | a greeting, then a clarifying question                         | no answer      |
| C2      | 2 15:00    | en       | answer "didn't help", the next one helpful                     | contained, came back (C3) |
| C3      | 3 09:00    | en       | rude: Jaan claims after 10 min, replies at 12, closes; rated 2 | closed, came back (C4) |
| A2      | 4 10:00    | et       | an answer marked "didn't help", then a clarifying question     | didn't help    |
| A3      | 4 11:00    | et       | low confidence: Mari claims after 2 min, replies at 3; silent 36 min; closes with an e-mail in the resolution; rated 5 40 min later | closed, durable |
| C4      | 6 10:00    | en       | asks for a human; returned to the bot from the queue            | returned       |
| C5      | 6 10:35    | en       | "ok thanks" 5 min after the return: a request of its own        | no answer      |
| E1      | 7 10:00    | en       | policy topic: Mari claims after 30 min, no reply yet            | with an agent  |
| D1      | 8 16:00    | ru       | an answer                                                      | contained, came back (D2) |
| B3      | 11 14:00   | ru       | asks for a human; nobody claimed it                            | waiting        |
| D2      | 12 09:00   | ru       | an answer                                                      | contained, assumed |
| F1      | 14 10:00   | en       | a greeting (after the period)                                  | no answer      |

`now` is day 16 12:00.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Dict, Optional

from sqlalchemy import update

from handoff import models as m
from handoff.store import HandoffStore

MONDAY = date(2026, 11, 16)
RESOLUTION_EMAIL = "anna.tamm@example.com"
RESOLUTION_PHONE = "+372 5123 4567"


@dataclass
class Desk:
    """Writes one conversation's history through the store, then puts each row at its moment."""

    store: HandoffStore
    monday: date
    agents: Dict[str, int] = field(default_factory=dict)

    def at(self, day: int, clock: str) -> datetime:
        hours, minutes, *seconds = (int(x) for x in clock.split(":"))
        return datetime.combine(self.monday + timedelta(days=day), time(hours, minutes, *(seconds or [0])), timezone.utc)

    def _moment(self, table, row_id: int, **values) -> None:
        with self.store.session() as s, s.begin():
            s.execute(update(table).where(table.id == row_id).values(**values))

    def customer(self, conversation: int, moment: datetime, text: str) -> int:
        message, _ = self.store.add_customer_message(conversation, text)
        self._moment(m.Message, message.id, created_at=moment)
        return message.id

    def bot(self, conversation: int, moment: datetime, kind: str, language: str, faq_id: Optional[str] = None,
            text: str = "", **custom) -> int:
        payload = {"custom": {"kind": kind, "language": language, **({"faq_id": faq_id} if faq_id else {}), **custom}}
        message = self.store.add_message(conversation, "bot", text or f"({kind} {faq_id or ''})", None, payload)
        self._moment(m.Message, message.id, created_at=moment)
        return message.id

    def verdict(self, conversation: int, answer: int, faq_id: str, helpful: bool, moment: datetime) -> None:
        self.store.record_feedback(conversation, answer, faq_id, helpful)
        with self.store.session() as s, s.begin():
            s.execute(update(m.AnswerFeedback).where(m.AnswerFeedback.message_id == answer).values(created_at=moment))
        note = self.store.add_message(conversation, "system", "feedback", None,
                                      {"feedback": {"message_id": answer, "faq_id": faq_id, "helpful": helpful}})
        self._moment(m.Message, note.id, created_at=moment)

    def hand_off(self, conversation: int, moment: datetime, reason: str, language: str) -> int:
        self.bot(conversation, moment, "handoff", language, reason=reason)
        stay = self.store.hand_off(conversation, reason, packet={"reason": reason, "language": language})
        self._moment(m.Handoff, stay.id, requested_at=moment + timedelta(seconds=1))
        self.bot(conversation, moment + timedelta(seconds=2), "queue_status", language)
        return stay.id

    def claim(self, conversation: int, stay: int, agent: str, moment: datetime) -> None:
        self.store.claim(conversation, self.agents[agent])
        self._moment(m.Handoff, stay, claimed_at=moment)
        self._system(conversation, moment, f"{agent} claimed the conversation")

    def agent_reply(self, conversation: int, agent: str, moment: datetime, text: str) -> None:
        message = self.store.add_message(conversation, "agent", text, self.store.agents.get(self.agents[agent]).display_name)
        self._moment(m.Message, message.id, created_at=moment)

    def close(self, conversation: int, stay: int, agent: str, moment: datetime, resolution: str, language: str) -> None:
        self.store.close(conversation, resolution, self.agents[agent])
        self._moment(m.Handoff, stay, ended_at=moment)
        self._system(conversation, moment, f"{agent} closed the conversation")
        self.bot(conversation, moment + timedelta(seconds=1), "rating_request", language)

    def return_to_bot(self, conversation: int, stay: int, agent: str, moment: datetime, language: str) -> None:
        self.store.return_to_bot(conversation, self.agents[agent])
        self._moment(m.Handoff, stay, ended_at=moment)
        self._system(conversation, moment, f"{agent} returned the conversation to the bot")
        self.bot(conversation, moment + timedelta(seconds=1), "returned_to_bot", language)

    def rating(self, conversation: int, stay: int, moment: datetime, rating: int, language: str) -> None:
        self.customer(conversation, moment, str(rating))
        self.store.resume_bot(conversation)
        self.store.rate(conversation, rating)
        self._moment(m.Handoff, stay, rated_at=moment)
        self.bot(conversation, moment + timedelta(seconds=1), "rating_thanks", language, rating=rating)

    def _system(self, conversation: int, moment: datetime, text: str) -> None:
        message = self.store.add_message(conversation, "system", text)
        self._moment(m.Message, message.id, created_at=moment)


def seed(store: HandoffStore, monday: date = MONDAY) -> Desk:
    """The desk of the table above; agents mari (Mari, an admin) and jaan (Jaan) with the password "correct horse"."""
    desk = Desk(store, monday)
    desk.agents["Mari"] = store.agents.create("mari", "Mari", "correct horse", role="admin").id
    desk.agents["Jaan"] = store.agents.create("jaan", "Jaan", "correct horse").id
    at = desk.at

    anna = store.conversation("webchat", "anna").id
    boris = store.conversation("telegram", "boris").id
    carl = store.conversation("rest", "carl").id
    dina = store.conversation("webchat", "dina").id
    eve = store.conversation("telegram", "eve").id
    frank = store.conversation("rest", "frank").id

    desk.customer(boris, at(-6, "08:00"), "Как оплатить счёт?")
    desk.bot(boris, at(-6, "08:00:02"), "answer", "ru", "billing-pay")

    desk.customer(anna, at(0, "09:00"), "Kuidas arvet maksta?")
    answer = desk.bot(anna, at(0, "09:00:02"), "answer", "et", "billing-pay")
    desk.verdict(anna, answer, "billing-pay", True, at(0, "09:05"))
    desk.customer(anna, at(0, "09:20"), "Aitäh, ja kuidas e-arvet tellida?")
    desk.bot(anna, at(0, "09:20:02"), "answer", "et", "billing-einvoice")

    desk.customer(boris, at(1, "09:00"), "Как оплатить счёт картой?")
    desk.bot(boris, at(1, "09:00:02"), "answer", "ru", "billing-pay")

    desk.customer(carl, at(2, "12:00"), "hello")
    desk.bot(carl, at(2, "12:00:01"), "smalltalk", "en", intent="greet")
    desk.customer(carl, at(2, "12:10"), "what are your refund options")
    desk.bot(carl, at(2, "12:10:01"), "clarify", "en")

    desk.customer(carl, at(2, "15:00"), "How do I get a refund? Write to carl@example.com")
    answer = desk.bot(carl, at(2, "15:00:01"), "answer", "en", "billing-refund")
    desk.verdict(carl, answer, "billing-refund", False, at(2, "15:01"))
    answer = desk.bot(carl, at(2, "15:01:01"), "answer", "en", "billing-refund-policy")
    desk.verdict(carl, answer, "billing-refund-policy", True, at(2, "15:02"))

    desk.customer(carl, at(3, "09:00"), "You idiot")
    stay = desk.hand_off(carl, at(3, "09:00:01"), "rude", "en")
    desk.claim(carl, stay, "Jaan", at(3, "09:10:02"))
    desk.agent_reply(carl, "Jaan", at(3, "09:12:02"), "Hello, Jaan here. How can I help?")
    desk.close(carl, stay, "Jaan", at(3, "09:20"), f"Called back on {RESOLUTION_PHONE}", "en")
    desk.rating(carl, stay, at(3, "09:21"), 2, "en")

    desk.customer(anna, at(4, "10:00"), "Internet ei tööta")
    answer = desk.bot(anna, at(4, "10:00:02"), "answer", "et", "internet-outage")
    desk.verdict(anna, answer, "internet-outage", False, at(4, "10:01"))
    desk.bot(anna, at(4, "10:01:02"), "clarify", "et")

    desk.customer(anna, at(4, "11:00"), "Ruuter vilgub punaselt")
    stay = desk.hand_off(anna, at(4, "11:00:02"), "low_confidence", "et")
    desk.claim(anna, stay, "Mari", at(4, "11:02:03"))
    desk.agent_reply(anna, "Mari", at(4, "11:03:03"), "Tere, siin Mari. Vaatan kohe.")
    desk.customer(anna, at(4, "11:40"), "Ikka ei tööta")
    desk.agent_reply(anna, "Mari", at(4, "11:45"), "Saadan tehniku.")
    desk.close(anna, stay, "Mari", at(4, "11:50"), f"Tehnik tuleb, kinnitus aadressile {RESOLUTION_EMAIL}", "et")
    desk.rating(anna, stay, at(4, "12:30"), 5, "et")

    desk.customer(carl, at(6, "10:00"), "I need a human please")
    stay = desk.hand_off(carl, at(6, "10:00:01"), "human_request", "en")
    desk.return_to_bot(carl, stay, "Mari", at(6, "10:30"), "en")
    desk.customer(carl, at(6, "10:35"), "ok thanks")
    desk.bot(carl, at(6, "10:35:01"), "smalltalk", "en", intent="thank")

    desk.customer(eve, at(7, "10:00"), "My invoice is wrong, call me at 5123 4567")
    stay = desk.hand_off(eve, at(7, "10:00:01"), "topic_policy", "en")
    desk.claim(eve, stay, "Mari", at(7, "10:30:02"))

    desk.customer(dina, at(8, "16:00"), "Как сменить тариф?")
    desk.bot(dina, at(8, "16:00:01"), "answer", "ru", "plan-change")

    desk.customer(boris, at(11, "14:00"), "Хочу поговорить с человеком")
    desk.hand_off(boris, at(11, "14:00:02"), "human_request", "ru")

    desk.customer(dina, at(12, "09:00"), "А роуминг?")
    desk.bot(dina, at(12, "09:00:01"), "answer", "ru", "roaming")

    desk.customer(frank, at(14, "10:00"), "hello")
    desk.bot(frank, at(14, "10:00:01"), "smalltalk", "en", intent="greet")
    return desk


def now_of(monday: date = MONDAY) -> datetime:
    return datetime.combine(monday + timedelta(days=16), time(12), timezone.utc)
