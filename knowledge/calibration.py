"""Fits the decision to one knowledge base at index time, with no labelled data from the editor.

The knowledge is turned into its own test:
- each example question, scored as a new message with itself left out (its entry must still come first);
- each entry's questions, scored with the whole entry left out: an in-domain question the FAQ does not answer;
- a bundled set of generic out-of-scope messages in et, ru and en (knowledge/data/generic_out_of_scope.yml).
The fusion weights are chosen for top-1 on the first kind; a logistic regression over the evidence of the top
entry then learns when the top entry is right, and the thresholds on it are set for the utility of the answers
(a right answer +1, a wrong one -wrong_answer_cost). The language is not a feature: an entry whose questions
are only in English must not make Russian messages look out of scope."""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import product
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import yaml
from sklearn.linear_model import LogisticRegression

from knowledge.classifier import STRENGTH, train_classifier
from knowledge.index import ANSWER, QUESTION, SENTENCE
from knowledge.params import DEFAULT_FUSION, EVIDENCE, FEATURES, DecisionParams
from knowledge.retriever import MASKED, Retriever
from knowledge.text import fold_for_matching

NEGATIVES_FILE = Path(__file__).resolve().parent / "data" / "generic_out_of_scope.yml"
CALIBRATED_FEATURES = 6  # score, margin, agreement, question, classifier, lexical: not the language flags
POSITIVE, LEFT_OUT_ENTRY, GENERIC = 0, 1, 2
LARGE_KNOWLEDGE_TEXTS = 2000


@dataclass(frozen=True)
class CalibrationSettings:
    """The few choices the calibration itself cannot make; chosen across knowledge bases (supportbot eval
    knowledge), never on the one being calibrated."""

    wrong_answer_cost: float = 3.0
    negative_weight: float = 0.5  # the negatives' total weight, relative to the pseudo-questions'
    answer_shift: float = 0.0  # moves the answer threshold, in logits (negative: answer more readily)
    clarify_cost: float = 2.0  # an out-of-scope message offered "did you mean…?", against a helpful offer
    fusion: Optional[Tuple[float, float, float, float]] = (0.25, 0.25, 0.25, 0.25)  # EVIDENCE order; None: fitted
    # which example questions are hidden when one is scored as a new message: "self" only, or every question of
    # its entry in its language (as when a customer writes in a language the entry has no questions in)
    hide: str = "self"
    folds: int = 5
    left_out_per_entry: int = 3
    max_pseudo_questions: int = 800

    def fixed_fusion(self) -> Optional[Dict[str, float]]:
        return dict(zip(EVIDENCE, self.fusion)) if self.fusion is not None else None


CALIBRATION_VERSION = 4  # raise when the calibration's method changes: every index is then recalibrated


def calibration_fingerprint(settings: Optional[CalibrationSettings] = None) -> str:
    """What an index's calibration depends on besides the knowledge: the method, its settings, the negatives."""
    digest = hashlib.sha256(f"{CALIBRATION_VERSION}\0{settings or CalibrationSettings()!r}\0{STRENGTH}".encode())
    digest.update(NEGATIVES_FILE.read_bytes())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=2)
def negative_texts(path: str = str(NEGATIVES_FILE)) -> List[str]:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return [text for language in sorted(raw) for text in raw[language]]


@dataclass
class CalibrationData:
    """The knowledge's own test, scored once: evidence per sample (samples x entries) and what was right."""

    evidence: Dict[str, np.ndarray]
    excluded: np.ndarray  # samples x entries: entries left out of a sample's ranking
    nearest_entries: np.ndarray  # samples x 5: entries of the nearest example questions (-1: none)
    gold: np.ndarray  # entry position, -1 for the negatives
    kind: np.ndarray  # POSITIVE, LEFT_OUT_ENTRY or GENERIC
    entry_count: int = 0

    def features(self, fusion: Dict[str, float]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(features, top entry right, right entry among the first three) under `fusion`."""
        return fused_features(self.evidence, self.excluded, self.nearest_entries, self.gold, fusion)


def fused_features(evidence: Dict[str, np.ndarray], excluded: np.ndarray, nearest_entries: np.ndarray,
                   gold: np.ndarray, fusion: Dict[str, float], options: int = 3):
    fused = sum(fusion.get(name, 0.0) * evidence[name] for name in EVIDENCE)
    fused = np.where(excluded, -np.inf, fused)
    n = fused.shape[0]
    order = np.argsort(-fused, axis=1)[:, :max(options, 2)]
    rows = np.arange(n)
    top, second = order[:, 0], order[:, 1]
    top_score = fused[rows, top]
    second_score = fused[rows, second]
    margin = np.where(np.isfinite(second_score), top_score - second_score, top_score)
    valid = nearest_entries >= 0
    agreement = np.where(valid.any(axis=1),
                         (nearest_entries == top[:, None]).sum(axis=1) / np.maximum(valid.sum(axis=1), 1), 0.0)
    features = np.zeros((n, len(FEATURES)), dtype=np.float64)
    features[:, 0] = top_score
    features[:, 1] = margin
    features[:, 2] = agreement
    features[:, 3] = evidence["question"][rows, top]
    features[:, 4] = evidence["classifier"][rows, top]
    features[:, 5] = evidence["lexical"][rows, top]
    right = top == gold
    in_options = (order[:, :options] == gold[:, None]).any(axis=1) & (gold >= 0)
    return features, right, in_options


def collect(retriever: Retriever, negatives: Sequence[str], negative_vectors: np.ndarray,
            settings: CalibrationSettings) -> Optional[CalibrationData]:
    """Score the knowledge's own test on `retriever` (built on this knowledge, before it is published)."""
    rows = retriever.index.rows
    vectors = retriever._vectors
    n_entries = len(retriever.entry_ids)
    position = {entry_id: i for i, entry_id in enumerate(retriever.entry_ids)}
    questions = [i for i, row in enumerate(rows) if row.kind == QUESTION]
    stand_in = not questions  # answers only: their sentences stand in for the questions
    if stand_in:
        questions = [i for i, row in enumerate(rows) if row.kind == SENTENCE]
    if not questions or n_entries < 2:
        return None
    if len(questions) > settings.max_pseudo_questions:  # a large knowledge base: a sample tells as much
        picked = np.random.default_rng(0).choice(len(questions), settings.max_pseudo_questions, replace=False)
        questions = sorted(questions[k] for k in picked)
    row_entry = retriever._row_entry
    folded = [fold_for_matching(row.text) for row in rows]
    out_of_fold = _out_of_fold_probabilities(retriever, questions, settings.folds)

    # 1. every example question with itself (or its entry's questions in its language) left out
    own = np.zeros((len(questions), len(rows)), dtype=bool)
    own[np.arange(len(questions)), questions] = True
    if stand_in:  # a sentence is part of its answer: hide the answer too
        languages = np.array([row.language for row in rows])
        for k, i in enumerate(questions):
            own[k] |= (row_entry == row_entry[i]) & (languages == rows[i].language) & (retriever._row_kind == ANSWER)
    if settings.hide == "language":
        languages = np.array([row.language for row in rows])
        kinds = np.array([row.kind for row in rows])
        for k, i in enumerate(questions):
            own[k] |= (row_entry == row_entry[i]) & (languages == rows[i].language) & (kinds == QUESTION)
    positive = retriever.evidence_from(vectors[questions], [folded[i] for i in questions], own, out_of_fold)
    positive_excluded = np.zeros((len(questions), n_entries), dtype=bool)

    # 2. an entry's questions with the whole entry left out
    rng = np.random.default_rng(0)
    left_out: List[int] = []
    for entry_position in range(n_entries):
        mine = [k for k, i in enumerate(questions) if row_entry[i] == entry_position]
        if mine:
            left_out.extend(rng.permutation(mine)[: settings.left_out_per_entry].tolist())
    left_entries = np.array([row_entry[questions[k]] for k in left_out], dtype=np.int64)
    entry_rows = row_entry[None, :] == left_entries[:, None]
    probabilities = out_of_fold[left_out].copy()
    probabilities[np.arange(len(left_out)), left_entries] = 0.0
    foreign = retriever.evidence_from(vectors[[questions[k] for k in left_out]],
                                      [folded[questions[k]] for k in left_out], entry_rows, probabilities)
    foreign_excluded = np.zeros((len(left_out), n_entries), dtype=bool)
    foreign_excluded[np.arange(len(left_out)), left_entries] = True

    # 3. generic out-of-scope messages
    generic = retriever.evidence_from(negative_vectors, [fold_for_matching(t) for t in negatives])
    generic_excluded = np.zeros((len(negatives), n_entries), dtype=bool)

    parts = (positive, foreign, generic)
    evidence = {name: np.vstack([part[name] for part in parts]) for name in EVIDENCE}
    dense = np.vstack([part["_dense"] for part in parts])[:, retriever._question_rows]
    nearest = np.argsort(-dense, axis=1)[:, :5]
    nearest_entries = np.where(np.take_along_axis(dense, nearest, axis=1) > MASKED,
                               retriever._row_entry[retriever._question_rows][nearest], -1)
    gold = np.r_[np.array([position[rows[i].entry_id] for i in questions]),
                 -np.ones(len(left_out) + len(negatives), dtype=np.int64)]
    kind = np.r_[np.full(len(questions), POSITIVE), np.full(len(left_out), LEFT_OUT_ENTRY),
                 np.full(len(negatives), GENERIC)]
    excluded = np.vstack([positive_excluded, foreign_excluded, generic_excluded])
    return CalibrationData(evidence, excluded, nearest_entries, gold, kind, n_entries)


def _out_of_fold_probabilities(retriever: Retriever, questions: List[int], folds: int) -> np.ndarray:
    """The classifier's probabilities for each example question from a classifier that did not see it."""
    rows, vectors = retriever.index.rows, retriever._vectors
    position = {entry_id: i for i, entry_id in enumerate(retriever.entry_ids)}
    out = np.zeros((len(questions), len(retriever.entry_ids)), dtype=np.float32)
    if retriever.index.classifier is None:
        return out
    # a fold hides a fifth of the questions; on a large knowledge base, whose questions are sampled, fewer folds
    # hide as little of its texts, and each refit of the classifier is the costly part of indexing
    if len(rows) > LARGE_KNOWLEDGE_TEXTS:
        folds = max(2, min(folds, math.ceil(5 * len(questions) / len(rows))))
    fold_of = np.arange(len(questions)) % folds
    np.random.default_rng(0).shuffle(fold_of)
    for fold in np.unique(fold_of):
        held = np.flatnonzero(fold_of == fold)
        held_out_rows = {questions[k] for k in held}
        train = [i for i in range(len(rows)) if i not in held_out_rows]
        classifier, labels = train_classifier(rows, vectors, positions=train, start=retriever.index.classifier)
        if classifier is None:
            continue
        columns = [position[label] for label in labels]
        out[np.ix_(held, columns)] = classifier.predict_proba(vectors[[questions[k] for k in held]])
    return out


def fusion_grid(step: float = 0.1) -> List[Dict[str, float]]:
    ticks = np.round(np.arange(0.0, 1.0 + 1e-9, step), 2)
    grid = []
    for weights in product(ticks, repeat=len(EVIDENCE) - 1):
        last = round(1.0 - sum(weights), 2)
        if last >= -1e-9:
            grid.append(dict(zip(EVIDENCE, [*map(float, weights), max(last, 0.0)])))
    return grid


def choose_fusion(data: CalibrationData) -> Dict[str, float]:
    """The weights under which the left-out example questions find their entry most often; among near
    ties, the ones closest to the defaults (a small knowledge base cannot tell the weights apart)."""
    positives = data.kind == POSITIVE
    evidence = {name: matrix[positives] for name, matrix in data.evidence.items()}
    gold = data.gold[positives]

    def accuracy(fusion: Dict[str, float]) -> float:
        fused = sum(fusion[name] * evidence[name] for name in EVIDENCE)
        return float(np.mean(np.argmax(fused, axis=1) == gold))

    def distance(fusion: Dict[str, float]) -> float:
        return sum(abs(fusion[name] - DEFAULT_FUSION[name]) for name in EVIDENCE)

    scored = [(accuracy(f), f) for f in fusion_grid()]
    best = max(score for score, _ in scored)
    tolerance = 1.0 / max(len(gold), 1)
    return min((f for score, f in scored if score >= best - tolerance), key=distance)


def fit(data: CalibrationData, settings: CalibrationSettings, fusion: Optional[Dict[str, float]] = None,
        entry_count: int = 0) -> DecisionParams:
    fusion = fusion or settings.fixed_fusion() or choose_fusion(data)
    features, right, in_options = data.features(fusion)
    X = features[:, :CALIBRATED_FEATURES]
    y = right.astype(int)
    weights = _sample_weights(data.kind, settings.negative_weight)
    params = DecisionParams(fusion=fusion, tuned_on=f"its own knowledge ({entry_count or data.entry_count} entries)")
    if len(set(y)) > 1:
        model = LogisticRegression(C=1.0, max_iter=2000)
        model.fit(X, y, sample_weight=weights)
        params.coefficients = [round(float(c), 5) for c in model.coef_[0]] + [0.0] * (len(FEATURES) - CALIBRATED_FEATURES)
        params.intercept = round(float(model.intercept_[0]), 5)
    p = np.array([params.confidence_of(row) for row in features])
    _set_thresholds(params, p, right, in_options, data.kind, weights, settings)
    return params


def _sample_weights(kind: np.ndarray, negative_weight: float) -> np.ndarray:
    weights = np.ones(len(kind), dtype=np.float64)
    n_positive = max(int(np.sum(kind == POSITIVE)), 1)
    negative_kinds = [k for k in (LEFT_OUT_ENTRY, GENERIC) if np.any(kind == k)]
    for k in negative_kinds:
        weights[kind == k] = negative_weight * n_positive / len(negative_kinds) / np.sum(kind == k)
    return weights


def _set_thresholds(params: DecisionParams, p: np.ndarray, right: np.ndarray, in_options: np.ndarray,
                    kind: np.ndarray, weights: np.ndarray, settings: CalibrationSettings) -> None:
    positive = kind == POSITIVE
    gain = np.where(positive & right, 1.0, -settings.wrong_answer_cost) * weights

    def utility(threshold: float) -> float:
        return float(np.sum(gain[p >= threshold]))

    candidates = np.unique(np.round(np.r_[p, 0.5], 4))
    answer = float(max(candidates, key=utility))
    if settings.answer_shift:
        logit = math.log(max(answer, 1e-6) / max(1 - answer, 1e-6)) + settings.answer_shift
        answer = 1.0 / (1.0 + math.exp(-logit))
    # Below the answer threshold the bot asks "did you mean…?" down to the boundary where out-of-scope messages
    # start to outnumber the questions whose entry would be among the options; below that it hands off.
    below = p < answer
    helpful = positive & in_options
    best = (-np.inf, answer)
    for t in np.unique(np.round(np.r_[p[below], answer], 4)):
        band = below & (p >= t)
        score = np.sum(weights[band & helpful]) - settings.clarify_cost * np.sum(weights[band & ~positive]) \
            - 0.5 * np.sum(weights[band & positive & ~helpful])
        if score > best[0]:
            best = (score, float(t))
    clarify = best[1]
    params.answer_threshold = round(answer, 4)
    params.clarify_threshold = round(clarify, 4)
    params.out_of_scope_threshold = round(clarify, 4)


def calibrate(retriever: Retriever, negatives: Sequence[str], negative_vectors: np.ndarray,
              settings: CalibrationSettings) -> DecisionParams:
    data = collect(retriever, negatives, negative_vectors, settings)
    if data is None:
        return DecisionParams(tuned_on="untuned defaults: the knowledge has too few example questions to calibrate")
    return fit(data, settings, entry_count=len(retriever.entry_ids))
