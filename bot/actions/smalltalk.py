from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.answer_faq import knowledge_takes_over
from bot.actions.conversation import Conversation

SMALLTALK_INTENTS = ("greet", "thanks", "goodbye", "bot_challenge", "affirm", "deny", "hesitate")
RESETS_FAILURES = ("thanks", "affirm")


class Smalltalk(Action):
    """Greetings, thanks, goodbyes, yes/no, hesitation and 'are you a bot?', in the customer's language."""

    def name(self) -> Text:
        return "action_smalltalk"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        conv = Conversation(dispatcher, tracker)
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if intent not in SMALLTALK_INTENTS:
            intent = "greet"
        if intent == "hesitate" and not any(e.get("event") == "bot" for e in tracker.events):
            intent = "greet"  # nothing was offered yet to hesitate about: the first message is a greeting
        if knowledge_takes_over(conv, tracker):  # a question after a greeting, or "stupid bot, get me a person"
            return conv.finish()
        reply = conv.phrase(intent, with_name=intent == "greet")
        conv.say(reply.text, {"kind": "smalltalk", "intent": intent, "language": conv.language})
        if intent in RESETS_FAILURES:
            conv.set("unhelpful_count", 0.0)
        return conv.finish()
