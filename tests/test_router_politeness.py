"""The politeness rules on what the router says itself, checked on stored transcripts (rules.turns_from_transcript) in
et, ru and en: rule 6, later (an unhappy customer hears the outcome when the colleague closes the conversation), and
rule 2 for "was this helpful?" (thanks for the feedback, in the customer's register)."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest

import politeness_rules as rules
from handoff.hours import BusinessHours
from handoff.router import ConversationRouter


class UpsetBot:
    """Hands every message off as upset, in the language and register the test gives."""

    def __init__(self, language: str, register: str):
        self.language, self.register = language, register

    async def send(self, sender_id: str, text: str, metadata: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
        return [{"text": "Sorry, a colleague takes over.", "custom": {
            "kind": "handoff", "reason": "upset", "language": self.language, "register": self.register,
            "sentiment": {"label": "upset", "signals": []}, "considered": [], "question": text}}]

    async def close(self) -> None:
        pass


CASES = [
    ("en", "formal", "Internet down for the third day!!!", "Our colleague Mari writes"),
    ("ru", "informal", "третий день без интернета, сколько можно?!", "по твоему обращению"),
    ("ru", "formal", "третий день без интернета, сколько можно?!", "по вашему обращению"),
    ("et", "informal", "juba kolmas päev ilma internetita!!!", "sinu"),
    ("et", "formal", "juba kolmas päev ilma internetita!!!", "teie"),
]


@pytest.mark.parametrize("language, register, complaint, address", CASES)
async def test_the_outcome_reaches_an_unhappy_customer_before_the_rating(store, language, register, complaint, address):
    router = ConversationRouter(store, UpsetBot(language, register), BusinessHours.parse("always"))
    mari = store.agents.create("mari", "Mari", "correct horse")
    await router.receive("webchat", "unhappy", complaint)
    conversation = store.find("webchat", "unhappy")
    await router.claim(conversation.id, mari)
    await router.close(conversation.id, mari, "Fibre repaired at the street cabinet, speed checked", tell_customer=True)
    transcript = store.messages(conversation.id)
    kinds = [(m.payload.get("custom") or {}).get("kind") for m in transcript if m.role == "bot"]
    assert kinds[-2:] == ["outcome", "rating_request"]
    outcome = [m for m in transcript if (m.payload.get("custom") or {}).get("kind") == "outcome"][0]
    assert "Fibre repaired at the street cabinet" in outcome.text and "Mari" in outcome.text
    assert address in outcome.text, f"not in the customer's language and register: {outcome.text!r}"
    turns = rules.turns_from_transcript(transcript)
    assert rules.outcome_reported(turns) == []


async def test_closing_on_an_unhappy_customer_without_the_outcome_is_caught(store):
    router = ConversationRouter(store, UpsetBot("en", "formal"), BusinessHours.parse("always"))
    mari = store.agents.create("mari", "Mari", "correct horse")
    await router.receive("webchat", "unhappy", "third day without internet!!!")
    conversation = store.find("webchat", "unhappy")
    await router.claim(conversation.id, mari)
    await router.close(conversation.id, mari, "internal: duplicate ticket")
    assert rules.outcome_reported(rules.turns_from_transcript(store.messages(conversation.id))) == [
        "an unhappy customer's conversation was closed without telling them the outcome"]
    await router.receive("webchat", "unhappy", "still broken!!!")
    conversation = store.find("webchat", "unhappy")
    await router.claim(conversation.id, mari)
    await router.agent_reply(conversation.id, mari, "The technician comes tomorrow at 10.")
    await router.close(conversation.id, mari, None)
    problems = rules.outcome_reported(rules.turns_from_transcript(store.messages(conversation.id)))
    assert len(problems) == 1, "the second stay had a reply from the colleague, the first did not"


class AnsweringBot:
    """Answers every question with a knowledge entry, in the language and register the test gives."""

    def __init__(self, language: str, register: str):
        self.language, self.register = language, register

    async def send(self, sender_id: str, text: str, metadata: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
        return [{"text": f"answer to {text}", "custom": {"kind": "answer", "faq_id": "billing-payment-methods",
                                                          "language": self.language, "register": self.register}}]

    async def close(self) -> None:
        pass


FEEDBACK_CASES = [
    ("en", "formal", ["how do I pay?", "and by card?"]),
    ("ru", "informal", ["подскажи, как оплатить счёт?", "а картой можешь подсказать?"]),
    ("ru", "formal", ["подскажите, как оплатить счёт?", "а картой можете подсказать?"]),
    ("et", "informal", ["ütle palun, kuidas arvet maksta?", "aga kaardiga saad öelda?"]),
    ("et", "formal", ["öelge palun, kuidas arvet maksta?", "aga kaardiga oskate öelda?"]),
]


@pytest.mark.parametrize("language, register, questions", FEEDBACK_CASES)
async def test_rule_2_feedback_is_thanked_in_the_customers_register(store, language, register, questions):
    router = ConversationRouter(store, AnsweringBot(language, register), BusinessHours.parse("always"))
    first = (await router.receive("webchat", "thanked", questions[0]))[0]
    second = (await router.receive("webchat", "thanked", questions[1]))[0]
    await router.feedback("webchat", "thanked", second.id, True)
    await router.feedback("webchat", "thanked", first.id, False)  # an older answer: noted, with thanks
    turns = rules.turns_from_transcript(store.messages(store.find("webchat", "thanked").id))
    thanks = [r for t in turns for r in t.replies if r["custom"].get("kind") == "feedback_thanks"]
    assert len(thanks) == 2 and thanks[0]["text"] != thanks[1]["text"]
    assert rules.thanks_where_it_fits(turns) == []
    assert rules.register_mirrored(turns, language) == []
    assert rules.no_repeated_wording(turns) == []
