"""The sentiment detector: one message, read with the customer's earlier messages, is calm, upset or rude."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from knowledge.encoders import load_encoder
from protocol.moods import Mood
from signals.sentiment.cues import Lexicon, all_cues, cue_vector, has_rude_words, signals_of
from signals.sentiment.fitting import (
    DEFAULT_MODEL_DIR, DEV_FILE, LEXICON_FILE, ROUTINE_KNOWLEDGE_DIR, TRAIN_FILES, SentimentModel, load_or_fit,
)


@dataclass(frozen=True)
class Sentiment:
    label: str  # a Mood: calm, upset or rude
    upset: float  # 0..1
    rude: float  # 0..1
    signals: Tuple[str, ...]  # human-readable cues, e.g. ("caps", "exclamations", "insult_lexicon")


class SentimentDetector:
    def __init__(
        self,
        encoder=None,
        model_dir: Optional[Path] = None,
        train_files: Sequence[Path] = TRAIN_FILES,
        dev_file: Optional[Path] = DEV_FILE,
        lexicon_file: Path = LEXICON_FILE,
        model: Optional[SentimentModel] = None,
        routine_knowledge_dir: Optional[Path] = None,
    ):
        """The model is read from `model_dir` (by default the project's models/), or fitted and cached there;
        `model` skips both. `encoder`: by default the project's default encoder. `routine_knowledge_dir`: the
        knowledge whose example questions tune the thresholds as ordinary ones, by default the shipped demo."""
        self.encoder = encoder if encoder is not None else load_encoder("")
        self.lexicon = Lexicon.load(lexicon_file)
        self.model_dir = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        self.model = model or load_or_fit(
            list(train_files), dev_file, lexicon_file, self.lexicon, self.encoder, self.model_dir,
            routine_knowledge_dir if routine_knowledge_dir is not None else ROUTINE_KNOWLEDGE_DIR,
        )

    def assess(self, text: str, language: str = "en", earlier_customer_texts: Sequence[str] = (),
               vector: Optional[np.ndarray] = None) -> Sentiment:
        """`language` is a hint only: the cues of every language are checked. `vector`: the text's embedding by
        this detector's encoder, when the caller has it already."""
        vectors = None if vector is None else np.asarray(vector, np.float32).reshape(1, -1)
        return self.assess_many([text], [tuple(earlier_customer_texts)], vectors=vectors)[0]

    def assess_many(self, texts: Sequence[str], earlier: Sequence[Sequence[str]] = (),
                    vectors: Optional[np.ndarray] = None) -> List[Sentiment]:
        """Several messages at once (one batch through the encoder); `earlier` per message, or none."""
        earlier = list(earlier) or [()] * len(texts)
        if not texts:
            return []
        cues = [all_cues(t or "", e, self.lexicon) for t, e in zip(texts, earlier)]
        if vectors is None:
            vectors = self.encoder.encode_queries([t or "" for t in texts])
        probabilities = self.model.probabilities(vectors, np.vstack([cue_vector(c) for c in cues]))
        results = []
        for text, cue, (_, upset, rude) in zip(texts, cues, probabilities):
            if not (text or "").strip():
                results.append(Sentiment(Mood.CALM, 0.0, 0.0, ()))
                continue
            label = self.model.thresholds.label(upset, rude, has_rude_words(cue))
            results.append(Sentiment(label, round(float(upset), 4), round(float(rude), 4), signals_of(cue)))
        return results


_detector: Optional[SentimentDetector] = None
_detector_lock = threading.Lock()


def sentiment_detector() -> SentimentDetector:
    """The process-wide detector: the one installed by use_sentiment_detector, or else one with the defaults,
    built lazily (thread-safe) on first use."""
    global _detector
    if _detector is None:
        with _detector_lock:
            if _detector is None:
                _detector = SentimentDetector()
    return _detector


def use_sentiment_detector(detector: SentimentDetector) -> None:
    """Install the process-wide detector (the action server's, with the configured encoder and model folder)."""
    global _detector
    with _detector_lock:
        _detector = detector
