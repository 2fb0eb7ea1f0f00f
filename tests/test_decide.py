"""policy.decide as a plain function: every choice the bot makes about a message, from the evidence the actions
gather, with no Rasa, knowledge base or sentiment model behind it."""
from __future__ import annotations

import ast
from dataclasses import replace
from pathlib import Path

import pytest

from knowledge import decision as verdicts
from knowledge.decision import Verdict
from policy.decide import Act, Choice, Evidence, Turn, decide, long_enough_for_knowledge
from protocol.moods import Mood
from protocol.reasons import Reason

ROOT = Path(__file__).resolve().parent.parent
CONSIDERED = [{"faq_id": "wifi-password", "score": 0.81}, {"faq_id": "refund-policy", "score": 0.4}]


def verdict(name: str, entry_id: str = "wifi-password", options=()) -> Verdict:
    return Verdict(name, entry_id, 0.9, 0.81, "en", list(options), CONSIDERED)


ANSWER = verdict(verdicts.ANSWER)
QUESTION = Evidence(Turn.QUESTION, intent="faq", long_enough=True)


def test_long_enough_counts_the_words_besides_pleasantries():
    assert long_enough_for_knowledge("Hi, how do I pay my bill")
    assert not long_enough_for_knowledge("Hello, how are you"), "four words, but the greeting does not count"
    assert not long_enough_for_knowledge("ok thanks")


# --- action_hand_off -------------------------------------------------------------------------------


@pytest.mark.parametrize("intent, reason", [("request_human", Reason.HUMAN_REQUEST), ("insult", Reason.RUDE),
                                            ("greet", Reason.HUMAN_REQUEST), (None, Reason.HUMAN_REQUEST)])
def test_a_request_for_a_person_or_an_insult_hands_off_by_its_intent(intent, reason):
    assert decide(Evidence(Turn.PERSON, intent=intent)) == Choice(Act.HAND_OFF, reason=reason)


# --- a question ------------------------------------------------------------------------------------


def test_none_of_these_hands_off_low_confidence_before_anything_else():
    choice = decide(replace(QUESTION, chose_none_of_these=True, mood=Mood.RUDE, verdict=ANSWER))
    assert choice == Choice(Act.HAND_OFF, reason=Reason.LOW_CONFIDENCE)


def test_a_pressed_entry_is_answered_whatever_the_knowledge_would_say():
    choice = decide(replace(QUESTION, chosen_entry="refund-policy", verdict=verdict(verdicts.LOW_CONFIDENCE)))
    assert choice == Choice(Act.ANSWER, "refund-policy", 1.0)


def test_a_pressed_entry_that_people_handle_hands_off_by_topic_policy():
    choice = decide(replace(QUESTION, chosen_entry="billing-dispute", chosen_entry_hands_off=True))
    assert choice == Choice(Act.HAND_OFF, reason=Reason.TOPIC_POLICY)


def test_a_calm_pleasantry_is_greeted_without_the_knowledge():
    assert decide(replace(QUESTION, pleasantry_only=True, long_enough=False)) == Choice(Act.GREET)


@pytest.mark.parametrize("signal", [{"mood": Mood.UPSET}, {"wants_person": True}])
def test_a_pleasantry_with_a_signal_goes_to_the_knowledge_and_the_signal_wins(signal):
    evidence = replace(QUESTION, pleasantry_only=True, **signal)
    assert decide(evidence).act == Act.CONSULT
    assert decide(replace(evidence, verdict=ANSWER)).act == Act.HAND_OFF


def test_a_question_needs_the_knowledge():
    assert decide(QUESTION) == Choice(Act.CONSULT)


def test_the_knowledge_answers_with_its_entry_and_score():
    assert decide(replace(QUESTION, verdict=ANSWER)) == Choice(Act.ANSWER, "wifi-password", 0.81)


def test_the_knowledge_clarifies_with_its_options():
    clarify = verdict(verdicts.CLARIFY, options=("wifi-password", "refund-policy"))
    choice = decide(replace(QUESTION, verdict=clarify))
    assert choice == Choice(Act.CLARIFY, options=("wifi-password", "refund-policy"))


@pytest.mark.parametrize("name, reason", [(verdicts.OUT_OF_SCOPE, Reason.OUT_OF_SCOPE),
                                          (verdicts.LOW_CONFIDENCE, Reason.LOW_CONFIDENCE),
                                          (verdicts.TOPIC_POLICY, Reason.TOPIC_POLICY),
                                          (verdicts.REPEATED_FAILURE, Reason.REPEATED_FAILURE)])
def test_every_other_verdict_hands_off_with_its_reason_and_what_was_considered(name, reason):
    choice = decide(replace(QUESTION, verdict=verdict(name)))
    assert choice == Choice(Act.HAND_OFF, reason=reason, considered=tuple(CONSIDERED))


@pytest.mark.parametrize("mood, reason", [(Mood.UPSET, Reason.UPSET), (Mood.RUDE, Reason.RUDE)])
def test_an_upset_or_rude_customer_goes_to_a_person_even_with_a_confident_answer(mood, reason):
    choice = decide(replace(QUESTION, verdict=ANSWER, mood=mood, wants_person=True))
    assert choice == Choice(Act.HAND_OFF, reason=reason, considered=tuple(CONSIDERED)), "the mood comes first"


def test_a_request_for_a_person_wins_over_a_confident_answer():
    choice = decide(replace(QUESTION, verdict=ANSWER, wants_person=True))
    assert choice == Choice(Act.HAND_OFF, reason=Reason.HUMAN_REQUEST, considered=tuple(CONSIDERED))


def test_a_calm_question_with_a_confident_answer_is_answered():
    assert decide(replace(QUESTION, verdict=ANSWER, mood=Mood.CALM)).act == Act.ANSWER


# --- what Rasa took for small talk -----------------------------------------------------------------


SMALLTALK = Evidence(Turn.SMALLTALK, intent="greet")


def test_a_button_is_small_talk_whatever_it_says():
    assert decide(replace(SMALLTALK, is_payload=True, long_enough=True, wants_person=True)).act == Act.SMALLTALK


def test_short_calm_small_talk_stays_small_talk_without_the_knowledge():
    assert decide(SMALLTALK) == Choice(Act.SMALLTALK)


@pytest.mark.parametrize("signal, reason", [({"mood": Mood.UPSET}, Reason.UPSET), ({"mood": Mood.RUDE}, Reason.RUDE),
                                            ({"wants_person": True}, Reason.HUMAN_REQUEST)])
def test_short_small_talk_with_a_signal_hands_off(signal, reason):
    evidence = replace(SMALLTALK, **signal)
    assert decide(evidence).act == Act.CONSULT
    low = verdict(verdicts.LOW_CONFIDENCE)
    assert decide(replace(evidence, verdict=low)) == Choice(Act.HAND_OFF, reason=reason, considered=tuple(CONSIDERED))


def test_a_longer_message_is_answered_when_the_knowledge_is_sure():
    evidence = replace(SMALLTALK, long_enough=True)
    assert decide(evidence).act == Act.CONSULT
    assert decide(replace(evidence, verdict=ANSWER)) == Choice(Act.ANSWER, "wifi-password", 0.81)


def test_a_short_message_is_small_talk_even_when_the_knowledge_is_sure():
    assert decide(replace(SMALLTALK, wants_person=False, verdict=ANSWER)).act == Act.SMALLTALK


@pytest.mark.parametrize("name", [verdicts.CLARIFY, verdicts.LOW_CONFIDENCE, verdicts.OUT_OF_SCOPE,
                                  verdicts.TOPIC_POLICY, verdicts.REPEATED_FAILURE])
def test_a_longer_message_the_knowledge_is_not_sure_of_stays_small_talk(name):
    assert decide(replace(SMALLTALK, long_enough=True, verdict=verdict(name))).act == Act.SMALLTALK


# --- "that didn't help" ----------------------------------------------------------------------------


FEEDBACK = Evidence(Turn.DIDNT_HELP, intent="didnt_help", failures=1, offered_before=True,
                    alternatives=("refund-policy", "invoice-due-date"))


def test_the_first_failure_offers_the_alternatives():
    assert decide(FEEDBACK) == Choice(Act.OFFER_ALTERNATIVES, options=("refund-policy", "invoice-due-date"))


def test_the_first_failure_without_alternatives_asks_to_rephrase():
    assert decide(replace(FEEDBACK, alternatives=())) == Choice(Act.REPHRASE)


def test_the_second_failure_hands_off_repeated_failure():
    assert decide(replace(FEEDBACK, failures=2)) == Choice(Act.HAND_OFF, reason=Reason.REPEATED_FAILURE)


def test_feedback_that_is_upset_without_explicit_cues_still_gets_the_alternatives():
    assert decide(replace(FEEDBACK, mood=Mood.UPSET)).act == Act.OFFER_ALTERNATIVES


@pytest.mark.parametrize("mood, cues, reason", [(Mood.UPSET, True, Reason.UPSET), (Mood.RUDE, False, Reason.RUDE)])
def test_explicit_anger_or_an_insult_skips_the_alternatives(mood, cues, reason):
    choice = decide(replace(FEEDBACK, mood=mood, mood_has_signals=cues, wants_person=True))
    assert choice == Choice(Act.HAND_OFF, reason=reason), "the mood comes before the request for a person"


def test_feedback_asking_for_a_person_hands_off():
    assert decide(replace(FEEDBACK, wants_person=True)) == Choice(Act.HAND_OFF, reason=Reason.HUMAN_REQUEST)


def test_with_nothing_offered_a_longer_message_is_a_question_for_the_knowledge():
    question = replace(FEEDBACK, offered_before=False, long_enough=True)
    assert decide(question).act == Act.CONSULT
    assert decide(replace(question, verdict=ANSWER)) == Choice(Act.ANSWER, "wifi-password", 0.81)
    upset = decide(replace(question, verdict=ANSWER, mood=Mood.UPSET))
    assert upset.reason == Reason.UPSET, "as a question, any upset mood hands off"


@pytest.mark.parametrize("change", [{"offered_before": True}, {"long_enough": False}, {"is_payload": True}])
def test_after_an_offer_a_short_message_or_a_button_it_is_feedback(change):
    evidence = replace(FEEDBACK, **{"offered_before": False, "long_enough": True, **change})
    assert decide(evidence).act == Act.OFFER_ALTERNATIVES


# --- where it sits ---------------------------------------------------------------------------------


def test_policy_imports_only_protocol_and_knowledge():
    project = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    for module in (ROOT / "policy").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            for name in names:
                top = name.split(".")[0]
                assert top in ("policy", "protocol", "knowledge") or top not in project, f"{module.name} imports {name}"
