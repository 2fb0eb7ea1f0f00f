"""The knowledge loader: the demo knowledge is complete, and every validation error names file and line."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from knowledge.loader import KnowledgeError, load_knowledge
from knowledge.model import LANGUAGES

DEMO_DIR = Path(__file__).resolve().parent.parent / "knowledge" / "demo"

GOOD_ENTRY = """\
topic: misc
entries:
  - id: good-entry
    questions:
      en: ["A question?"]
    answer:
      en: An answer.
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(directory: Path):
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(directory)
    return caught.value.problems, str(caught.value)


# --- the demo knowledge --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_kb():
    return load_knowledge(DEMO_DIR)


def test_demo_knowledge_has_at_least_40_entries(demo_kb):
    assert len(demo_kb) >= 40
    assert len(demo_kb.entries) == len(demo_kb)


def test_demo_entries_answer_in_every_language(demo_kb):
    missing = {e.id: sorted(set(LANGUAGES) - set(e.answer)) for e in demo_kb.entries if set(e.answer) != set(LANGUAGES)}
    assert missing == {}
    for entry in demo_kb.entries:
        for language in LANGUAGES:
            assert entry.answer[language].strip(), (entry.id, language)


def test_demo_entries_have_questions_in_at_least_two_languages(demo_kb):
    too_few = [e.id for e in demo_kb.entries if len([l for l, qs in e.questions.items() if qs]) < 2]
    assert too_few == []


def test_demo_ids_are_unique_and_lookups_work(demo_kb):
    ids = demo_kb.ids()
    assert len(ids) == len(set(ids))
    for entry in demo_kb.entries:
        assert demo_kb.get(entry.id) is entry
        assert entry.source.endswith(".yml") and entry.line > 0
        assert entry.topic


def test_demo_contains_the_handoff_topics(demo_kb):
    assert demo_kb.get("billing-dispute") is not None
    assert demo_kb.get("billing-dispute").handoff is True
    assert any(not e.handoff for e in demo_kb.entries)


def test_small_fixture_loads(small_kb_dir):
    kb = load_knowledge(small_kb_dir)
    assert sorted(kb.ids()) == ["billing-dispute", "internet-outage", "invoice-due-date", "refund-policy", "wifi-password"]
    dispute = kb.get("billing-dispute")
    assert dispute.handoff is True and set(dispute.answer) == {"en"}
    assert dispute.topic == "billing"
    assert dispute.line == 21  # "- id: billing-dispute" is on line 21 of billing.yml
    assert kb.get("refund-policy").questions["en"] == ("How do I get a refund?", "Can I get my money back?")


# --- validation errors: file and line -----------------------------------------------------------


def test_bad_yaml_syntax_names_file_and_line(tmp_path):
    path = write(
        tmp_path,
        "broken.yml",
        """\
        topic: misc
        entries:
          - id: first
            questions:
              en: ["How?"]
            answer:
              en: Like this: or not
        """,
    )
    problems, message = problems_of(tmp_path)
    assert len(problems) == 1
    file, line, text = problems[0]
    assert file == str(path)
    assert line == 7
    assert "invalid YAML" in text
    assert f"{path}:7:" in message


def test_unclosed_bracket_reports_the_line_where_parsing_failed(tmp_path):
    path = write(
        tmp_path,
        "broken.yml",
        """\
        topic: misc
        entries:
          - id: first
            questions:
              en: ["one", "two"
            answer:
              en: An answer.
        """,
    )
    problems, _ = problems_of(tmp_path)
    assert [(p[0], p[1]) for p in problems] == [(str(path), 6)]


def test_duplicate_id_across_files_names_both_places(tmp_path):
    first = write(
        tmp_path,
        "a.yml",
        """\
        topic: a
        entries:
          - id: one
            questions:
              en: ["Q1"]
            answer:
              en: A1
          - id: shared-id
            questions:
              en: ["Q2"]
            answer:
              en: A2
        """,
    )
    second = write(
        tmp_path,
        "b.yml",
        """\
        topic: b
        entries:
          - id: three
            questions:
              en: ["Q3"]
            answer:
              en: A3
          - id: four
            questions:
              en: ["Q4"]
            answer:
              en: A4
          - id: shared-id
            questions:
              en: ["Q5"]
            answer:
              en: A5
        """,
    )
    problems, message = problems_of(tmp_path)
    assert len(problems) == 1
    file, line, text = problems[0]
    assert (file, line) == (str(second), 13)
    assert "duplicate id 'shared-id'" in text
    assert f"{first}:8" in text
    assert message == f"{second}:13: {text}"


def test_duplicate_id_within_one_file(tmp_path):
    path = write(
        tmp_path,
        "a.yml",
        """\
        topic: a
        entries:
          - id: twice
            answer: {en: A1}
          - id: twice
            answer: {en: A2}
        """,
    )
    problems, _ = problems_of(tmp_path)
    assert [(p[0], p[1]) for p in problems] == [(str(path), 5)]
    assert f"{path}:3" in problems[0][2]


def test_entry_without_answer(tmp_path):
    path = write(
        tmp_path,
        "a.yml",
        """\
        topic: a
        entries:
          - id: fine
            questions:
              en: ["Q1"]
            answer:
              en: A1
          - id: no-answer
            questions:
              en: ["Q2"]
              et: ["K2"]
        """,
    )
    problems, _ = problems_of(tmp_path)
    assert len(problems) == 1
    file, line, text = problems[0]
    assert (file, line) == (str(path), 8)
    assert "no-answer" in text and "no answer" in text


def test_empty_answer_mapping_points_at_the_answer_key(tmp_path):
    path = write(
        tmp_path,
        "a.yml",
        """\
        topic: a
        entries:
          - id: empty-answer
            questions:
              en: ["Q1"]
            answer: {}
        """,
    )
    problems, _ = problems_of(tmp_path)
    assert [(p[0], p[1]) for p in problems] == [(str(path), 6)]


def test_unknown_language_code(tmp_path):
    path = write(
        tmp_path,
        "a.yml",
        """\
        topic: a
        entries:
          - id: finnish
            questions:
              en: ["Q1"]
              fi: ["Kysymys"]
            answer:
              en: A1
              fi: Vastaus
        """,
    )
    problems, _ = problems_of(tmp_path)
    assert [(p[0], p[1]) for p in problems] == [(str(path), 6), (str(path), 9)]
    for _, _, text in problems:
        assert "unknown language code 'fi'" in text
        assert "finnish" in text


def test_knowledge_error_lists_several_problems_at_once(tmp_path):
    first = write(
        tmp_path,
        "a.yml",
        """\
        topic: a
        entries:
          - id: Bad ID
            questions:
              en: ["Q1"]
            answer:
              en: A1
          - id: no-answer
            questions:
              en: ["Q2"]
          - id: lang
            questions:
              xx: ["Q3"]
            answer:
              en: A3
            color: blue
        """,
    )
    second = write(tmp_path, "b.yml", "topic: b\nentries: [oops\n")
    third = write(
        tmp_path,
        "c.yml",
        """\
        topic: c
        entries:
          - id: lang
            answer:
              en: A4
          - id: lang2
            answer:
              en: A5
            handoff: maybe
        """,
    )
    problems, message = problems_of(tmp_path)
    located = sorted((p[0], p[1]) for p in problems)
    assert located == sorted(
        [
            (str(first), 3),  # bad id
            (str(first), 8),  # no answer
            (str(first), 13),  # unknown language xx
            (str(first), 16),  # unknown key color
            (str(second), 3),  # YAML syntax (unclosed flow sequence, detected at end of file)
            (str(third), 9),  # handoff is not a boolean
        ]
    )
    # every problem appears in the message, one per line, as file:line: message
    lines = message.splitlines()
    assert len(lines) == len(problems)
    for (file, line, text), rendered in zip(problems, lines):
        assert rendered == f"{file}:{line}: {text}"
    # the invalid 'lang' in a.yml was rejected, so the 'lang' in c.yml is not a duplicate
    assert not any("duplicate" in p[2] for p in problems)


def test_missing_directory_and_empty_directory(tmp_path):
    with pytest.raises(KnowledgeError) as caught:
        load_knowledge(tmp_path / "nope")
    assert caught.value.problems[0][0] == str(tmp_path / "nope")
    problems, _ = problems_of(tmp_path)
    assert "no knowledge files" in problems[0][2]


def test_valid_files_in_subdirectories_load(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    write(sub, "a.yaml", GOOD_ENTRY)
    kb = load_knowledge(tmp_path)
    assert kb.ids() == ["good-entry"]
    entry = kb.get("good-entry")
    assert entry.source == str(sub / "a.yaml") and entry.line == 3
    assert entry.answer == {"en": "An answer."}


# --- news items ---------------------------------------------------------------------------------


def test_news_live_in_their_own_file_and_refer_to_entries_or_topics(tmp_path):
    write(tmp_path, "misc.yml", GOOD_ENTRY)
    write(tmp_path, "news.yml", """\
        topic: news
        news:
          - id: news-one
            about: good-entry
            text:
              en: Something new.
          - id: news-two
            about: [misc]
            until: 2030-01-31
            text:
              et: Midagi uut.
    """)
    kb = load_knowledge(tmp_path)
    assert kb.ids() == ["good-entry"], "news are not answers"
    assert [(n.id, n.about, str(n.until)) for n in kb.news] == [("news-one", ("good-entry",), "None"),
                                                              ("news-two", ("misc",), "2030-01-31")]
    from datetime import date

    assert kb.news_about(kb.get("good-entry"), today=date(2031, 1, 1)).id == "news-one"


def test_broken_news_are_reported_with_file_and_line(tmp_path):
    write(tmp_path, "misc.yml", GOOD_ENTRY)
    path = write(tmp_path, "news.yml", """\
        topic: news
        news:
          - id: news-unknown-subject
            about: [no-such-entry]
            text:
              en: Something new.
          - id: news-bad
            about: [misc]
            until: next week
            text:
              xx: Something.
          - id: good-entry
            about: [misc]
            text:
              en: Same id as an entry.
    """)
    problems, message = problems_of(tmp_path)
    assert (str(path), 3, "news 'news-unknown-subject' is about 'no-such-entry', which is neither an entry id nor a topic") in problems
    assert (str(path), 9, "news 'news-bad': 'until' must be a date like 2027-03-31") in problems
    assert any(line == 11 and "unknown language code 'xx'" in text for _, line, text in problems)
    assert any(line == 12 and "duplicate id 'good-entry'" in text for _, line, text in problems)
