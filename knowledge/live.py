"""Serving the knowledge: open an index (building and calibrating it when it is missing or out of date), and
follow reindexing while the bot runs, keeping the last good index when a new one cannot be loaded."""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Optional

from knowledge.encoders import load_encoder
from knowledge.index import IndexMismatch, load_index
from knowledge.indexing import ensure_index
from knowledge.loader import KnowledgeError, load_knowledge
from knowledge.publishing import published_knowledge
from knowledge.retriever import Retriever

log = logging.getLogger(__name__)


class LiveRetriever:
    """A retriever that follows reindexing: it reloads when the index on disk changes, and keeps
    serving the last good index when the new one cannot be loaded."""

    def __init__(self, knowledge_dir: Path, index_dir: Path, encoder: str = ""):
        self.knowledge_dir = Path(knowledge_dir)
        self.index_dir = Path(index_dir)
        self.encoder_spec = encoder
        self._lock = threading.Lock()
        self._current: Optional[Retriever] = None
        self._loaded_stamp: Optional[float] = None

    def _stamp(self) -> Optional[float]:
        try:
            return os.stat(self.index_dir / "manifest.json").st_mtime
        except FileNotFoundError:
            return None

    def get(self) -> Retriever:
        stamp = self._stamp()
        if self._current is not None and stamp == self._loaded_stamp:
            return self._current
        with self._lock:
            stamp = self._stamp()
            if self._current is not None and stamp == self._loaded_stamp:
                return self._current
            try:
                self._current = open_retriever(self.knowledge_dir, self.index_dir, self.encoder_spec, build_if_missing=self._current is None)
                # the stamp seen before loading, so that an index published during the load is loaded at the
                # next call (unless the index was only now built)
                self._loaded_stamp = stamp if stamp is not None else self._stamp()
                log.info("knowledge index loaded from %s (%d entries)", self.index_dir, len(self._current.kb))
            except (KnowledgeError, IndexMismatch, FileNotFoundError, OSError, ValueError) as error:
                if self._current is None:
                    raise
                log.error("keeping the previous knowledge index; the new one failed to load: %s", error)
                self._loaded_stamp = stamp
        return self._current


def open_retriever(
    knowledge_dir: Path,
    index_dir: Path,
    encoder: str = "",
    build_if_missing: bool = True,
) -> Retriever:
    """Load the knowledge and its index; build (and calibrate) the index first when it is missing or out of date.
    A published index (knowledge.publishing) is served with the knowledge it was built from, and never rebuilt
    here: only publishing replaces it."""
    directory = Path(index_dir)
    published = published_knowledge(directory)
    kb = load_knowledge(published or knowledge_dir)
    model = load_encoder(encoder)
    if build_if_missing and published is None:
        report = ensure_index(kb, model, directory)
        if report is not None:
            log.info("%s", report.summary())
    return Retriever(kb, load_index(directory, kb=kb, encoder_name=model.name), model)
