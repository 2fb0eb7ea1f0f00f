"""The fault suite's counting (supportbot/eval/faults.py): the customers' turns against a seeded transcript."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from handoff import models as m
from handoff.store import HandoffStore
from supportbot.eval.faults import ACCEPTED, Turn, answers_again_after, count_outcomes

T0 = datetime(2026, 12, 2, 12, 0, 0, tzinfo=timezone.utc)


def turn(sender: str, text: str, outcome: str = ACCEPTED, at: float = 0.0, kinds=("answer",), reasons=()) -> Turn:
    return Turn(sender, text, at, at + 0.5, outcome, tuple(kinds), tuple(reasons))


def at(store: HandoffStore, message_id: int, seconds: float) -> None:
    with store.session() as s, s.begin():
        s.execute(update(m.Message).where(m.Message.id == message_id).values(created_at=T0 + timedelta(seconds=seconds)))


@pytest.fixture
def seeded(tmp_path):
    """Five REST conversations, one of each kind the suite must tell apart, and one of another channel."""
    url = f"sqlite:///{tmp_path / 'faults.db'}"
    store = HandoffStore.open(url)
    answered = store.conversation("rest", "answered").id
    at(store, store.add_message(answered, "customer", "How do I pay?").id, 0)
    at(store, store.add_message(answered, "bot", "By card.", payload={"custom": {"kind": "answer"}}).id, 2)
    at(store, store.add_message(answered, "customer", "And a refund?").id, 10)
    at(store, store.add_message(answered, "bot", "Within 14 days.", payload={"custom": {"kind": "answer"}}).id, 51)

    silent = store.conversation("rest", "silent").id  # the gateway died mid-turn: two messages, no reply
    at(store, store.add_message(silent, "customer", "Is the internet down?").id, 5)
    at(store, store.add_message(silent, "customer", "Hello?").id, 9)
    with store.session() as s, s.begin():
        s.execute(update(m.Message).where(m.Message.conversation_id == silent).values(turn_pending=True))

    queued = store.conversation("rest", "queued").id
    at(store, store.add_message(queued, "customer", "My TV is black").id, 20)
    at(store, store.add_message(queued, "bot", "A colleague will answer.",
                                payload={"custom": {"kind": "handoff", "reason": "bot_unavailable"}}).id, 21)
    store.hand_off(queued, "bot_unavailable")

    waiting = store.conversation("rest", "waiting").id  # with the humans already: no reply is due from the bot
    store.hand_off(waiting, "human_request")
    at(store, store.add_message(waiting, "customer", "Still there?").id, 30)

    promised = store.conversation("rest", "promised").id  # told a colleague will answer, but never queued
    at(store, store.add_message(promised, "customer", "Roaming?").id, 40)
    at(store, store.add_message(promised, "bot", "A colleague will answer.",
                                payload={"custom": {"kind": "handoff", "reason": "bot_unavailable"}}).id, 41)

    other = store.conversation("telegram", "answered").id  # same customer id, another channel: not ours
    store.add_message(other, "customer", "How do I pay?")
    return url


def test_the_counts_tell_lost_silent_and_queued_apart(seeded):
    turns = [
        turn("answered", "How do I pay?"),
        turn("answered", "And a refund?"),
        turn("answered", "Was this ever stored?"),  # accepted, missing: lost
        turn("answered", "Sent while the gateway was down", outcome="refused"),  # not stored, not lost
        turn("silent", "Is the internet down?", outcome="cut"),  # cut, yet stored
        turn("silent", "Hello?"),
        turn("queued", "My TV is black", kinds=("handoff", "queue_status"), reasons=("bot_unavailable",)),
        turn("waiting", "Still there?", kinds=()),
        turn("promised", "Roaming?", kinds=("handoff",), reasons=("bot_unavailable",)),
    ]
    counts = count_outcomes(seeded, turns)

    assert (counts.sent, counts.accepted) == (9, 7)
    assert dict(counts.failed) == {"refused": 1, "cut": 1}
    assert counts.stored == 7
    assert counts.lost == 1
    assert counts.failed_but_stored == 1
    assert counts.stored_unsent == 0
    assert (counts.silent_messages, counts.silent_conversations) == (2, 1)
    assert counts.queued_bot_unavailable == 1
    assert counts.promised_not_queued == 1
    assert counts.longest_wait == pytest.approx(41.0)
    assert counts.slow_replies == 1
    assert counts.pending_in_journal == 2


def test_a_stored_message_no_turn_sent_is_counted_and_an_accepted_one_is_matched_once(seeded):
    counts = count_outcomes(seeded, [turn("answered", "How do I pay?"), turn("answered", "How do I pay?")])

    assert counts.lost == 1  # one stored copy answers for one accepted send only
    assert counts.stored == 2  # only the conversations of the turns' senders, and of the REST channel
    assert counts.stored_unsent == 1
    assert (counts.silent_messages, counts.queued_bot_unavailable, counts.pending_in_journal) == (0, 0, 0)


def test_faq_answers_are_back_at_the_first_answer_after_which_nothing_failed():
    fault = 100.0
    turns = [
        turn("a", "before", at=90),
        turn("a", "during", at=101, kinds=("handoff",), reasons=("bot_unavailable",)),
        turn("b", "a lucky one", at=104),
        turn("c", "refused", outcome="refused", at=106, kinds=()),
        turn("b", "clarified", at=110, kinds=("clarify",)),
        turn("a", "back", at=112),
        turn("c", "answered", at=115),
    ]
    assert answers_again_after(turns, fault) == pytest.approx(12.5)
    assert answers_again_after(turns[:4], fault) is None
    assert answers_again_after([turn("a", "silent", at=120, kinds=())], fault) is None
