from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.conversation import Conversation

REASON_BY_INTENT = {"request_human": "human_request", "insult": "rude"}


class HandOff(Action):
    """The customer asks for a person, or is rude: a colleague takes over."""

    def name(self) -> Text:
        return "action_hand_off"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        conv = Conversation(dispatcher, tracker)
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        conv.hand_off(REASON_BY_INTENT.get(intent, "human_request"))
        return conv.finish()
