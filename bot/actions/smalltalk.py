from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.answer_faq import answer_the_question, gather, intent_of, say_smalltalk
from bot.actions.conversation import Conversation
from policy.decide import Act, Turn, decide

SMALLTALK_INTENTS = ("greet", "thanks", "goodbye", "bot_challenge", "affirm", "deny", "hesitate")
RESETS_FAILURES = ("thanks", "affirm")


class Smalltalk(Action):
    """Greetings, thanks, goodbyes, yes/no, hesitation and 'are you a bot?', in the customer's language."""

    def name(self) -> Text:
        return "action_smalltalk"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        conv = Conversation(dispatcher, tracker)
        intent = intent_of(tracker)
        if intent not in SMALLTALK_INTENTS:
            intent = "greet"
        if intent == "hesitate" and not any(e.get("event") == "bot" for e in tracker.events):
            intent = "greet"  # nothing was offered yet to hesitate about: the first message is a greeting
        evidence = gather(conv, tracker, Turn.SMALLTALK)
        choice = decide(evidence)
        if choice.act == Act.CONSULT:  # a question after a greeting, or "stupid bot, get me a person"
            choice = answer_the_question(conv, tracker, evidence)
        if choice.act != Act.SMALLTALK:
            return conv.finish()
        say_smalltalk(conv, intent)
        if intent in RESETS_FAILURES:
            conv.set("unhelpful_count", 0.0)
        return conv.finish()
