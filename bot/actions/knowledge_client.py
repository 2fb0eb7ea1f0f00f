"""The actions' way to the knowledge base. Local mode (the only one so far): an in-process retriever
that follows reindexing, installed by the action server (supportbot/action_server.py) with the configured
knowledge folder, index folder and encoder."""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from knowledge.decision import Verdict, assess
from knowledge.encoders import unpack_vector
from knowledge.model import Entry, News
from knowledge.live import LiveRetriever
from knowledge.retriever import RetrievalResult


class KnowledgeClient:
    def __init__(self, live: LiveRetriever):
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

    def consult(self, text: str, just_answered: Optional[str] = None,
                vector: Optional[np.ndarray] = None) -> Tuple[RetrievalResult, Verdict]:
        """The retrieval and the knowledge's verdict; `just_answered`: the entry the bot answered with right before."""
        retriever = self._live.get()
        result = retriever.search(text, vector=vector)
        return result, assess(result, retriever.kb, retriever.params, just_answered=just_answered)

    def entry(self, entry_id: str) -> Optional[Entry]:
        return self._live.get().kb.get(entry_id)

    def news_about(self, entry: Entry) -> Optional[News]:
        return self._live.get().kb.news_about(entry)


_client: Optional[KnowledgeClient] = None


def knowledge_client() -> KnowledgeClient:
    if _client is None:
        raise RuntimeError("no knowledge client is installed: the action server (supportbot/action_server.py) "
                           "installs one with use_knowledge_client")
    return _client


def use_knowledge_client(client: Optional[KnowledgeClient]) -> None:
    """Install the client: the action server's, with the configured knowledge (tests: a small knowledge base)."""
    global _client
    _client = client
