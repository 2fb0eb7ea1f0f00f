from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.answer_faq import answer_the_question, carry_out, gather
from bot.actions.conversation import Conversation, last_bot_kind
from policy.decide import Act, Turn, decide
from protocol.kinds import Kind


def offered_before(tracker: Tracker) -> bool:
    """Whether the bot answered or offered entries before: something that could have failed."""
    return bool(last_bot_kind(tracker) in (Kind.ANSWER, Kind.CLARIFY) or tracker.get_slot("last_faq_id")
                or tracker.get_slot("offered_faq_ids"))


class DidntHelp(Action):
    """An answer did not help: offer the next candidates, and after the second failure hand off (policy.decide).
    With nothing offered before, a longer message is a question for the knowledge."""

    def name(self) -> Text:
        return "action_didnt_help"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        conv = Conversation(dispatcher, tracker)
        evidence = gather(conv, tracker, Turn.DIDNT_HELP, failures=int(tracker.get_slot("unhelpful_count") or 0) + 1,
                          alternatives=tuple(tracker.get_slot("offered_faq_ids") or []),
                          offered_before=offered_before(tracker))
        choice = decide(evidence)
        if choice.act == Act.CONSULT:
            answer_the_question(conv, tracker, evidence)
            return conv.finish()
        carry_out(conv, choice)
        conv.set("unhelpful_count", 0.0 if choice.act == Act.HAND_OFF else float(evidence.failures))
        conv.set("offered_faq_ids", [])
        return conv.finish()
