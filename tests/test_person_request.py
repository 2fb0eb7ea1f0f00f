"""Requests for a person recognised by signals/data/person_request.yml, and ordinary questions left alone."""
import pytest

from signals.person_request import asks_for_person
from knowledge.loader import load_knowledge
from supportbot.settings import PROJECT_ROOT


@pytest.mark.parametrize("text", [
    "I want to talk to a human", "operator please", "can someone call me back?", "is there an agent available?",
    "Соедините с оператором", "дайте живого человека", "перезвоните мне, пожалуйста", "mozhno s operatorom?",
    "Tahan inimesega rääkida", "klienditeenindaja palun", "palun helistage mulle tagasi", "kas mõni teenindaja on vaba?",
])
def test_requests_for_a_person(text):
    assert asks_for_person(text)


@pytest.mark.parametrize("text", [
    "Can I transfer my contract to someone else?", "are you a real person?", "how do I give someone access to my account?",
    "хочу перенести номер от другого оператора", "ты живой человек?", "Можно ли переоформить договор на другого человека?",
    "kas ma räägin inimesega?", "kuidas lisada teine inimene lepingusse?", "i need a technician to come over",
])
def test_mentions_of_a_person_that_are_not_requests(text):
    assert not asks_for_person(text)


def test_no_question_of_the_demo_knowledge_is_a_request_for_a_person():
    kb = load_knowledge(PROJECT_ROOT / "knowledge" / "demo")
    flagged = [q for e in kb.entries for qs in e.questions.values() for q in qs if asks_for_person(q)]
    assert flagged == []
