"""The load benchmark's own logic: its customers, and its verdict on the targets."""
from __future__ import annotations

from knowledge.loader import load_knowledge
from supportbot.eval.load import LevelResult, against_the_targets, faq_conversations, parse_levels
from supportbot.settings import PROJECT_ROOT


def test_each_customer_asks_distinct_questions_in_one_language_and_never_a_handoff_topic():
    kb = load_knowledge(PROJECT_ROOT / "knowledge" / "demo")
    handoff_questions = {q for e in kb.entries if e.handoff for qs in e.questions.values() for q in qs}
    language_of = {q: lang for e in kb.entries for lang, qs in e.questions.items() for q in qs}
    conversations = faq_conversations(6, 12, seed=3)
    assert [len(c) for c in conversations] == [12] * 6
    for texts in conversations:
        assert len(set(texts)) == len(texts)
        assert len({language_of[t] for t in texts}) == 1
        assert not set(texts) & handoff_questions
    assert parse_levels("1x40,8x12") == ((1, 40), (8, 12))


def level(conversations, latency_ms, per_second, errors=0, lost=0):
    result = LevelResult(conversations, 10)
    result.latencies_ms = [latency_ms] * 100
    result.elapsed = 100 / per_second
    result.errors, result.lost = errors, lost
    return result


def test_the_verdict_on_the_targets_follows_the_figures():
    ours = [level(1, 40, 20), level(8, 200, 60), level(50, 900, 50), level(200, 5000, 40, lost=1)]
    theirs = [level(1, 50, 25), level(8, 300, 30), level(50, 1000, 30), level(200, 6000, 30)]
    verdict = dict(line.rsplit(" | ", 1) for line in against_the_targets(ours, theirs, 3000).splitlines()[2:])
    assert [v.strip(" |") for v in verdict.values()] == ["no", "yes", "yes", "no", "no"]
    assert "2.00× / 1.67×" in against_the_targets(ours, theirs, 3000)
