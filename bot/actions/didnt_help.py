from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.answer_faq import KNOWLEDGE_OVER_SMALLTALK_WORDS, carry_out, consult, faq_buttons
from bot.actions.conversation import Conversation, last_bot_kind
from signals.person_request import asks_for_person
from knowledge.text import strip_pleasantries

FAILURES_BEFORE_HANDOFF = 2


def is_a_question_not_feedback(conv: Conversation, tracker: Tracker) -> bool:
    """Nothing was offered that could have failed, and the message says more than "didn't help": "ei saa sisse
    logida" or "my card doesn't work abroad" are questions for the knowledge."""
    offered = last_bot_kind(tracker) in ("answer", "clarify") or tracker.get_slot("last_faq_id") \
        or tracker.get_slot("offered_faq_ids")
    words = len(strip_pleasantries(conv.text).split())
    return not conv.text.startswith("/") and not offered and words >= KNOWLEDGE_OVER_SMALLTALK_WORDS


class DidntHelp(Action):
    """An answer did not help: offer the next candidates, and after the second failure hand off."""

    def name(self) -> Text:
        return "action_didnt_help"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        conv = Conversation(dispatcher, tracker)
        if is_a_question_not_feedback(conv, tracker):
            carry_out(conv, *consult(conv, tracker))
            return conv.finish()
        failures = int(tracker.get_slot("unhelpful_count") or 0) + 1
        alternatives = list(tracker.get_slot("offered_faq_ids") or [])
        mood = conv.mood()
        # "that didn't help" is dissatisfaction by definition: only insults or explicit anger skip the alternatives
        if mood["label"] == "rude" or (mood["label"] == "upset" and mood["signals"]):
            conv.hand_off(mood["label"])
            failures = 0
        elif asks_for_person(conv.text):
            conv.hand_off("human_request")
            failures = 0
        elif failures >= FAILURES_BEFORE_HANDOFF:
            conv.hand_off("repeated_failure")
            failures = 0
        elif alternatives:
            reply = conv.phrase("unhelpful_alternatives")
            conv.say(
                reply.text,
                {"kind": "clarify", "options": alternatives, "language": conv.language},
                buttons=faq_buttons(conv, alternatives),
            )
        else:
            reply = conv.phrase("unhelpful_rephrase")
            conv.say(reply.text, {"kind": "clarify", "options": [], "language": conv.language})
        conv.set("unhelpful_count", float(failures))
        conv.set("offered_faq_ids", [])
        return conv.finish()
