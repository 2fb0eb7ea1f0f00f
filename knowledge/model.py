"""The knowledge base as the rest of the code sees it: validated entries, nothing YAML-specific."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Dict, List, Optional, Tuple

LANGUAGES: Tuple[str, ...] = ("et", "ru", "en")


@dataclass(frozen=True)
class Entry:
    id: str
    topic: str
    questions: Dict[str, Tuple[str, ...]]
    answer: Dict[str, str]
    handoff: bool = False
    source: str = ""
    line: int = 0

    def answer_in(self, language: str) -> Tuple[str, str]:
        """The answer in `language`, or in the best available language, with the language used."""
        if language in self.answer:
            return self.answer[language], language
        for fallback in ("en", "et", "ru"):
            if fallback in self.answer:
                return self.answer[fallback], fallback
        raise KeyError(self.id)

    def title(self, language: str) -> str:
        """A short label for 'did you mean' buttons: the first question in the best language."""
        for lang in (language, "en", "et", "ru"):
            if self.questions.get(lang):
                return self.questions[lang][0]
        return self.id

    def content_hash(self) -> str:
        payload = json.dumps(
            {"q": {k: list(v) for k, v in sorted(self.questions.items())}, "a": self.answer,
             "handoff": self.handoff, "topic": self.topic},
            ensure_ascii=False,
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class News:
    """A new feature worth mentioning once in a conversation, after an answer on one of the entries or topics
    it is `about`; shown until the day `until` (inclusive) when given."""

    id: str
    about: Tuple[str, ...]
    text: Dict[str, str]
    until: Optional[date] = None
    source: str = ""
    line: int = 0

    def text_in(self, language: str) -> Tuple[str, str]:
        for lang in (language, "en", "et", "ru"):
            if lang in self.text:
                return self.text[lang], lang
        raise KeyError(self.id)

    def is_about(self, entry: Entry) -> bool:
        return entry.id in self.about or entry.topic in self.about

    def is_current(self, today: date) -> bool:
        return self.until is None or today <= self.until


@dataclass
class KnowledgeBase:
    directory: str
    entries: List[Entry] = field(default_factory=list)
    news: List[News] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_id = {entry.id: entry for entry in self.entries}

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, entry_id: str) -> Optional[Entry]:
        return self._by_id.get(entry_id)

    def ids(self) -> List[str]:
        return [entry.id for entry in self.entries]

    def news_about(self, entry: Entry, today: Optional[date] = None) -> Optional[News]:
        """The first current news item about this entry or its topic."""
        today = today or date.today()
        return next((n for n in self.news if n.is_about(entry) and n.is_current(today)), None)
