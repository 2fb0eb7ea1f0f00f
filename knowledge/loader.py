"""Reads and validates the editors' YAML files. Every error names the file and the line."""
from __future__ import annotations

import re
from pathlib import Path
from datetime import date
from typing import Dict, List, Optional, Tuple, Union

import yaml

from knowledge.model import LANGUAGES, Entry, KnowledgeBase, News

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
KNOWLEDGE_SUFFIXES = (".yml", ".yaml")
GOLDEN_FILE = "golden.yml"  # the folder's golden questions (knowledge.golden), not knowledge


class KnowledgeError(ValueError):
    """One or more problems in the knowledge files; `problems` holds (file, line, message)."""

    def __init__(self, problems: List[Tuple[str, int, str]]):
        self.problems = problems
        super().__init__("\n".join(f"{path}:{line}: {message}" for path, line, message in problems))


def knowledge_files(directory: Union[str, Path]) -> List[Path]:
    root = Path(directory)
    if not root.is_dir():
        raise KnowledgeError([(str(root), 0, "knowledge directory does not exist")])
    golden = root / GOLDEN_FILE
    return sorted(p for p in root.rglob("*") if p.suffix in KNOWLEDGE_SUFFIXES and p.is_file() and p != golden)


def load_knowledge(directory: Union[str, Path]) -> KnowledgeBase:
    """Load every YAML file under `directory`; raise KnowledgeError listing all problems found."""
    root = Path(directory)
    files = knowledge_files(root)
    problems: List[Tuple[str, int, str]] = []
    entries: List[Entry] = []
    news: List[News] = []
    first_seen: Dict[str, Tuple[str, int]] = {}
    if not files:
        problems.append((str(root), 0, "no knowledge files (*.yml) found"))
    for path in files:
        file_entries, file_news = _load_file(path, problems)
        for item in [*file_entries, *file_news]:
            if item.id in first_seen:
                other_file, other_line = first_seen[item.id]
                problems.append(
                    (item.source, item.line, f"duplicate id '{item.id}' (first defined at {other_file}:{other_line})")
                )
                continue
            first_seen[item.id] = (item.source, item.line)
            (entries if isinstance(item, Entry) else news).append(item)
    known = {e.id for e in entries} | {e.topic for e in entries}
    for item in news:
        for subject in item.about:
            if subject not in known:
                problems.append((item.source, item.line,
                                 f"news '{item.id}' is about '{subject}', which is neither an entry id nor a topic"))
    if problems:
        raise KnowledgeError(problems)
    return KnowledgeBase(directory=str(root), entries=entries, news=news)


def _line(node: Optional[yaml.Node]) -> int:
    return node.start_mark.line + 1 if node is not None else 0


def _mapping_get(node: yaml.MappingNode, key: str) -> Optional[yaml.Node]:
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node
    return None


def _load_file(path: Path, problems: List[Tuple[str, int, str]]) -> Tuple[List[Entry], List[News]]:
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        problems.append((source, 0, f"not UTF-8 text: {error}"))
        return [], []
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        problems.append((source, line, f"invalid YAML: {getattr(error, 'problem', None) or error}"))
        return [], []
    if not isinstance(data, dict) or not isinstance(root, yaml.MappingNode):
        problems.append((source, 1, "expected a mapping with 'topic' and 'entries'"))
        return [], []
    unknown = set(data) - {"topic", "entries", "news"}
    for key in sorted(unknown):
        problems.append((source, _line(_mapping_get(root, key)), f"unknown key '{key}'"))
    topic = data.get("topic")
    if not isinstance(topic, str) or not topic.strip():
        problems.append((source, _line(_mapping_get(root, "topic")) or 1, "missing 'topic' (a non-empty string)"))
        topic = path.stem
    news = _load_news(data, root, source, problems)
    entries_node = _mapping_get(root, "entries")
    raw_entries = data.get("entries")
    if "news" in data and "entries" not in data:
        return [], news
    if not isinstance(raw_entries, list) or not isinstance(entries_node, yaml.SequenceNode):
        problems.append((source, _line(entries_node) or 1, "missing 'entries' (a list)"))
        return [], news
    entries = []
    for raw, node in zip(raw_entries, entries_node.value):
        entry = _parse_entry(raw, node, topic, source, problems)
        if entry is not None:
            entries.append(entry)
    return entries, news


def _load_news(data: dict, root: yaml.MappingNode, source: str, problems) -> List[News]:
    if "news" not in data:
        return []
    news_node = _mapping_get(root, "news")
    if not isinstance(data["news"], list) or not isinstance(news_node, yaml.SequenceNode):
        problems.append((source, _line(news_node) or 1, "'news' must be a list"))
        return []
    found = []
    for raw, node in zip(data["news"], news_node.value):
        item = _parse_news(raw, node, source, problems)
        if item is not None:
            found.append(item)
    return found


def _texts_by_language(raw: dict, node: yaml.MappingNode, key: str, label: str, report) -> Dict[str, str]:
    """A mapping of language code to one text (an entry's `answer`, a news item's `text`), each checked."""
    texts: Dict[str, str] = {}
    raw_texts, texts_node = raw.get(key), _mapping_get(node, key)
    if not isinstance(raw_texts, dict) or not raw_texts:
        report(key, f"{label} has no {key}: give '{key}' with at least one of {', '.join(LANGUAGES)}")
        return texts
    for language, text in raw_texts.items():
        child = _mapping_get(texts_node, str(language)) if isinstance(texts_node, yaml.MappingNode) else None
        if language not in LANGUAGES:
            report(None, f"{label}: unknown language code '{language}' (use one of {', '.join(LANGUAGES)})", child)
        elif not isinstance(text, str) or not text.strip():
            report(None, f"{label}: {key}.{language} must be non-empty text", child)
        else:
            texts[language] = " ".join(text.split())
    return texts


def _parse_news(raw, node, source: str, problems) -> Optional[News]:
    line = _line(node)
    if not isinstance(raw, dict) or not isinstance(node, yaml.MappingNode):
        problems.append((source, line, "a news item must be a mapping with 'id', 'about' and 'text'"))
        return None
    count_before = len(problems)

    def report(key: Optional[str], message: str, child: Optional[yaml.Node] = None) -> None:
        where = child if child is not None else (_mapping_get(node, key) if key else None)
        problems.append((source, _line(where) or line, message))

    for key in sorted(set(raw) - {"id", "about", "text", "until"}):
        report(key, f"unknown key '{key}'")
    news_id = raw.get("id")
    if not isinstance(news_id, str) or not ID_PATTERN.match(news_id):
        report("id", f"news needs an 'id' of lower-case letters, digits, '-', '_' or '.' (got {news_id!r})")
        news_id = None
    label = f"news '{news_id}'" if news_id else "news"
    about = raw.get("about")
    if isinstance(about, str):
        about = [about]
    if not isinstance(about, list) or not about or not all(isinstance(a, str) and a.strip() for a in about):
        report("about", f"{label}: 'about' must list the entry ids or topics it fits")
        about = []
    text = _texts_by_language(raw, node, "text", label, report)
    until = raw.get("until")
    if until is not None and not isinstance(until, date):
        report("until", f"{label}: 'until' must be a date like 2027-03-31")
        until = None
    if len(problems) > count_before or news_id is None:
        return None
    return News(id=news_id, about=tuple(a.strip() for a in about), text=text, until=until, source=source, line=line)


def _parse_entry(raw, node, topic: str, source: str, problems) -> Optional[Entry]:
    line = _line(node)
    if not isinstance(raw, dict) or not isinstance(node, yaml.MappingNode):
        problems.append((source, line, "an entry must be a mapping with 'id', 'questions' and 'answer'"))
        return None
    count_before = len(problems)

    def report(key: Optional[str], message: str, child: Optional[yaml.Node] = None) -> None:
        where = child if child is not None else (_mapping_get(node, key) if key else None)
        problems.append((source, _line(where) or line, message))

    for key in sorted(set(raw) - {"id", "questions", "answer", "handoff"}):
        report(key, f"unknown key '{key}'")
    entry_id = raw.get("id")
    if not isinstance(entry_id, str) or not ID_PATTERN.match(entry_id):
        report("id", f"entry needs an 'id' of lower-case letters, digits, '-', '_' or '.' (got {entry_id!r})")
        entry_id = None
    label = f"entry '{entry_id}'" if entry_id else "entry"

    questions: Dict[str, Tuple[str, ...]] = {}
    raw_questions = raw.get("questions", {})
    questions_node = _mapping_get(node, "questions")
    if raw_questions is None:
        raw_questions = {}
    if not isinstance(raw_questions, dict):
        report("questions", f"{label}: 'questions' must map a language code to a list of questions")
        raw_questions = {}
    for language, phrasings in raw_questions.items():
        child = _mapping_get(questions_node, str(language)) if isinstance(questions_node, yaml.MappingNode) else None
        if language not in LANGUAGES:
            report(None, f"{label}: unknown language code '{language}' (use one of {', '.join(LANGUAGES)})", child)
            continue
        if isinstance(phrasings, str):
            phrasings = [phrasings]
        if not isinstance(phrasings, list) or not all(isinstance(p, str) and p.strip() for p in phrasings):
            report(None, f"{label}: questions.{language} must be a list of non-empty strings", child)
            continue
        if phrasings:
            questions[language] = tuple(p.strip() for p in phrasings)

    answer = _texts_by_language(raw, node, "answer", label, report)

    handoff = raw.get("handoff", False)
    if not isinstance(handoff, bool):
        report("handoff", f"{label}: 'handoff' must be true or false")
        handoff = False
    if len(problems) > count_before or entry_id is None:
        return None
    return Entry(
        id=entry_id, topic=topic, questions=questions, answer=answer, handoff=handoff, source=source, line=line
    )
