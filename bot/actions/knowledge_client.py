"""The actions' way to the knowledge base. Local mode (the only one so far): an in-process retriever
that follows reindexing. KNOWLEDGE_DIR, INDEX_DIR and ENCODER configure it."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Tuple

import numpy as np

from knowledge.decision import Decision, decide
from knowledge.encoders import unpack_vector
from knowledge.model import Entry, News
from knowledge.live import LiveRetriever, index_dir_for
from knowledge.loader import default_knowledge_dir
from knowledge.retriever import RetrievalResult


class KnowledgeClient:
    def __init__(self, live: Optional[LiveRetriever] = None):
        if live is None:
            knowledge_dir = Path(os.environ.get("KNOWLEDGE_DIR") or default_knowledge_dir())
            live = LiveRetriever(knowledge_dir=knowledge_dir,
                                 index_dir=os.environ.get("INDEX_DIR") or index_dir_for(knowledge_dir),
                                 encoder=os.environ.get("ENCODER", ""))
        self._live = live

    @property
    def encoder_name(self) -> str:
        return self._live.get().encoder.name

    def query_vector(self, text: str, packed: Any = None) -> np.ndarray:
        """The message's embedding: the one Rasa's NLU made (`packed`, from the parse data) if the knowledge's
        encoder made it, otherwise embedded now."""
        encoder = self._live.get().encoder
        vector = unpack_vector(packed, encoder)
        return vector if vector is not None else encoder.encode_queries([text])[0]

    def consult(self, text: str, mood: Optional[str] = None, just_answered: Optional[str] = None,
                wants_person: bool = False, vector: Optional[np.ndarray] = None) -> Tuple[RetrievalResult, Decision]:
        retriever = self._live.get()
        result = retriever.search(text, vector=vector)
        return result, decide(result, retriever.kb, retriever.params, mood=mood, just_answered=just_answered, wants_person=wants_person)

    def entry(self, entry_id: str) -> Optional[Entry]:
        return self._live.get().kb.get(entry_id)

    def news_about(self, entry: Entry) -> Optional[News]:
        return self._live.get().kb.news_about(entry)


_client: Optional[KnowledgeClient] = None


def knowledge_client() -> KnowledgeClient:
    global _client
    if _client is None:
        _client = KnowledgeClient()
    return _client


def use_knowledge_client(client: Optional[KnowledgeClient]) -> None:
    """Swap the client (tests point it at a small knowledge base)."""
    global _client
    _client = client
