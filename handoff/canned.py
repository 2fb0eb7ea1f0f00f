"""Canned replies for agents: the knowledge base's answers, searched by words in their questions and answers.
Reloaded when the knowledge files change, like the bot's index."""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from knowledge.loader import KnowledgeError, knowledge_files, load_knowledge
from knowledge.model import KnowledgeBase
from knowledge.text import fold_for_matching

log = logging.getLogger(__name__)


def _words(text: str) -> List[str]:
    return [w for w in fold_for_matching(text).split() if len(w) > 1]


class CannedReplies:
    def __init__(self, knowledge_dir: Path):
        self.knowledge_dir = Path(knowledge_dir)
        self._lock = threading.Lock()
        self._signature: Optional[Tuple] = None
        self._kb: Optional[KnowledgeBase] = None

    def _knowledge(self) -> Optional[KnowledgeBase]:
        files = knowledge_files(self.knowledge_dir)
        signature = tuple((str(p), p.stat().st_mtime_ns) for p in files)
        with self._lock:
            if signature != self._signature:
                try:
                    self._kb = load_knowledge(self.knowledge_dir)
                except KnowledgeError as error:  # keep the last good knowledge, as the bot does
                    log.warning("canned replies keep the previous knowledge: %s", error)
                self._signature = signature
            return self._kb

    def question(self, entry_id: str, language: str) -> Optional[str]:
        kb = self._knowledge()
        entry = kb.get(entry_id) if kb else None
        return entry.title(language) if entry else None

    def search(self, query: str, language: str = "en", limit: int = 8) -> List[Dict[str, str]]:
        kb = self._knowledge()
        if kb is None:
            return []
        wanted = _words(query)
        scored = []
        for entry in kb.entries:
            answer, answer_language = entry.answer_in(language)
            title = entry.title(language)
            haystack = fold_for_matching(" ".join([title, answer, entry.id, entry.topic, *entry.questions.get(language, ())]))
            score = sum(2 if f" {w}" in f" {haystack}" else 0 for w in wanted) + sum(w in haystack for w in wanted)
            if wanted and score == 0:
                continue
            scored.append((-score, entry.id, {"id": entry.id, "title": title, "text": answer, "language": answer_language}))
        return [item for *_, item in sorted(scored, key=lambda s: (s[0], s[1]))[:limit]]
