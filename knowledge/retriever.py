"""Scores every knowledge entry against a customer message and returns the evidence for the decision."""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from knowledge.encoders import Encoder, load_encoder
from knowledge.index import ANSWER, QUESTION, IndexMismatch, LoadedIndex, build_index, default_index_dir, load_index
from knowledge.loader import KnowledgeError, load_knowledge
from knowledge.model import KnowledgeBase
from knowledge.text import DetectedLanguage, fold_for_matching, normalize_query

log = logging.getLogger(__name__)

EVIDENCE = ("question", "answer", "lexical", "classifier")
DEFAULT_FUSION = {"question": 0.45, "answer": 0.15, "lexical": 0.15, "classifier": 0.25}


@dataclass
class Candidate:
    entry_id: str
    score: float
    evidence: Dict[str, float]


@dataclass
class RetrievalResult:
    text: str
    core_text: str
    language: DetectedLanguage
    candidates: List[Candidate]
    agreement: float = 0.0  # share of the nearest example questions that belong to the top entry

    @property
    def top(self) -> Optional[Candidate]:
        return self.candidates[0] if self.candidates else None

    @property
    def margin(self) -> float:
        if len(self.candidates) < 2:
            return self.candidates[0].score if self.candidates else 0.0
        return self.candidates[0].score - self.candidates[1].score


def _grouped_max(scores: np.ndarray, groups: np.ndarray, n_groups: int, fill: float) -> np.ndarray:
    out = np.full((scores.shape[0], n_groups), fill, dtype=np.float32)
    if groups.size == 0:
        return out
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    out[:, sorted_groups[starts]] = np.maximum.reduceat(scores[:, order], starts, axis=1)
    return out


class Retriever:
    def __init__(self, kb: KnowledgeBase, index: LoadedIndex, encoder: Encoder, fusion: Optional[Dict[str, float]] = None):
        if index.manifest.encoder != encoder.name:
            raise IndexMismatch(f"index built with {index.manifest.encoder}, encoder is {encoder.name}")
        self.kb = kb
        self.index = index
        self.encoder = encoder
        self.fusion = dict(fusion or DEFAULT_FUSION)
        self.entry_ids = kb.ids()
        position = {entry_id: i for i, entry_id in enumerate(self.entry_ids)}
        self._row_entry = np.array([position[row.entry_id] for row in index.rows], dtype=np.int64)
        self._row_kind = np.array([row.kind for row in index.rows])
        self._question_rows = np.flatnonzero(self._row_kind == QUESTION)
        self._answer_rows = np.flatnonzero(self._row_kind == ANSWER)
        self._vectors = index.row_vectors()
        self._classifier_columns = np.array([position[label] for label in index.classifier_labels], dtype=np.int64)

    def search(self, text: str, k: int = 5) -> RetrievalResult:
        return self.search_many([text], k=k)[0]

    def search_many(self, texts: Sequence[str], k: int = 5) -> List[RetrievalResult]:
        normalised = [normalize_query(text) for text in texts]
        cores = [core for core, _ in normalised]
        evidence = self.evidence(cores)
        fused = sum(self.fusion.get(name, 0.0) * evidence[name] for name in EVIDENCE)
        dense_questions = None
        if self._question_rows.size:
            dense_questions = evidence["_dense"][:, self._question_rows]
        results = []
        for i, (text, (core, language)) in enumerate(zip(texts, normalised)):
            order = np.argsort(-fused[i])[:k]
            candidates = [
                Candidate(
                    entry_id=self.entry_ids[j],
                    score=float(fused[i, j]),
                    evidence={name: float(evidence[name][i, j]) for name in EVIDENCE},
                )
                for j in order
            ]
            agreement = 0.0
            if dense_questions is not None and candidates:
                nearest = np.argsort(-dense_questions[i])[:5]
                agreement = float(np.mean(self._row_entry[self._question_rows[nearest]] == order[0]))
            results.append(RetrievalResult(text, core, language, candidates, agreement))
        return results

    def evidence(self, cores: Sequence[str]) -> Dict[str, np.ndarray]:
        """Per-entry evidence matrices (messages x entries), each on a 0..1-ish scale."""
        n_entries = len(self.entry_ids)
        queries = self.encoder.encode_queries(list(cores))
        dense = queries @ self._vectors.T
        answer = _grouped_max(dense[:, self._answer_rows], self._row_entry[self._answer_rows], n_entries, 0.0)
        question = _grouped_max(dense[:, self._question_rows], self._row_entry[self._question_rows], n_entries, 0.0)
        no_questions = question == 0.0
        question[no_questions] = answer[no_questions]
        lexical_rows = self.index.lexical.similarities([fold_for_matching(c) for c in cores])
        lexical = _grouped_max(lexical_rows, self._row_entry, n_entries, 0.0)
        classifier = np.zeros((len(cores), n_entries), dtype=np.float32)
        if self.index.classifier is not None:
            classifier[:, self._classifier_columns] = self.index.classifier.predict_proba(queries)
        return {"question": question, "answer": answer, "lexical": lexical, "classifier": classifier, "_dense": dense}


class LiveRetriever:
    """A retriever that follows reindexing: it reloads when the index on disk changes, and keeps
    serving the last good index when the new one cannot be loaded."""

    def __init__(self, knowledge_dir: Optional[Path] = None, index_dir: Optional[Path] = None, encoder: str = ""):
        self.knowledge_dir = Path(knowledge_dir) if knowledge_dir else None
        self.index_dir = Path(index_dir) if index_dir else default_index_dir()
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
                self._loaded_stamp = self._stamp()
                log.info("knowledge index loaded from %s (%d entries)", self.index_dir, len(self._current.kb))
            except (KnowledgeError, IndexMismatch, FileNotFoundError, OSError, ValueError) as error:
                if self._current is None:
                    raise
                log.error("keeping the previous knowledge index; the new one failed to load: %s", error)
                self._loaded_stamp = stamp
        return self._current


def open_retriever(
    knowledge_dir: Optional[Path] = None,
    index_dir: Optional[Path] = None,
    encoder: str = "",
    build_if_missing: bool = True,
    fusion: Optional[Dict[str, float]] = None,
) -> Retriever:
    """Load the knowledge and its index; build the index first when it is missing or out of date."""
    from knowledge.decision import load_decision_params

    kb = load_knowledge(knowledge_dir)
    model = load_encoder(encoder)
    directory = Path(index_dir) if index_dir else default_index_dir()
    try:
        index = load_index(directory, kb=kb, encoder_name=model.name)
    except (FileNotFoundError, IndexMismatch) as problem:
        if not build_if_missing:
            raise
        log.info("building the knowledge index: %s", problem)
        build_index(kb, model, directory)
        index = load_index(directory, kb=kb, encoder_name=model.name)
    return Retriever(kb, index, model, fusion=fusion or load_decision_params().fusion)
