from dataclasses import replace
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.conversation import Conversation, just_answered
from bot.actions.knowledge_client import knowledge_client
from policy.decide import Act, Choice, Evidence, Turn, decide, long_enough_for_knowledge
from protocol.kinds import Kind
from replies.composer import composer_label
from signals.person_request import asks_for_person
from knowledge.decision import Verdict
from knowledge.model import Entry
from knowledge.retriever import RetrievalResult
from knowledge.text import is_pleasantry_only

NONE_OF_THESE = "none"


def faq_buttons(conv: Conversation, entry_ids: List[str]) -> List[Dict[str, str]]:
    client = knowledge_client()
    buttons = []
    for entry_id in entry_ids:
        entry = client.entry(entry_id)
        if entry is not None:
            buttons.append({"title": entry.title(conv.language), "payload": f'/faq{{"faq_id":"{entry_id}"}}'})
    buttons.append({"title": composer_label("none_of_these", conv.language), "payload": f'/faq{{"faq_id":"{NONE_OF_THESE}"}}'})
    return buttons


NEWS_PHRASE = "news_intro"


def news_paragraph(conv: Conversation, entry: Entry) -> Tuple[Optional[str], Optional[str]]:
    """A new feature about this entry or its topic, at most once per conversation: (paragraph, news id)."""
    if conv.has_said(NEWS_PHRASE):
        return None, None
    news = knowledge_client().news_about(entry)
    if news is None:
        return None, None
    text, _ = news.text_in(conv.language)
    return conv.phrase(NEWS_PHRASE, news=text).text, news.id


def send_answer(conv: Conversation, entry: Entry, score: float) -> None:
    """The entry's answer, then news about it if there is any, closed by an offer of more help (never the same
    wording twice in a conversation)."""
    text, language = entry.answer_in(conv.language)
    news, news_id = news_paragraph(conv, entry)
    follow_up = conv.phrase("answer_follow_up")
    metadata = {"kind": Kind.ANSWER, "faq_id": entry.id, "score": round(float(score), 4), "language": language}
    if news_id:
        metadata["news_id"] = news_id
    conv.say("\n\n".join(p for p in (text, news, follow_up.text) if p), metadata)
    conv.set("last_faq_id", entry.id)


def say_smalltalk(conv: Conversation, intent: str) -> None:
    reply = conv.phrase(intent, with_name=intent == "greet")
    conv.say(reply.text, {"kind": Kind.SMALLTALK, "intent": intent, "language": conv.language})


def offer(conv: Conversation, phrase_key: str, options: Tuple[str, ...]) -> None:
    """A choice of entries, with a button for each and one for "none of these"; without options, just the phrase."""
    reply = conv.phrase(phrase_key)
    conv.say(reply.text, {"kind": Kind.CLARIFY, "options": list(options), "language": conv.language},
             buttons=faq_buttons(conv, list(options)) if options else None)


def intent_of(tracker: Tracker) -> Optional[str]:
    return ((tracker.latest_message or {}).get("intent") or {}).get("name")


def gather(conv: Conversation, tracker: Tracker, turn: str, **more: Any) -> Evidence:
    """What the message itself says, for policy.decide; `more` is what only the asking action knows."""
    mood = conv.mood()
    return Evidence(turn, intent=intent_of(tracker), mood=mood["label"],
                    mood_has_signals=bool(mood["signals"]), wants_person=asks_for_person(conv.text),
                    long_enough=long_enough_for_knowledge(conv.text), pleasantry_only=is_pleasantry_only(conv.text),
                    is_payload=conv.text.startswith("/"), **more)


class AnswerFaq(Action):
    """Answers from the knowledge base, asks which entry was meant, greets, or hands off: as policy.decide chooses."""

    def name(self) -> Text:
        return "action_answer_faq"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        conv = Conversation(dispatcher, tracker)
        chosen = next(tracker.get_latest_entity_values("faq_id"), None)
        entry = knowledge_client().entry(chosen) if chosen and chosen != NONE_OF_THESE else None
        evidence = gather(conv, tracker, Turn.QUESTION, chose_none_of_these=chosen == NONE_OF_THESE,
                          chosen_entry=entry.id if entry else None,
                          chosen_entry_hands_off=bool(entry and entry.handoff))
        choice = decide(evidence)
        if choice.act == Act.CONSULT:
            answer_the_question(conv, tracker, evidence)
        else:
            carry_out(conv, choice)
            if entry is not None:
                conv.set("offered_faq_ids", [])
        return conv.finish()


def consult(conv: Conversation, tracker: Tracker) -> Tuple[RetrievalResult, Verdict]:
    """The knowledge's verdict on this message, knowing which entry the bot answered with right before."""
    return knowledge_client().consult(conv.text, just_answered=just_answered(tracker), vector=conv.vector)


def answer_the_question(conv: Conversation, tracker: Tracker, evidence: Evidence) -> Choice:
    """Consult the knowledge and carry out what policy.decide then chooses, remembering the question and the
    entries not chosen (for "that didn't help"). Small talk, when chosen, is left to the caller to say."""
    result, verdict = consult(conv, tracker)
    choice = decide(replace(evidence, verdict=verdict))
    if choice.act == Act.SMALLTALK:
        return choice
    carry_out(conv, choice)
    alternatives = [c.entry_id for c in result.candidates if c.entry_id != verdict.entry_id][:2]
    conv.set("last_question", conv.text)
    conv.set("offered_faq_ids", [] if choice.act == Act.CLARIFY else alternatives)
    return choice


def carry_out(conv: Conversation, choice: Choice) -> None:
    """Say what policy.decide chose; small talk about the message's intent is the small-talk action's to say."""
    if choice.act == Act.ANSWER:
        send_answer(conv, knowledge_client().entry(choice.entry_id), choice.score)
    elif choice.act == Act.CLARIFY:
        offer(conv, "clarify", choice.options)
    elif choice.act == Act.OFFER_ALTERNATIVES:
        offer(conv, "unhelpful_alternatives", choice.options)
    elif choice.act == Act.REPHRASE:
        offer(conv, "unhelpful_rephrase", ())
    elif choice.act == Act.GREET:
        say_smalltalk(conv, "greet")
    elif choice.act == Act.HAND_OFF:
        conv.hand_off(choice.reason, list(choice.considered))
    else:
        raise ValueError(f"{choice.act} is not carried out here")
