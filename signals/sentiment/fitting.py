"""Fitting the sentiment model: the labelled examples, their features (the sentence embedding and the cues), one
logistic regression, the thresholds chosen on the dev split, and the cache of the fitted model."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from knowledge.loader import knowledge_files, load_knowledge
from protocol.moods import Mood
from signals.sentiment.cues import Lexicon, all_cues, cue_vector, has_rude_words

log = logging.getLogger(__name__)

LABELS = Mood.all()  # the order of the classifier's columns
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = PROJECT_ROOT / "signals" / "data" / "sentiment"
TRAIN_FILES = (DATA_DIR / "train.jsonl",)
DEV_FILE = DATA_DIR / "dev.jsonl"
LEXICON_FILE = DATA_DIR / "lexicon.yml"
# Part of the cache key: bump it when the features or the fitting change.
MODEL_VERSION = "7"  # 7: the classes moved to signals.sentiment.fitting, which older pickles do not name
# Ordinary questions for tuning the thresholds: the example questions of the shipped demo knowledge base.
ROUTINE_KNOWLEDGE_DIR = PROJECT_ROOT / "knowledge" / "demo"
# Where the fitted model is cached unless the caller says otherwise: the folder MODEL_DIR defaults to in
# supportbot/settings.py.
DEFAULT_MODEL_DIR = PROJECT_ROOT / "models"


@dataclass(frozen=True)
class Example:
    text: str
    language: str
    label: str
    kind: str = ""
    earlier: Tuple[str, ...] = ()


def routine_questions(knowledge_dir: Path = ROUTINE_KNOWLEDGE_DIR) -> List[Example]:
    kb = load_knowledge(knowledge_dir)
    return [Example(q, language, Mood.CALM, "routine") for entry in kb.entries
            for language, questions in entry.questions.items() for q in questions]


def load_examples(path: Path) -> List[Example]:
    examples = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row["label"] not in LABELS:
            raise ValueError(f"{path}:{number}: label must be one of {LABELS}, not {row['label']!r}")
        examples.append(Example(row["text"], row.get("language", "en"), row["label"], row.get("kind", ""),
                                tuple(row.get("earlier") or ())))
    return examples


# ---------------------------------------------------------------- the model


@dataclass
class Thresholds:
    rude: float  # P(rude) at or above, with a rude word in the message: rude
    flag: float  # P(upset) + P(rude) at or above: upset (or rude, with a rude word)
    rude_unmarked: float = 1.0  # P(rude) needed without any rude word: short routine questions must not be "rude"

    def label(self, upset: float, rude: float, marked: bool = True) -> str:
        if rude >= (self.rude if marked else max(self.rude, self.rude_unmarked)):
            return Mood.RUDE
        if upset + rude >= self.flag:
            return Mood.RUDE if marked and rude > upset else Mood.UPSET
        return Mood.CALM


@dataclass
class SentimentModel:
    classifier: object  # LogisticRegression on [sentence embedding, CUE_WEIGHT * cues]
    thresholds: Thresholds
    encoder_name: str
    dev_report: Dict[str, float] = field(default_factory=dict)

    def probabilities(self, vectors: np.ndarray, cue_rows: np.ndarray) -> np.ndarray:
        """Columns in LABELS order."""
        return self.classifier.predict_proba(model_inputs(vectors, cue_rows))


# The cues share one L2 penalty with the 384 embedding dimensions; scaled down, a cue needs a clear
# weight to matter, so a lone "still" or "!" cannot turn a routine question into a complaint.
CUE_WEIGHT = 0.3
REGULARISATION_C = 4.0


def model_inputs(vectors: np.ndarray, cue_rows: np.ndarray) -> np.ndarray:
    return np.hstack([vectors, CUE_WEIGHT * cue_rows])


def label_index(labels: Sequence[str]) -> np.ndarray:
    return np.array([LABELS.index(label) for label in labels])


def features(examples: Sequence[Example], encoder, lexicon: Lexicon) -> Tuple[np.ndarray, np.ndarray]:
    vectors = encoder.encode_queries([e.text for e in examples])
    cues = np.vstack([cue_vector(all_cues(e.text, e.earlier, lexicon)) for e in examples])
    return vectors, cues


def fit_model(train: Sequence[Example], dev: Sequence[Example], encoder, lexicon: Lexicon,
              sample_weight: Optional[np.ndarray] = None) -> SentimentModel:
    from sklearn.linear_model import LogisticRegression

    vectors, cues = features(train, encoder, lexicon)
    classifier = LogisticRegression(C=REGULARISATION_C, max_iter=5000)
    classifier.fit(model_inputs(vectors, cues), label_index([e.label for e in train]), sample_weight=sample_weight)
    model = SentimentModel(classifier, Thresholds(rude=0.5, flag=0.5), encoder.name)
    if dev:
        vectors, cue_rows = features(dev, encoder, lexicon)
        marked = [has_rude_words(all_cues(e.text, e.earlier, lexicon)) for e in dev]
        model.thresholds, model.dev_report = tune_thresholds(dev, model.probabilities(vectors, cue_rows), marked)
    return model


def tune_thresholds(dev: Sequence[Example], probabilities: np.ndarray, marked: Sequence[bool]) -> Tuple[Thresholds, Dict[str, float]]:
    """Most upset and rude caught on dev, while routine questions are almost never flagged."""
    best, best_score, best_report = None, -np.inf, {}
    grid = np.round(np.arange(0.05, 0.951, 0.025), 3)
    for rude_threshold, flag_threshold, unmarked in product(grid, grid, (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)):
        thresholds = Thresholds(float(rude_threshold), float(flag_threshold), float(unmarked))
        predicted = [thresholds.label(p[1], p[2], m) for p, m in zip(probabilities, marked)]
        report = dev_scores(dev, predicted)
        score = dev_objective(report)
        if score > best_score + 1e-9:
            best, best_score, best_report = thresholds, score, report
    return best, best_report


def dev_objective(report: Dict[str, float]) -> float:
    """A wrong handoff of a routine question costs more than a missed upset customer."""
    penalty = 6.0 * report["routine_flagged"] + 2.0 * max(0.0, report["routine_flagged"] - 0.025)
    return report["rude_recall"] + report["upset_recall"] - penalty - 2.0 * report["calm_flagged"]


def dev_scores(examples: Sequence[Example], predicted: Sequence[str]) -> Dict[str, float]:
    def share(selected, condition) -> float:
        chosen = [p for e, p in zip(examples, predicted) if selected(e)]
        return sum(condition(p) for p in chosen) / max(len(chosen), 1)

    return {
        "rude_recall": share(lambda e: e.label == Mood.RUDE, lambda p: p == Mood.RUDE),
        "upset_recall": share(lambda e: e.label == Mood.UPSET, lambda p: p == Mood.UPSET),
        "routine_flagged": share(lambda e: e.kind == "routine", lambda p: p != Mood.CALM),
        "calm_flagged": share(lambda e: e.label == Mood.CALM, lambda p: p != Mood.CALM),
    }


# ---------------------------------------------------------------- cache


def cache_key(train_files: Sequence[Path], dev_file: Optional[Path], lexicon_file: Path, encoder_name: str,
              routine_knowledge_dir: Path = ROUTINE_KNOWLEDGE_DIR) -> str:
    digest = hashlib.sha256(f"{MODEL_VERSION}\0{encoder_name}\0".encode())
    for path in [*train_files, dev_file, lexicon_file, *knowledge_files(routine_knowledge_dir)]:
        if path is not None:
            digest.update(Path(path).read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()[:16]


def cached_model_path(model_dir: Path, encoder_name: str, train_files: Sequence[Path] = TRAIN_FILES,
                      dev_file: Optional[Path] = DEV_FILE, lexicon_file: Path = LEXICON_FILE,
                      routine_knowledge_dir: Path = ROUTINE_KNOWLEDGE_DIR) -> Path:
    key = cache_key(list(train_files), dev_file, lexicon_file, encoder_name, routine_knowledge_dir)
    return Path(model_dir) / f"sentiment-{key}.joblib"


def load_or_fit(train_files, dev_file, lexicon_file, lexicon: Lexicon, encoder, model_dir: Path,
                routine_knowledge_dir: Path = ROUTINE_KNOWLEDGE_DIR) -> SentimentModel:
    import joblib

    path = cached_model_path(model_dir, encoder.name, train_files, dev_file, lexicon_file, routine_knowledge_dir)
    if path.exists():
        try:
            return joblib.load(path)
        except Exception as error:  # a damaged or incompatible cache file is simply refitted
            log.warning("refitting the sentiment model: cannot read %s (%s)", path, error)
    train = [e for f in train_files for e in load_examples(f)]
    dev = (load_examples(dev_file) + routine_questions(routine_knowledge_dir)) if dev_file else []
    model = fit_model(train, dev, encoder, lexicon)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".sentiment-", suffix=".tmp", delete=False) as tmp:
        joblib.dump(model, tmp.name)
    os.replace(tmp.name, path)  # readers never see half a file
    log.info("sentiment model fitted on %d examples, cached at %s; dev: %s", len(train), path, model.dev_report)
    return model
