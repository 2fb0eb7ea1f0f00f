from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.answer_faq import carry_out, intent_of
from bot.actions.conversation import Conversation
from policy.decide import Evidence, Turn, decide


class HandOff(Action):
    """The customer asks for a person, or is rude: a colleague takes over, for the reason policy.decide gives."""

    def name(self) -> Text:
        return "action_hand_off"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        conv = Conversation(dispatcher, tracker)
        carry_out(conv, decide(Evidence(Turn.PERSON, intent=intent_of(tracker))))
        return conv.finish()
