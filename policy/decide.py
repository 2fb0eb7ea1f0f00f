"""Every choice the bot makes about a message: answer an entry, ask which entry was meant, offer the other
candidates, ask to rephrase, greet, small talk, or hand off to a person and why. The actions fill an Evidence,
call decide() and carry out the Choice; the knowledge's verdict is one piece of the evidence, consulted only
when the choice needs it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from knowledge import decision as verdicts
from knowledge.decision import Verdict
from knowledge.text import strip_pleasantries
from protocol.moods import Mood
from protocol.reasons import Reason

KNOWLEDGE_OVER_SMALLTALK_WORDS = 4  # "ok thanks", "no" and "bye then" stay small talk whatever the knowledge says
FAILURES_BEFORE_HANDOFF = 2
REASON_BY_INTENT = {"request_human": Reason.HUMAN_REQUEST, "insult": Reason.RUDE}
REASON_BY_MOOD = {Mood.UPSET: Reason.UPSET, Mood.RUDE: Reason.RUDE}
REASON_BY_VERDICT = {verdicts.OUT_OF_SCOPE: Reason.OUT_OF_SCOPE, verdicts.LOW_CONFIDENCE: Reason.LOW_CONFIDENCE,
                     verdicts.TOPIC_POLICY: Reason.TOPIC_POLICY, verdicts.REPEATED_FAILURE: Reason.REPEATED_FAILURE}


class Turn:
    """What Rasa's dialogue made of the message: which action asks."""
    QUESTION = "question"  # action_answer_faq: a question, a pressed entry button, or anything NLU was unsure of
    SMALLTALK = "smalltalk"  # action_smalltalk
    DIDNT_HELP = "didnt_help"  # action_didnt_help
    PERSON = "person"  # action_hand_off: a request for a person, or an insult


class Act:
    """What a Choice tells the action to do."""
    ANSWER = "answer"  # the entry's answer
    CLARIFY = "clarify"  # "which of these did you mean?"
    OFFER_ALTERNATIVES = "offer_alternatives"  # after "that didn't help": the other candidates of the last answer
    REPHRASE = "rephrase"  # after "that didn't help", with nothing else to offer
    GREET = "greet"
    SMALLTALK = "smalltalk"  # the small-talk reply to the message's intent
    HAND_OFF = "hand_off"
    CONSULT = "consult"  # the choice needs the knowledge's verdict: get it and decide again


@dataclass(frozen=True)
class Evidence:
    turn: str
    intent: Optional[str] = None
    mood: str = Mood.CALM
    mood_has_signals: bool = False  # the mood rests on explicit cues (an insult, capitals, "!!!"), not the model alone
    wants_person: bool = False  # the words ask for a person (signals.person_request)
    verdict: Optional[Verdict] = None  # the knowledge's, once consulted
    chosen_entry: Optional[str] = None  # an existing entry the customer picked from the buttons
    chosen_entry_hands_off: bool = False  # people handle its topic (`handoff: true`)
    chose_none_of_these: bool = False
    failures: int = 0  # answers in a row that did not help, this message included
    alternatives: Tuple[str, ...] = ()  # the other candidates of the last answer, not offered yet
    offered_before: bool = False  # the bot answered or offered entries before: something that could have failed
    long_enough: bool = False  # words enough, besides pleasantries, for the knowledge to win over small talk
    pleasantry_only: bool = False  # "Tere, mina olen Mari": nothing to look up
    is_payload: bool = False  # a button's payload ("/greet"), not typed words


@dataclass(frozen=True)
class Choice:
    act: str
    entry_id: Optional[str] = None  # the entry to answer with
    score: float = 0.0  # the answer's retrieval score; 1.0 for a pressed button
    options: Tuple[str, ...] = ()  # the entries offered (clarify, alternatives)
    reason: Optional[str] = None  # a protocol.reasons.Reason, when handing off
    considered: Tuple[Dict[str, float], ...] = ()  # what the knowledge considered, for the agent's handoff packet


CONSULT = Choice(Act.CONSULT)
SMALLTALK = Choice(Act.SMALLTALK)


def long_enough_for_knowledge(text: str) -> bool:
    return len(strip_pleasantries(text).split()) >= KNOWLEDGE_OVER_SMALLTALK_WORDS


def decide(evidence: Evidence) -> Choice:
    if evidence.turn == Turn.PERSON:
        return _hand_off(REASON_BY_INTENT.get(evidence.intent, Reason.HUMAN_REQUEST))
    if evidence.turn == Turn.SMALLTALK:
        return _small_talk_or_knowledge(evidence)
    if evidence.turn == Turn.DIDNT_HELP:
        return _after_didnt_help(evidence)
    return _question(evidence)


def _hand_off(reason: str, verdict: Optional[Verdict] = None) -> Choice:
    return Choice(Act.HAND_OFF, reason=reason, considered=tuple(verdict.considered) if verdict else ())


def _question(e: Evidence) -> Choice:
    if e.chose_none_of_these:
        return _hand_off(Reason.LOW_CONFIDENCE)
    if e.chosen_entry:
        return _hand_off(Reason.TOPIC_POLICY) if e.chosen_entry_hands_off else Choice(Act.ANSWER, e.chosen_entry, 1.0)
    if e.pleasantry_only and e.mood == Mood.CALM and not e.wants_person:
        return Choice(Act.GREET)
    return _knowledge_or_person(e)


def _knowledge_or_person(e: Evidence) -> Choice:
    """The knowledge's verdict, unless an upset or rude customer, or a request for a person, comes first."""
    verdict = e.verdict
    if verdict is None:
        return CONSULT
    if e.mood in REASON_BY_MOOD:
        return _hand_off(REASON_BY_MOOD[e.mood], verdict)
    if e.wants_person:
        return _hand_off(Reason.HUMAN_REQUEST, verdict)
    if verdict.name == verdicts.ANSWER:
        return Choice(Act.ANSWER, verdict.entry_id, verdict.score)
    if verdict.name == verdicts.CLARIFY:
        return Choice(Act.CLARIFY, options=tuple(verdict.options))
    return _hand_off(REASON_BY_VERDICT[verdict.name], verdict)


def _small_talk_or_knowledge(e: Evidence) -> Choice:
    """For a message Rasa took for small talk: the customer being upset or rude, or asking for a person, wins, and
    so does a sure answer to a longer message ("Tere! Kuidas kaarti blokeerida?" is a question, "you stupid bot,
    get me a human" a request for a person)."""
    if e.is_payload:
        return SMALLTALK
    if not e.long_enough and e.mood == Mood.CALM and not e.wants_person:
        return SMALLTALK
    if e.verdict is None:
        return CONSULT
    signal = e.mood in REASON_BY_MOOD or e.wants_person
    sure = e.long_enough and e.verdict.name == verdicts.ANSWER
    return _knowledge_or_person(e) if signal or sure else SMALLTALK


def _after_didnt_help(e: Evidence) -> Choice:
    """Offer the other candidates, and after the second failure hand off. Nothing offered yet that could have failed
    and more words than "didn't help" ("ei saa sisse logida", "my card doesn't work abroad"): a question."""
    if not e.is_payload and not e.offered_before and e.long_enough:
        return _knowledge_or_person(e)
    # "that didn't help" is dissatisfaction by definition: only insults or explicit anger skip the alternatives
    if e.mood == Mood.RUDE or (e.mood == Mood.UPSET and e.mood_has_signals):
        return _hand_off(REASON_BY_MOOD[e.mood])
    if e.wants_person:
        return _hand_off(Reason.HUMAN_REQUEST)
    if e.failures >= FAILURES_BEFORE_HANDOFF:
        return _hand_off(Reason.REPEATED_FAILURE)
    if e.alternatives:
        return Choice(Act.OFFER_ALTERNATIVES, options=e.alternatives)
    return Choice(Act.REPHRASE)
