"""Golden questions: what the bot must do for a few customer messages, kept with the knowledge in golden.yml
and checked on every index before it is published (knowledge.publishing).

A question passes when the knowledge's verdict (knowledge.decision, with the index's own parameters, as for a
calm first message) is the expected one: `expect: ENTRY_ID` passes on an answer from that entry, or on a handoff
because that entry says so (`handoff: true`); `expect: handoff` passes on any handoff. Asking which entry was
meant passes neither: the customer did not get the answer."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import yaml

from knowledge.decision import ANSWER, CLARIFY, HANDOFF, TOPIC_POLICY, Verdict, assess
from knowledge.loader import GOLDEN_FILE, KnowledgeError
from knowledge.model import KnowledgeBase
from knowledge.retriever import Retriever

EXPECT_HANDOFF = "handoff"
HEADER = ("# Golden questions: what the bot must do with these messages. `supportbot index` publishes a new index\n"
          "# only while they still pass (docs/editors.md). expect: an entry id, or handoff.\n")
_ITEM_START = re.compile(r"^(\s*)- ", re.MULTILINE)
NULL_TAG, BOOL_TAG = "tag:yaml.org,2002:null", "tag:yaml.org,2002:bool"


@dataclass(frozen=True)
class GoldenQuestion:
    text: str
    expect: str  # an entry id, or EXPECT_HANDOFF
    source: str = ""
    line: int = 0

    def key(self) -> Tuple[str, str]:
        """The same question with the same expectation, however it was spaced."""
        return " ".join(self.text.split()).casefold(), self.expect

    @property
    def where(self) -> str:
        return f"{Path(self.source).name}:{self.line}" if self.source else ""


@dataclass(frozen=True)
class Outcome:
    """What the bot would do with a message."""

    action: str  # answer, clarify or handoff
    entry_id: Optional[str] = None
    reason: Optional[str] = None
    options: Tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, verdict: Verdict) -> "Outcome":
        reason = verdict.name if verdict.action == HANDOFF else None
        return cls(verdict.action, verdict.entry_id, reason, tuple(verdict.options))

    def describe(self) -> str:
        if self.action == ANSWER:
            return f"answer {self.entry_id}"
        if self.action == CLARIFY:
            return f"clarify ({', '.join(self.options)})"
        if self.reason == TOPIC_POLICY:
            return f"handoff ({TOPIC_POLICY} of {self.entry_id})"
        return f"handoff ({self.reason})"


@dataclass(frozen=True)
class GoldenResult:
    question: GoldenQuestion
    got: Outcome
    passed: bool

    @property
    def expected(self) -> str:
        return self.question.expect


def golden_path(knowledge_dir: Union[str, Path]) -> Path:
    return Path(knowledge_dir) / GOLDEN_FILE


def passes(expect: str, outcome: Outcome) -> bool:
    if expect == EXPECT_HANDOFF:
        return outcome.action == HANDOFF
    if outcome.action == ANSWER:
        return outcome.entry_id == expect
    return outcome.action == HANDOFF and outcome.reason == TOPIC_POLICY and outcome.entry_id == expect


def run_golden(questions: Sequence[GoldenQuestion], retriever: Retriever) -> List[GoldenResult]:
    """Each question through the retrieval and the knowledge's verdict, as the action server makes them."""
    if not questions:
        return []
    results = retriever.search_many([q.text for q in questions])
    outcomes = [Outcome.of(assess(result, retriever.kb, retriever.params)) for result in results]
    return [GoldenResult(q, outcome, passes(q.expect, outcome)) for q, outcome in zip(questions, outcomes)]


def load_golden(knowledge_dir: Union[str, Path], kb: Optional[KnowledgeBase] = None,
                shown_as: Optional[Path] = None) -> List[GoldenQuestion]:
    """The golden questions of a knowledge folder (none without golden.yml). With `kb`, every expected entry must
    exist in it. Problems raise KnowledgeError with file and line; `shown_as` is the file name they give."""
    problems: List[Tuple[str, int, str]] = []
    questions = parse_golden(golden_path(knowledge_dir), kb, problems, shown_as)
    if problems:
        raise KnowledgeError(problems)
    return questions


def parse_golden(path: Path, kb: Optional[KnowledgeBase], problems: List[Tuple[str, int, str]],
                 shown_as: Optional[Path] = None) -> List[GoldenQuestion]:
    """Like load_golden, adding the problems found to `problems`."""
    if not path.is_file():
        return []
    source = str(shown_as or path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        problems.append((source, 0, f"not UTF-8 text: {error}"))
        return []
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problems.append((source, mark.line + 1 if mark else 0,
                         f"invalid YAML: {getattr(error, 'problem', None) or error}"))
        return []
    if root is None:
        return []
    if not isinstance(root, yaml.SequenceNode):
        problems.append((source, root.start_mark.line + 1,
                         "golden.yml must be a list of questions like '- {text: ..., expect: ENTRY_ID or handoff}'"))
        return []
    questions: List[GoldenQuestion] = []
    first_seen = {}
    for node in root.value:
        question = _parse_question(node, source, kb, problems)
        if question is None:
            continue
        if question.key()[0] in first_seen:
            problems.append((source, question.line,
                             f"the question {question.text!r} is there already (line {first_seen[question.key()[0]]})"))
            continue
        first_seen[question.key()[0]] = question.line
        questions.append(question)
    return questions


def _parse_question(node: yaml.Node, source: str, kb: Optional[KnowledgeBase],
                    problems: List[Tuple[str, int, str]]) -> Optional[GoldenQuestion]:
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.MappingNode):
        problems.append((source, line, "a golden question must be a mapping with 'text' and 'expect'"))
        return None
    values = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
        if key not in ("text", "expect"):
            problems.append((source, key_node.start_mark.line + 1, f"unknown key {key!r} (give 'text' and 'expect')"))
            continue
        values[key] = value_node
    count_before = len(problems)
    text = _scalar_text(values.get("text"))
    if not text:
        problems.append((source, _line_of(values.get("text"), line),
                         "'text' must be the customer's message (non-empty text)"))
    expect = _scalar_text(values.get("expect"))
    if not expect:
        problems.append((source, _line_of(values.get("expect"), line), "'expect' must be an entry id or handoff"))
    elif kb is not None and expect != EXPECT_HANDOFF and kb.get(expect) is None:
        problems.append((source, _line_of(values.get("expect"), line),
                         f"'expect: {expect}' is neither an entry id of the knowledge nor handoff"))
    if len(problems) > count_before:
        return None
    return GoldenQuestion(text=" ".join(text.split()), expect=expect, source=source, line=line)


def _scalar_text(node: Optional[yaml.Node]) -> str:
    if not isinstance(node, yaml.ScalarNode) or node.tag in (NULL_TAG, BOOL_TAG):
        return ""
    return node.value.strip()


def _line_of(node: Optional[yaml.Node], default: int) -> int:
    return node.start_mark.line + 1 if node is not None else default


class GoldenRefused(ValueError):
    """A question that cannot be added."""


def append_golden(knowledge_dir: Union[str, Path], text: str, expect: str, kb: KnowledgeBase) -> GoldenQuestion:
    """Add a question at the end of golden.yml, leaving the rest of the file as it is. Raises GoldenRefused when
    the expected entry does not exist or the question is there already, KnowledgeError when golden.yml is broken
    or cannot take it."""
    path = golden_path(knowledge_dir)
    existing = load_golden(knowledge_dir, kb)
    text = " ".join(text.split())
    if not text:
        raise GoldenRefused("the question is empty")
    if expect != EXPECT_HANDOFF and kb.get(expect) is None:
        raise GoldenRefused(f"'{expect}' is neither an entry id of the knowledge in {knowledge_dir} nor handoff")
    for question in existing:
        if question.key()[0] == GoldenQuestion(text, expect).key()[0]:
            raise GoldenRefused(f"{path}:{question.line}: the question is there already, expecting {question.expect}")
    existed = path.exists()
    before = path.read_text(encoding="utf-8") if existed else HEADER
    found = _ITEM_START.search(before)
    indent = found.group(1) if found else ""
    separator = "" if not before or before.endswith("\n") else "\n"
    item = (f"{indent}- text: {json.dumps(text, ensure_ascii=False)}\n"
            f"{indent}  expect: {json.dumps(expect) if _needs_quotes(expect) else expect}\n")
    path.write_text(before + separator + item, encoding="utf-8")
    try:
        added = [q for q in load_golden(knowledge_dir, kb) if q.key() == GoldenQuestion(text, expect).key()]
        if not added:
            raise KnowledgeError([(str(path), 0, "the question could not be appended to this file's list")])
    except KnowledgeError:
        if existed:
            path.write_text(before, encoding="utf-8")
        else:
            path.unlink()
        raise
    return added[0]


def _needs_quotes(value: str) -> bool:
    return yaml.safe_load(value) != value
