"""The contract between the bot and the gateway: the handoff packet survives the trip, and a packet from
elsewhere (an older bot, a hand-made request) is read with safe defaults instead of guesses."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from protocol.kinds import Kind
from protocol.moods import Mood, MoodReading
from protocol.packet import Considered, HandoffPacket
from protocol.reasons import KNOWLEDGE_GAPS, Reason

ROOT = Path(__file__).resolve().parent.parent


def test_a_packet_comes_back_as_it_was_built():
    packet = HandoffPacket(Reason.UPSET, "et", question="Miks arve nii suur on?!", customer_name="Mari",
                           register="informal", considered=[Considered("billing-dispute", 0.61234567)],
                           mood=MoodReading(Mood.UPSET, upset=0.91234, rude=0.1, signals=("exclamations",)))
    metadata = packet.to_metadata()
    assert metadata["kind"] == Kind.HANDOFF and metadata["considered"] == [{"faq_id": "billing-dispute", "score": 0.6123}]
    assert metadata["sentiment"] == {"label": "upset", "upset": 0.912, "rude": 0.1, "signals": ["exclamations"]}
    again = HandoffPacket.parse(metadata)
    assert again.reason == Reason.UPSET and again.mood.label == Mood.UPSET and again.mood.signals == ("exclamations",)
    assert again.considered[0].faq_id == "billing-dispute" and again.customer_name == "Mari"
    assert set(packet.to_stored()) == {"reason", "language", "question", "customer_name", "considered", "sentiment"}


def test_only_a_handoff_message_holds_a_packet():
    assert HandoffPacket.parse({"kind": Kind.ANSWER, "faq_id": "x"}) is None
    assert HandoffPacket.parse("handoff") is None
    assert HandoffPacket.parse(None) is None


@pytest.mark.parametrize("sentiment, label", [("rude", Mood.RUDE), ("furious", Mood.CALM), (None, Mood.CALM),
                                              ({"label": "upset", "signals": "caps"}, Mood.UPSET), (3, Mood.CALM)])
def test_the_mood_is_read_once_from_a_dict_or_a_bare_label(sentiment, label):
    packet = HandoffPacket.parse({"kind": "handoff", "reason": "rude", "sentiment": sentiment})
    assert packet.mood.label == label and isinstance(packet.mood.signals, tuple)


def test_a_packet_with_wrong_types_falls_back_to_safe_defaults():
    packet = HandoffPacket.parse({"kind": "handoff", "reason": "no such reason", "language": 5, "question": ["x"],
                                  "considered": [{"faq_id": 1}, "junk", {"faq_id": "ok", "score": "high"}]})
    assert packet.reason == Reason.HUMAN_REQUEST and packet.language == "en" and packet.question == ""
    assert packet.considered == [Considered("ok", 0.0)]


def test_the_names_are_distinct_and_the_gaps_are_reasons():
    for names in (Kind.all(), Reason.all(), Mood.all()):
        assert len(set(names)) == len(names)
    assert set(KNOWLEDGE_GAPS) <= set(Reason.all())


def test_every_handoff_reason_has_a_phrase():
    import yaml

    keys = set()
    for book in (ROOT / "replies").glob("phrases*.yml"):
        keys |= set(yaml.safe_load(book.read_text(encoding="utf-8")))
    assert {f"handoff_{reason}" for reason in Reason.all()} <= keys


def test_protocol_imports_nothing_from_the_project():
    project = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    for module in (ROOT / "protocol").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            for name in names:
                top = name.split(".")[0]
                assert top == "protocol" or top not in project, f"{module.name} imports {name}"
