"""The knowledge base as the rest of the code sees it: validated entries, nothing YAML-specific."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
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
            {"q": {k: list(v) for k, v in sorted(self.questions.items())}, "a": self.answer},
            ensure_ascii=False,
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class KnowledgeBase:
    directory: str
    entries: List[Entry] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_id = {entry.id: entry for entry in self.entries}

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, entry_id: str) -> Optional[Entry]:
        return self._by_id.get(entry_id)

    def ids(self) -> List[str]:
        return [entry.id for entry in self.entries]
