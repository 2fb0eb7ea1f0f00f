"""Scores every knowledge entry against a customer message and returns the evidence for the decision."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np

from knowledge.encoders import Encoder
from knowledge.index import ANSWER, QUESTION, IndexMismatch, LoadedIndex
from knowledge.model import KnowledgeBase
from knowledge.params import EVIDENCE, DecisionParams
from knowledge.text import DetectedLanguage, fold_for_matching, normalize_query

MASKED = -2.0  # below any cosine similarity: a row left out of the comparison


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
    """Queries one index. Its decision parameters are the index's own (fitted at index time) unless given."""

    def __init__(self, kb: KnowledgeBase, index: LoadedIndex, encoder: Encoder, params: Optional[DecisionParams] = None):
        if index.manifest.encoder != encoder.name:
            raise IndexMismatch(f"index built with {index.manifest.encoder}, encoder is {encoder.name}")
        self.kb = kb
        self.index = index
        self.encoder = encoder
        self.params = params or index.decision_params()
        self.entry_ids = kb.ids()
        position = {entry_id: i for i, entry_id in enumerate(self.entry_ids)}
        self._row_entry = np.array([position[row.entry_id] for row in index.rows], dtype=np.int64)
        self._row_kind = np.array([row.kind for row in index.rows])
        self._question_rows = np.flatnonzero(self._row_kind == QUESTION)
        self._answer_rows = np.flatnonzero(self._row_kind == ANSWER)
        self._vectors = index.row_vectors()
        self._classifier_columns = np.array([position[label] for label in index.classifier_labels], dtype=np.int64)

    def search(self, text: str, k: int = 5, vector: Optional[np.ndarray] = None) -> RetrievalResult:
        """`vector`: the text's embedding, when the caller has it already."""
        return self.search_many([text], k=k, vectors=None if vector is None else [vector])[0]

    @property
    def fusion(self) -> Dict[str, float]:
        return self.params.fusion

    def search_many(self, texts: Sequence[str], k: int = 5,
                    vectors: Optional[Sequence[Optional[np.ndarray]]] = None) -> List[RetrievalResult]:
        normalised = [normalize_query(text) for text in texts]
        cores = [core for core, _ in normalised]
        # a text's vector serves when the text needed no trimming; otherwise its core is embedded
        known = [v if v is not None and core == text else None
                 for v, core, text in zip(vectors or [None] * len(texts), cores, texts)]
        evidence = self.evidence(cores, known)
        return self.rank(texts, normalised, evidence, k=k)

    def rank(self, texts: Sequence[str], normalised: Sequence[tuple], evidence: Dict[str, np.ndarray], k: int = 5,
             fusion: Optional[Dict[str, float]] = None) -> List[RetrievalResult]:
        """Fuse the evidence and keep the k best entries of each message; entries scored -inf are left out."""
        fusion = fusion or self.fusion
        fused = sum(fusion.get(name, 0.0) * evidence[name] for name in EVIDENCE)
        if "_excluded" in evidence:
            fused = np.where(evidence["_excluded"], -np.inf, fused)
        dense_questions = None
        if self._question_rows.size:
            dense_questions = evidence["_dense"][:, self._question_rows]
        results = []
        for i, (text, (core, language)) in enumerate(zip(texts, normalised)):
            order = [j for j in np.argsort(-fused[i])[:k] if np.isfinite(fused[i, j])]
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
                row_scores = dense_questions[i]
                nearest = np.argsort(-row_scores)[:5]
                nearest = nearest[row_scores[nearest] > MASKED]
                if nearest.size:
                    agreement = float(np.mean(self._row_entry[self._question_rows[nearest]] == order[0]))
            results.append(RetrievalResult(text, core, language, candidates, agreement))
        return results

    def evidence(self, cores: Sequence[str], known: Optional[Sequence[Optional[np.ndarray]]] = None) -> Dict[str, np.ndarray]:
        """Per-entry evidence matrices (messages x entries), each on a 0..1-ish scale. `known`: vectors of the
        cores embedded already (None where not)."""
        known = list(known or [None] * len(cores))
        missing = [i for i, vector in enumerate(known) if vector is None]
        if missing:
            for i, vector in zip(missing, self.encoder.encode_queries([cores[i] for i in missing])):
                known[i] = vector
        queries = np.vstack(known).astype(np.float32) if known else np.zeros((0, self.encoder.dim), np.float32)
        return self.evidence_from(queries, [fold_for_matching(c) for c in cores])

    def evidence_from(self, queries: np.ndarray, folded: Sequence[str], masked_rows: Optional[np.ndarray] = None,
                      classifier: Optional[np.ndarray] = None) -> Dict[str, np.ndarray]:
        """The evidence for embedded messages. `masked_rows` (messages x rows, bool) leaves rows out of each
        message's comparison, and `classifier` replaces the classifier's probabilities: the calibration uses
        both to score an entry's own example questions as if they were new."""
        n_entries = len(self.entry_ids)
        dense = queries @ self._vectors.T
        lexical_rows = self.index.lexical.similarities(list(folded))
        if masked_rows is not None:
            dense = np.where(masked_rows, MASKED, dense)
            lexical_rows = np.where(masked_rows, 0.0, lexical_rows)
        answer = _grouped_max(dense[:, self._answer_rows], self._row_entry[self._answer_rows], n_entries, MASKED)
        question = _grouped_max(dense[:, self._question_rows], self._row_entry[self._question_rows], n_entries, MASKED)
        answer = np.maximum(answer, 0.0)
        no_questions = question <= MASKED
        question[no_questions] = answer[no_questions]
        lexical = _grouped_max(lexical_rows, self._row_entry, n_entries, 0.0)
        if classifier is None:
            classifier = np.zeros((len(folded), n_entries), dtype=np.float32)
            if self.index.classifier is not None:
                classifier[:, self._classifier_columns] = self.index.classifier.predict_proba(queries)
        return {"question": question, "answer": answer, "lexical": lexical, "classifier": classifier, "_dense": dense}
