"""Golden questions gate publishing: `supportbot index` builds beside the published index, and publishes only
while the golden questions still pass; --dry-run, --force, --rollback, `supportbot golden`, and the bot's start."""
from __future__ import annotations

import json
import shutil
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Tuple

import pytest

from knowledge import publishing
from knowledge.decision import ANSWER, CLARIFY, HANDOFF, LOW_CONFIDENCE, OUT_OF_SCOPE, TOPIC_POLICY, assess
from knowledge.encoders import load_encoder
from knowledge.golden import GOLDEN_FILE, Outcome, load_golden, passes, run_golden
from knowledge.index import load_index
from knowledge.live import LiveRetriever, open_retriever
from knowledge.loader import KnowledgeError, knowledge_files, load_knowledge
from knowledge.publishing import ensure_published, index_and_publish, kept_indexes, kept_root
from supportbot import cli

DEMO_DIR = Path(__file__).resolve().parent.parent / "knowledge" / "demo"

GOLDEN = """\
# the small knowledge's golden questions
- text: How do I get a refund?
  expect: refund-policy
- text: "Kuidas raha tagasi saada?"
  expect: refund-policy
- text: money back please
  expect: refund-policy
- text: Не работает интернет
  expect: internet-outage
- text: when do i have to pay the invoice
  expect: invoice-due-date
- text: I want to dispute a charge on my bill
  expect: billing-dispute
- text: What's the weather like in Paris tomorrow?
  expect: handoff
"""
REFUND_QUESTIONS = ("How do I get a refund?", "Kuidas raha tagasi saada?", "money back please")

REFUND_EN = "You can ask for a refund within 14 days in the self-service portal."
REFUND_ENTRY = """\
      en: ["How do I get a refund?", "Can I get my money back?"]
      ru: ["Как вернуть деньги?", "Можно ли получить возврат?"]
      et: ["Kuidas raha tagasi saada?"]
    answer:
      en: You can ask for a refund within 14 days in the self-service portal.
      ru: Вернуть деньги можно в течение 14 дней через портал самообслуживания.
      et: Raha tagasi saab küsida 14 päeva jooksul iseteeninduses.
"""
# the entry keeps its id, but is about something else now: the refund questions go elsewhere
SIM_CARD_ENTRY = """\
      en: ["How do I order a new SIM card?"]
    answer:
      en: Order a new SIM card in the self-service portal.
"""


@pytest.fixture(scope="module")
def encoder():
    return load_encoder()


@pytest.fixture(scope="module")
def base(small_retriever, small_index_dir, small_kb_dir, tmp_path_factory, encoder) -> Path:
    """The small knowledge with its golden questions, and its index published through the gate once (the
    session's small index is reused, so nothing is embedded again)."""
    root = tmp_path_factory.mktemp("gate")
    shutil.copytree(small_kb_dir, root / "kb")
    (root / "kb" / GOLDEN_FILE).write_text(GOLDEN, encoding="utf-8")
    shutil.copytree(small_index_dir, root / "index")
    verdict = index_and_publish(root / "kb", root / "index", encoder)
    assert verdict.published, verdict.text
    shutil.rmtree(kept_root(root / "index"))
    return root


@dataclass
class Site:
    kb: Path
    index: Path
    capsys: pytest.CaptureFixture

    def run(self, *args: str) -> Tuple[int, str, str]:
        """The CLI on this knowledge folder (INDEX_DIR points at this index): exit code, stdout, stderr."""
        code = cli.main([*args, "--knowledge", str(self.kb)])
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err

    @property
    def golden(self) -> Path:
        return self.kb / GOLDEN_FILE

    def edit(self, name: str, old: str, new: str) -> None:
        path = self.kb / name
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new), encoding="utf-8")

    def manifest(self) -> bytes:
        return (self.index / "manifest.json").read_bytes()

    def serving(self):
        """The published index as the bot opens it at its start."""
        return open_retriever(self.kb, self.index)


@pytest.fixture
def site(base, tmp_path, monkeypatch, capsys) -> Site:
    """A private copy of the knowledge folder and of its published index; `run` runs the CLI on them."""
    shutil.copytree(base / "kb", tmp_path / "kb")
    shutil.copytree(base / "index", tmp_path / "index")
    monkeypatch.setenv("INDEX_DIR", str(tmp_path / "index"))
    return Site((tmp_path / "kb").resolve(), (tmp_path / "index").resolve(), capsys)


def decision_of(retriever, text: str):
    return assess(retriever.search(text), retriever.kb, retriever.params)


# --- golden.yml is the gate's, not knowledge ------------------------------------------------------------------


def test_golden_yml_is_not_a_knowledge_file(site):
    names = [p.name for p in knowledge_files(site.kb)]
    assert GOLDEN_FILE not in names and "billing.yml" in names
    assert sorted(load_knowledge(site.kb).ids()) == sorted(
        ["refund-policy", "invoice-due-date", "billing-dispute", "internet-outage", "wifi-password"])
    nested = site.kb / "more"
    nested.mkdir()
    (nested / GOLDEN_FILE).write_text(GOLDEN, encoding="utf-8")  # only the folder's own golden.yml is left out
    with pytest.raises(KnowledgeError, match="more/golden.yml:1"):
        load_knowledge(site.kb)


BROKEN_GOLDEN = [
    ("- text: a question\n  expect: refund-policy\n- text: another one\n", 3,
     "'expect' must be an entry id or handoff"),
    ("- text: [a, b]\n  expect: handoff\n", 1, "'text' must be the customer's message"),
    ("text: a question\nexpect: handoff\n", 1, "must be a list of questions"),
    ("- text: a question\n  expect: handoff\n  lang: en\n", 3, "unknown key 'lang'"),
    ("- just a string\n", 1, "must be a mapping with 'text' and 'expect'"),
    ("- text: Same question\n  expect: handoff\n- text: same  question\n  expect: refund-policy\n", 3,
     "is there already (line 1)"),
    ("- text: \"an open quote\n  expect: handoff\n", 3, "invalid YAML"),
]


@pytest.mark.parametrize("text, line, message", BROKEN_GOLDEN)
def test_a_broken_golden_yml_names_file_and_line(tmp_path, text, line, message):
    (tmp_path / GOLDEN_FILE).write_text(text, encoding="utf-8")
    with pytest.raises(KnowledgeError) as caught:
        load_golden(tmp_path)
    assert f"{tmp_path / GOLDEN_FILE}:{line}: " in str(caught.value)
    assert message in str(caught.value)


def test_index_with_a_broken_golden_yml_publishes_nothing(site):
    before = site.manifest()
    site.golden.write_text(GOLDEN + "- text: What is my Wi-Fi password?\n", encoding="utf-8")
    site.edit("billing.yml", REFUND_EN, "Refunds within 30 days.")
    code, out, err = site.run("index")
    assert code == 1
    assert f"{site.golden}:16: 'expect' must be an entry id or handoff" in err
    assert "was left as it was" in err
    assert site.manifest() == before
    assert not (kept_root(site.index) / publishing.CANDIDATE).exists()
    assert kept_indexes(site.index) == []


def test_a_broken_knowledge_file_and_golden_yml_are_reported_together(site):
    site.golden.write_text("- text: a question\n", encoding="utf-8")
    site.edit("internet.yml", "      et: Taaskäivitage", "      fi: Taaskäivitage")
    code, _, err = site.run("index")
    assert code == 1
    assert f"{site.kb / 'internet.yml'}:11: " in err and "unknown language code 'fi'" in err
    assert f"{site.golden}:1: " in err


# --- what passes ------------------------------------------------------------------------------------------------


def test_an_answer_from_the_expected_entry_passes():
    assert passes("refund-policy", Outcome(ANSWER, "refund-policy"))
    assert not passes("refund-policy", Outcome(ANSWER, "invoice-due-date"))
    assert not passes("handoff", Outcome(ANSWER, "refund-policy"))


def test_clarifying_passes_no_expectation_even_with_the_expected_entry_first():
    clarify = Outcome(CLARIFY, "refund-policy", options=("refund-policy", "invoice-due-date"))
    assert not passes("refund-policy", clarify)
    assert not passes("handoff", clarify)


def test_handoff_expects_any_handoff_and_an_entry_its_own_policy_handoff():
    assert passes("handoff", Outcome(HANDOFF, None, OUT_OF_SCOPE))
    assert passes("handoff", Outcome(HANDOFF, "refund-policy", LOW_CONFIDENCE))
    assert passes("handoff", Outcome(HANDOFF, "billing-dispute", TOPIC_POLICY))
    assert passes("billing-dispute", Outcome(HANDOFF, "billing-dispute", TOPIC_POLICY))
    assert not passes("billing-dispute", Outcome(HANDOFF, "billing-dispute", LOW_CONFIDENCE))
    assert not passes("refund-policy", Outcome(HANDOFF, "billing-dispute", TOPIC_POLICY))


def test_golden_results_are_the_decision_of_the_action_server(site):
    retriever = site.serving()
    questions = load_golden(site.kb, retriever.kb)
    for result in run_golden(questions, retriever):
        decision = decision_of(retriever, result.question.text)
        assert (result.got.action, result.got.entry_id) == (decision.action, decision.entry_id)
        assert result.passed, (result.question.text, result.got.describe())


# --- the gate -------------------------------------------------------------------------------------------------


def test_a_harmless_edit_publishes(site):
    live = LiveRetriever(knowledge_dir=site.kb, index_dir=site.index)
    assert live.get().kb.get("refund-policy").answer["en"] == REFUND_EN
    site.edit("billing.yml", REFUND_EN, "You can ask for a refund within 30 days in the self-service portal.")
    code, out, err = site.run("index")
    assert code == 0, err
    assert "golden questions: 7 of 7 pass (on the published index: 7)" in out
    assert f"published: {site.index} serves the new index now" in out
    assert "kept for 'supportbot index --rollback' (1 kept)" in out
    assert len(kept_indexes(site.index)) == 1
    served = live.get()  # the running bot follows without a restart
    assert served.kb.get("refund-policy").answer["en"].startswith("You can ask for a refund within 30 days")
    assert decision_of(served, "How do I get a refund?").entry_id == "refund-policy"


def test_a_harmful_edit_is_refused_and_the_old_index_keeps_answering(site):
    live = LiveRetriever(knowledge_dir=site.kb, index_dir=site.index)
    first = live.get()
    before = site.manifest()
    site.edit("billing.yml", REFUND_ENTRY, SIM_CARD_ENTRY)
    code, out, err = site.run("index")
    assert code == 1
    assert "REFUSED: 3 golden questions fail" in err and "keeps serving" in err
    for text in REFUND_QUESTIONS:
        line = next(line for line in err.splitlines() if line.strip().startswith(f'"{text}"'))
        assert "expected refund-policy, got " in line
        assert "got answer refund-policy" not in line
        assert "on the published index: answer refund-policy" in line
    assert "Не работает интернет" not in err  # the questions that still pass are not listed
    assert site.manifest() == before and kept_indexes(site.index) == []
    assert not (kept_root(site.index) / publishing.CANDIDATE).exists()

    assert live.get() is first  # the running bot did not notice anything
    restarted = site.serving()  # nor does a bot started now rebuild the index from the changed folder
    assert site.manifest() == before
    decision = decision_of(restarted, "How do I get a refund?")
    assert (decision.action, decision.entry_id) == (ANSWER, "refund-policy")
    assert restarted.kb.get("refund-policy").answer["en"] == REFUND_EN


def test_a_new_golden_question_that_fails_refuses(site):
    before = site.manifest()
    with site.golden.open("a", encoding="utf-8") as golden:
        golden.write("- text: How do I order a new SIM card?\n  expect: refund-policy\n"
                     "- text: What is my Wi-Fi password?\n  expect: wifi-pasword\n")
    code, _, err = site.run("index")
    assert code == 1
    assert "REFUSED: 2 golden questions fail" in err
    assert '"How do I order a new SIM card?" (golden.yml:16): expected refund-policy, got ' in err
    assert "a new golden question" in err
    assert "expected wifi-pasword (not an entry of the knowledge), got answer wifi-password" in err
    assert site.manifest() == before


def test_force_publishes_and_says_so(site):
    site.edit("billing.yml", REFUND_ENTRY, SIM_CARD_ENTRY)
    code, out, err = site.run("index", "--force")
    assert code == 0, err
    assert "published anyway (--force), although 3 golden questions fail:" in out
    assert '"How do I get a refund?" (golden.yml:2): expected refund-policy, got ' in out
    served = site.serving()
    assert served.kb.get("refund-policy").answer["en"] == "Order a new SIM card in the self-service portal."
    assert decision_of(served, "How do I get a refund?").action != ANSWER


def test_a_question_that_failed_on_the_published_index_may_go_on_failing(site):
    site.edit("billing.yml", REFUND_ENTRY, SIM_CARD_ENTRY)
    assert site.run("index", "--force")[0] == 0
    site.edit("internet.yml", "under Internet.", "under Internet > Wi-Fi.")
    code, out, err = site.run("index")
    assert code == 0, err
    assert "golden questions: 4 of 7 pass (on the published index: 4)" in out
    assert "published:" in out
    # and once the entry is fixed, its questions are back under guard
    site.edit("billing.yml", SIM_CARD_ENTRY, REFUND_ENTRY)
    assert site.run("index")[0] == 0
    site.edit("billing.yml", REFUND_ENTRY, SIM_CARD_ENTRY)
    assert site.run("index")[0] == 1


def test_dry_run_shows_the_change_and_publishes_nothing(site):
    before = site.manifest()
    site.edit("billing.yml", REFUND_ENTRY, SIM_CARD_ENTRY)
    internet = (site.kb / "internet.yml").read_text(encoding="utf-8")
    (site.kb / "internet.yml").write_text(internet.split("  - id: wifi-password")[0], encoding="utf-8")
    (site.kb / "tv.yml").write_text(textwrap.dedent("""\
        topic: tv
        entries:
          - id: tv-no-signal
            questions:
              en: ["The TV says no signal"]
            answer:
              en: Check that the TV box is on and the HDMI cable is in.
        """), encoding="utf-8")
    code, out, err = site.run("index", "--dry-run")
    assert code == 1  # it would be refused
    assert out.startswith(f"dry run: nothing was published; {site.index} keeps serving")
    assert "entries: 1 added (tv-no-signal), 1 changed (refund-policy), 1 removed (wifi-password)" in out
    assert "news: 0 added, 0 changed, 2 removed (news-expired, news-mesh)" in out
    assert "golden questions: 4 of 7 pass (on the published index: 7)" in out
    line = next(line for line in out.splitlines() if '"How do I get a refund?"' in line)
    assert line.strip().startswith("FAIL")
    assert "before answer refund-policy, after " in line and line.endswith("<- stops the publish")
    line = next(line for line in out.splitlines() if '"Не работает интернет"' in line)
    assert line.strip().startswith("ok") and "before answer internet-outage, after answer internet-outage" in line
    assert "'supportbot index' would refuse it: 3 golden questions fail" in out
    assert site.manifest() == before and kept_indexes(site.index) == []
    assert not (kept_root(site.index) / publishing.CANDIDATE).exists()


def test_dry_run_of_a_harmless_edit_says_it_would_publish(site):
    before = site.manifest()
    site.edit("billing.yml", REFUND_EN, "You can ask for a refund within 30 days in the self-service portal.")
    code, out, _ = site.run("index", "--dry-run")
    assert code == 0
    assert "entries: 0 added, 1 changed (refund-policy), 0 removed" in out
    assert "'supportbot index' would publish it" in out
    assert site.manifest() == before


# --- rolling back -----------------------------------------------------------------------------------------------


def built_at(index_dir: Path) -> str:
    """When the index was built, as a rollback names it."""
    manifest = json.loads((index_dir / "manifest.json").read_text())
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(manifest["built_at"]))


def test_rollback_walks_back_through_the_kept_indexes(site, monkeypatch):
    monkeypatch.setattr(publishing, "KEEP", 2)
    live = LiveRetriever(knowledge_dir=site.kb, index_dir=site.index)
    answers: List[str] = [REFUND_EN]
    times = [built_at(site.index)]
    for days in (30, 60, 90):
        answers.append(f"You can ask for a refund within {days} days in the self-service portal.")
        site.edit("billing.yml", answers[-2], answers[-1])
        assert site.run("index")[0] == 0
        times.append(built_at(site.index))
        assert live.get().kb.get("refund-policy").answer["en"] == answers[-1]
    assert len(kept_indexes(site.index)) == 2  # the 60 and the 30 days ones; the first was let go

    code, out, _ = site.run("index", "--rollback")
    assert code == 0
    assert f"serves the index built at {times[2]} again (5 entries), instead of the one built at {times[3]}" in out
    assert "1 earlier index is still kept" in out
    assert live.get().kb.get("refund-policy").answer["en"] == answers[2]  # followed without a restart
    assert site.serving().kb.get("refund-policy").answer["en"] == answers[2]

    code, out, _ = site.run("index", "--rollback")
    assert code == 0 and f"built at {times[1]} again" in out and "0 earlier indexes are still kept" in out
    assert live.get().kb.get("refund-policy").answer["en"] == answers[1]
    assert decision_of(live.get(), "How do I get a refund?").entry_id == "refund-policy"

    code, _, err = site.run("index", "--rollback")
    assert code == 1 and "nothing to roll back to" in err
    assert live.get().kb.get("refund-policy").answer["en"] == answers[1]


def test_after_a_rollback_the_next_index_publishes_the_folder_again(site):
    site.edit("billing.yml", REFUND_EN, "Refunds are possible within 30 days.")
    assert site.run("index")[0] == 0
    assert site.run("index", "--rollback")[0] == 0
    assert site.serving().kb.get("refund-policy").answer["en"] == REFUND_EN
    code, out, _ = site.run("index")
    assert code == 0 and "entries new or changed" in out
    assert site.serving().kb.get("refund-policy").answer["en"] == "Refunds are possible within 30 days."
    assert len(kept_indexes(site.index)) == 1  # the rolled-back-to one; the one rolled back from is gone


# --- the bot's start (run.sh) -------------------------------------------------------------------------------------


def test_the_bot_start_does_not_publish_over_a_failing_gate(site, encoder):
    assert ensure_published(site.kb, site.index, encoder).startswith("knowledge index up to date: 5 entries")
    before = site.manifest()
    site.edit("billing.yml", REFUND_ENTRY, SIM_CARD_ENTRY)
    message = ensure_published(site.kb, site.index, encoder)
    assert "WARNING: the changed knowledge" in message and "was NOT published: 3 golden questions fail" in message
    assert '"How do I get a refund?" (golden.yml:2): expected refund-policy, got ' in message
    assert site.manifest() == before
    assert site.serving().kb.get("refund-policy").answer["en"] == REFUND_EN


def test_the_bot_start_publishes_a_harmless_change_and_keeps_a_rolled_back_index(site, encoder):
    site.edit("billing.yml", REFUND_EN, "Refunds are possible within 30 days.")
    assert "published:" in ensure_published(site.kb, site.index, encoder)
    assert site.serving().kb.get("refund-policy").answer["en"] == "Refunds are possible within 30 days."
    assert site.run("index", "--rollback")[0] == 0
    before = site.manifest()
    message = ensure_published(site.kb, site.index, encoder)
    assert message.startswith("serving the index restored by 'supportbot index --rollback'")
    assert site.manifest() == before


def test_the_bot_start_over_an_index_without_its_knowledge_publishes_and_warns(site, small_index_dir, encoder):
    shutil.rmtree(site.index)
    shutil.copytree(small_index_dir, site.index)  # built by an earlier version: it serves the folder, whatever it is
    site.edit("billing.yml", REFUND_ENTRY, SIM_CARD_ENTRY)
    message = ensure_published(site.kb, site.index, encoder)
    assert "WARNING: published although 3 golden questions fail" in message
    assert publishing.published_knowledge(site.index) is not None


# --- supportbot golden ------------------------------------------------------------------------------------------


def test_golden_add_appends_and_keeps_the_file_as_it_was(site):
    original = site.golden.read_text(encoding="utf-8")
    code, out, err = site.run("golden", "add", "Can I get my money back?", "refund-policy")
    assert code == 0, err
    assert f"added to {site.golden}:16: \"Can I get my money back?\" expects refund-policy" in out
    assert ('ok    "Can I get my money back?" (golden.yml:16) expects refund-policy, '
            "the published index: answer refund-policy") in out
    text = site.golden.read_text(encoding="utf-8")
    assert text.startswith(original)  # the comment and every question stay as they were
    assert text[len(original):] == '- text: "Can I get my money back?"\n  expect: refund-policy\n'
    code, _, _ = site.run("golden", "add", "Who won the match: 'us' or \"them\"?", "handoff")
    assert code == 0
    questions = load_golden(site.kb, load_knowledge(site.kb))
    assert [(q.text, q.expect) for q in questions[-2:]] == [
        ("Can I get my money back?", "refund-policy"), ("Who won the match: 'us' or \"them\"?", "handoff")]


def test_golden_add_refuses_an_unknown_entry_and_a_repeated_question(site):
    original = site.golden.read_text(encoding="utf-8")
    code, _, err = site.run("golden", "add", "Can I pay by card?", "payment-by-card")
    assert code == 1 and f"'payment-by-card' is neither an entry id of the knowledge in {site.kb} nor handoff" in err
    code, _, err = site.run("golden", "add", "how do I get a REFUND?", "invoice-due-date")
    assert code == 1 and f"{site.golden}:2: the question is there already, expecting refund-policy" in err
    assert site.golden.read_text(encoding="utf-8") == original


def test_golden_add_starts_a_golden_yml_and_follows_an_indented_one(site):
    site.golden.unlink()
    assert site.run("golden", "add", "money back please", "refund-policy")[0] == 0
    assert site.golden.read_text(encoding="utf-8").startswith("# Golden questions")
    site.golden.write_text("# indented\n  - text: money back please\n    expect: refund-policy\n", encoding="utf-8")
    assert site.run("golden", "add", "Не работает интернет", "internet-outage")[0] == 0
    assert site.golden.read_text(encoding="utf-8").endswith(
        '  - text: "Не работает интернет"\n    expect: internet-outage\n')
    assert [q.line for q in load_golden(site.kb)] == [2, 4]


def test_golden_check_and_list(site):
    code, out, _ = site.run("golden", "check")
    assert code == 0 and "7 of 7 golden questions pass on the published index" in out
    site.edit("billing.yml", REFUND_ENTRY, SIM_CARD_ENTRY)
    assert site.run("index", "--force")[0] == 0
    code, out, _ = site.run("golden", "check")
    assert code == 1 and "4 of 7 golden questions pass" in out
    assert next(l for l in out.splitlines() if '"How do I get a refund?"' in l).startswith("FAIL")
    code, out, _ = site.run("golden", "list")
    assert code == 0 and out.splitlines()[0] == "golden.yml:2\trefund-policy\tHow do I get a refund?"


# --- the demo's golden questions ----------------------------------------------------------------------------------


def test_the_demo_golden_questions_are_valid_and_cover_the_languages():
    questions = load_golden(DEMO_DIR, load_knowledge(DEMO_DIR))
    assert 15 <= len(questions) <= 25
    assert sum(q.expect == "handoff" for q in questions) >= 3
    texts = " ".join(q.text for q in questions)
    assert any(c in texts for c in "õäöü") and any("а" <= c <= "я" for c in texts)


@pytest.mark.slow
def test_the_demo_golden_questions_pass_on_a_fresh_demo_index(tmp_path, encoder):
    """Builds the demo index from nothing (about a minute)."""
    verdict = index_and_publish(DEMO_DIR, tmp_path / "index", encoder)
    assert verdict.published, verdict.text
    questions = load_golden(DEMO_DIR)
    assert f"golden questions: {len(questions)} of {len(questions)} pass" in verdict.text
    assert load_index(tmp_path / "index").manifest.entry_count == len(load_knowledge(DEMO_DIR))
