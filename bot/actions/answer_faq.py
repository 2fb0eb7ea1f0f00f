from typing import Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.conversation import Conversation, just_answered
from bot.actions.knowledge_client import knowledge_client
from replies.composer import composer_label
from signals.person_request import asks_for_person
from knowledge.decision import ANSWER, CLARIFY, HANDOFF, HUMAN_REQUEST, LOW_CONFIDENCE, RUDE, UPSET, Decision
from knowledge.model import Entry
from knowledge.retriever import RetrievalResult
from knowledge.text import is_pleasantry_only, strip_pleasantries

NONE_OF_THESE = "none"
KNOWLEDGE_OVER_SMALLTALK_WORDS = 4  # "ok thanks", "no" and "bye then" stay small talk whatever the knowledge says


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
    metadata = {"kind": "answer", "faq_id": entry.id, "score": round(float(score), 4), "language": language}
    if news_id:
        metadata["news_id"] = news_id
    conv.say("\n\n".join(p for p in (text, news, follow_up.text) if p), metadata)
    conv.set("last_faq_id", entry.id)


class AnswerFaq(Action):
    """Answers from the knowledge base, asks which entry was meant, or hands off: as knowledge.decision decides."""

    def name(self) -> Text:
        return "action_answer_faq"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        conv = Conversation(dispatcher, tracker)
        client = knowledge_client()
        chosen = next(tracker.get_latest_entity_values("faq_id"), None)
        if chosen == NONE_OF_THESE:
            conv.hand_off(LOW_CONFIDENCE)
            return conv.finish()
        entry = client.entry(chosen) if chosen else None
        if entry is not None:
            if entry.handoff:
                conv.hand_off("topic_policy")
            else:
                send_answer(conv, entry, 1.0)
            conv.set("offered_faq_ids", [])
            return conv.finish()

        if is_pleasantry_only(conv.text) and conv.mood()["label"] == "calm" and not asks_for_person(conv.text):
            reply = conv.phrase("greet", with_name=True)
            conv.say(reply.text, {"kind": "smalltalk", "intent": "greet", "language": conv.language})
            return conv.finish()

        result, decision = consult(conv, tracker)
        carry_out(conv, result, decision)
        return conv.finish()


def consult(conv: Conversation, tracker: Tracker) -> Tuple[RetrievalResult, Decision]:
    """What knowledge.decision decides about this message, with the evidence the conversation has."""
    return knowledge_client().consult(conv.text, mood=conv.mood()["label"], just_answered=just_answered(tracker),
                                      wants_person=asks_for_person(conv.text), vector=conv.vector)


def carry_out(conv: Conversation, result: RetrievalResult, decision: Decision) -> None:
    """Answer, ask which entry was meant, or hand off, as decided."""
    alternatives = [c.entry_id for c in result.candidates if c.entry_id != decision.entry_id][:2]
    if decision.action == ANSWER:
        send_answer(conv, knowledge_client().entry(decision.entry_id), decision.score)
    elif decision.action == CLARIFY:
        reply = conv.phrase("clarify")
        conv.say(
            reply.text,
            {"kind": "clarify", "options": decision.options, "language": conv.language},
            buttons=faq_buttons(conv, decision.options),
        )
        alternatives = []
    else:
        conv.hand_off(decision.reason, decision.considered)
    conv.set("last_question", conv.text)
    conv.set("offered_faq_ids", alternatives)


def knowledge_takes_over(conv: Conversation, tracker: Tracker) -> bool:
    """For a message Rasa took for small talk: when the knowledge is sure of an answer, or the customer is upset,
    rude or asks for a person, that wins ("Tere! Kuidas kaarti blokeerida?" is a question, "you stupid bot, get me
    a human" a request for a person). Carries the decision out and says whether it did."""
    if conv.text.startswith("/"):
        return False
    long_enough = len(strip_pleasantries(conv.text).split()) >= KNOWLEDGE_OVER_SMALLTALK_WORDS
    if not long_enough and conv.mood()["label"] == "calm" and not asks_for_person(conv.text):
        return False
    result, decision = consult(conv, tracker)
    signal = decision.action == HANDOFF and decision.reason in (HUMAN_REQUEST, RUDE, UPSET)
    sure = decision.action == ANSWER and long_enough
    if signal or sure:
        carry_out(conv, result, decision)
        return True
    return False
