"""Is the customer calm, upset or rude? One message, read with the customer's earlier messages.

One logistic regression over two kinds of input:
  - the message's sentence embedding (the project's encoder), which carries what the message is about;
  - cues a person would point at: insults and swear words from signals/data/sentiment/lexicon.yml
    (also disguised: "f*ck", "sh1t", "бл@ть", "blyat"), CAPS, "!!!", days of waiting, lost money,
    "again", and the same complaint coming back over several turns.
It is trained on the project's own support-domain examples in et, ru and en (signals/data/sentiment),
full of complaint words in routine questions, so that "my internet is not working" stays calm while
"internet down AGAIN, third day!!!" is upset. Thresholds are chosen on the dev split when the model
is fitted; the fitted model is cached under MODEL_DIR and refitted whenever the data, the lexicon or
the encoder change.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import unicodedata
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

log = logging.getLogger(__name__)

LABELS = ("calm", "upset", "rude")
CALM, UPSET, RUDE = LABELS
DATA_DIR = Path(__file__).resolve().parent / "data" / "sentiment"
TRAIN_FILES = (DATA_DIR / "train.jsonl",)
DEV_FILE = DATA_DIR / "dev.jsonl"
LEXICON_FILE = DATA_DIR / "lexicon.yml"
# Part of the cache key: bump it when the features or the fitting change.
MODEL_VERSION = "6"
# Ordinary questions for tuning the thresholds: the example questions of the shipped demo knowledge base.
ROUTINE_KNOWLEDGE_DIR = Path(__file__).resolve().parent.parent / "knowledge" / "demo"


@dataclass(frozen=True)
class Sentiment:
    label: str  # "calm" | "upset" | "rude"
    upset: float  # 0..1
    rude: float  # 0..1
    signals: Tuple[str, ...]  # human-readable cues, e.g. ("caps", "exclamations", "insult_lexicon")


@dataclass(frozen=True)
class Example:
    text: str
    language: str
    label: str
    kind: str = ""
    earlier: Tuple[str, ...] = ()


def routine_questions(knowledge_dir: Path = ROUTINE_KNOWLEDGE_DIR) -> List[Example]:
    from knowledge.loader import load_knowledge

    kb = load_knowledge(knowledge_dir)
    return [Example(q, language, CALM, "routine") for entry in kb.entries
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


# ---------------------------------------------------------------- words, undisguised

MASK = "*"
LEET_LATIN = {"@": "a", "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "$": "s", "!": "i"}
LEET_CYRILLIC = {"@": MASK, "0": "о", "3": "з", "6": "б", "$": "с"}  # "бл@ть": а or я, so unknown
LATIN_LOOKALIKES = str.maketrans("aeopcxykmthb", "аеорсхукмтнв")
CYRILLIC = re.compile(r"[а-яё]")
LATIN = re.compile(r"[a-zõäöüšž]")
SPACED_LETTERS = re.compile(r"(?<!\w)(?:[^\W\d_][ .]){2,}[^\W\d_](?!\w)")  # "F U C K", "f.u.c.k"
RAW_WORD = re.compile(r"[^\s,;:?()\"«»„“”/\\–—-]+")
EDGE_PUNCTUATION = "!.'’`´"


def normalised_words(text: str) -> List[str]:
    """Lower-case words with the usual disguises undone; masked words ("f*ck") keep their '*'."""
    text = unicodedata.normalize("NFC", text).lower()
    text = SPACED_LETTERS.sub(lambda m: re.sub(r"[ .]", "", m.group()), text)
    words = []
    for raw in RAW_WORD.findall(text):
        word = _undisguised(raw.strip(EDGE_PUNCTUATION))
        if any(ch.isalpha() for ch in word):
            words.append(word)
    return words


def _undisguised(word: str) -> str:
    if len(word) > 2 and word[0] == word[-1] == MASK:
        word = word.strip(MASK)  # *emphasis*, not a mask
    cyrillic = bool(CYRILLIC.search(word))
    if cyrillic and LATIN.search(word):
        word = word.translate(LATIN_LOOKALIKES)  # "xуй" typed with a Latin x
    if len(word) > 2:
        leet = LEET_CYRILLIC if cyrillic else LEET_LATIN
        word = word[0] + "".join(leet.get(ch, ch) for ch in word[1:-1]) + word[-1]
    return re.sub(r"(\w)\1{2,}", r"\1\1\1", word)  # "fuuuuck" -> "fuuuck", see _spellings


def _spellings(word: str) -> Tuple[str, ...]:
    """A letter typed three or more times stands for one or two ("fuuuck", "lollll")."""
    if not re.search(r"(\w)\1\1", word):
        return (word,)
    return re.sub(r"(\w)\1\1", r"\1", word), re.sub(r"(\w)\1\1", r"\1\1", word)


# ---------------------------------------------------------------- lexicon

WORD_CATEGORIES = ("insult", "accusation", "profanity", "mild_swearing", "harsh")
PATTERN_CATEGORIES = ("frustration", "waiting", "money", "repetition", "still_failing")


@dataclass
class WordList:
    """Entries "stem*" (prefix), "*stem*" (anywhere in a word), "word" (whole word), "two words"."""

    whole: set = field(default_factory=set)
    prefixes: Tuple[str, ...] = ()
    infixes: Tuple[str, ...] = ()
    phrases: Tuple[str, ...] = ()

    @classmethod
    def of(cls, entries: Iterable[str]) -> "WordList":
        words = cls()
        prefixes, infixes, phrases = [], [], []
        for entry in (e.strip().lower() for e in entries):
            if " " in entry:
                phrases.append(f" {entry} ")
            elif entry.startswith(MASK) and entry.endswith(MASK):
                infixes.append(entry.strip(MASK))
            elif entry.endswith(MASK):
                prefixes.append(entry.rstrip(MASK))
            else:
                words.whole.add(entry)
        words.prefixes, words.infixes, words.phrases = tuple(prefixes), tuple(infixes), tuple(phrases)
        return words

    def matches(self, words: Sequence[str]) -> bool:
        if any(self._matches_word(w) for w in words):
            return True
        joined = f" {' '.join(words)} "
        return any(phrase in joined for phrase in self.phrases)

    def _matches_word(self, word: str) -> bool:
        if MASK in word:
            return self._matches_masked(word)
        return any(
            s in self.whole or s.startswith(self.prefixes) or any(i in s for i in self.infixes)
            for s in _spellings(word)
        )

    def _matches_masked(self, word: str) -> bool:
        """'f*ck', 'п*здец', 'бл*': could the hidden letters make a word of this list?"""
        for template in _unmasked_templates(word):
            if any(_fits(template, stem, at=(0,), exact=True) for stem in self.whole):
                return True
            if any(_fits(template, stem, at=(0,)) for stem in self.prefixes):
                return True
            if any(_fits(template, stem, at=range(len(template))) for stem in self.infixes):
                return True
        return False


def _unmasked_templates(word: str) -> Iterable[Tuple[Optional[str], ...]]:
    """The word's letters with None for each hidden one. Inside a word a run of n stars hides n letters
    (or none: "f*king"); at the end of a word it may hide a few more ("бл*")."""
    parts = [p for p in re.split(r"(\*+)", word) if p]
    choices = [
        range(len(p), len(p) + 3) if i == len(parts) - 1 else (len(p), 0)
        for i, p in enumerate(parts)
        if p.startswith(MASK)
    ]
    for lengths in product(*choices):
        hidden = iter(lengths)
        template: List[Optional[str]] = []
        for part in parts:
            template += [None] * next(hidden) if part.startswith(MASK) else list(part)
        yield tuple(template)


def _fits(template: Sequence[Optional[str]], stem: str, at: Iterable[int], exact: bool = False) -> bool:
    """The stem agrees with every visible letter it covers; at least two, and at least half, are visible."""
    if exact and len(template) != len(stem):
        return False
    for offset in at:
        segment = template[offset : offset + len(stem)]
        if len(segment) < len(stem):
            return False
        visible = sum(ch is not None for ch in segment)
        if visible >= max(2, len(stem) - visible) and all(ch in (None, s) for ch, s in zip(segment, stem)):
            return True
    return False


class Lexicon:
    def __init__(self, data: Dict[str, Dict[str, list]]):
        # Every language's words are checked: customers mix languages and detection can be wrong.
        self.words = {c: WordList.of(e for lang in data.values() for e in lang.get(c, ())) for c in WORD_CATEGORIES}
        self.patterns = {
            c: re.compile("|".join(f"(?:{p})" for lang in data.values() for p in lang.get(c, ())), re.IGNORECASE)
            for c in PATTERN_CATEGORIES
        }

    @classmethod
    def load(cls, path: Path = LEXICON_FILE) -> "Lexicon":
        import yaml

        return cls(yaml.safe_load(Path(path).read_text(encoding="utf-8")))

    def word_hits(self, words: Sequence[str]) -> Dict[str, bool]:
        return {c: self.words[c].matches(words) for c in WORD_CATEGORIES}

    def pattern_hits(self, text: str) -> Dict[str, bool]:
        text = unicodedata.normalize("NFC", text)
        return {c: bool(self.patterns[c].search(text)) for c in PATTERN_CATEGORIES}


# ---------------------------------------------------------------- cues

ACRONYMS = frozenset(
    """tv pin puk sim esim ip los wps hdmi sms ok eu elis qr pdf faq kkk usb wifi wi-fi dns id gb mb mbps
    gbit mbit lte 3g 4g 5g ghz led wc cd dvd vpn iptv iphone android ee eur ups sos""".split()
)
CUE_NAMES = (
    "insult", "profanity", "accusation", "mild_swearing", "harsh", "frustration", "waiting", "money",
    "repetition", "caps", "exclamations", "question_marks", "failed_again",
    "repeated_complaint",
)
SIGNAL_NAMES = {
    "insult": "insult_lexicon", "profanity": "profanity_lexicon", "accusation": "accusation",
    "mild_swearing": "mild_swearing", "harsh": "harsh_words", "frustration": "frustration_words",
    "waiting": "waiting_days", "money": "money_lost", "repetition": "again", "caps": "caps",
    "exclamations": "exclamations", "question_marks": "question_marks", "repeated_complaint": "repeated_complaint",
}
SIGNAL_AT = {"exclamations": 0.6}  # two "!" or more; every other cue is named from 0.5 up


def caps_ratio(text: str) -> float:
    """Share of upper-case letters in words that are not acronyms; 0 for short messages."""
    words = [w for w in re.findall(r"[^\W\d_]{2,}", text) if w.lower() not in ACRONYMS]
    letters = sum(len(w) for w in words)
    if letters < 6:
        return 0.0
    return sum(len(w) for w in words if w.isupper()) / letters


def exclamation_level(text: str) -> float:
    return min(text.count("!"), 3) / 3


def message_cues(text: str, lexicon: Lexicon) -> Dict[str, float]:
    cues = {c: float(hit) for c, hit in lexicon.word_hits(normalised_words(text)).items()}
    patterns = lexicon.pattern_hits(text)
    cues.update({c: float(patterns[c]) for c in ("frustration", "waiting", "money", "repetition")})
    cues["caps"] = caps_ratio(text)
    cues["exclamations"] = exclamation_level(text)
    cues["question_marks"] = float("??" in text or "?!" in text or "!?" in text)
    return cues


def conversation_cues(text: str, earlier: Sequence[str], lexicon: Lexicon) -> Dict[str, float]:
    """The same problem raised again and again: a first complaint, then 'still', 'again', 'no change'."""
    earlier = [t for t in earlier if t and t.strip()]
    if not earlier:
        return {"failed_again": 0.0, "repeated_complaint": 0.0}
    failures = sum(_reports_failure(t, lexicon) for t in earlier[1:] + [text])
    return {
        "failed_again": min(failures, 3) / 3,
        "repeated_complaint": float(len(earlier) >= 2 and failures >= 2),
    }


def _reports_failure(text: str, lexicon: Lexicon) -> bool:
    hits = lexicon.pattern_hits(text)
    return hits["still_failing"] or hits["repetition"]


def all_cues(text: str, earlier: Sequence[str], lexicon: Lexicon) -> Dict[str, float]:
    return {**message_cues(text, lexicon), **conversation_cues(text, earlier, lexicon)}


def cue_vector(cues: Dict[str, float]) -> np.ndarray:
    return np.array([cues[name] for name in CUE_NAMES], dtype=np.float32)


def signals_of(cues: Dict[str, float]) -> Tuple[str, ...]:
    return tuple(signal for name, signal in SIGNAL_NAMES.items() if cues.get(name, 0.0) >= SIGNAL_AT.get(name, 0.5))


# ---------------------------------------------------------------- the model


RUDE_CUES = ("insult", "profanity", "accusation", "mild_swearing", "harsh")


@dataclass
class Thresholds:
    rude: float  # P(rude) at or above, with a rude word in the message: rude
    flag: float  # P(upset) + P(rude) at or above: upset (or rude, with a rude word)
    rude_unmarked: float = 1.0  # P(rude) needed without any rude word: short routine questions must not be "rude"

    def label(self, upset: float, rude: float, marked: bool = True) -> str:
        if rude >= (self.rude if marked else max(self.rude, self.rude_unmarked)):
            return RUDE
        if upset + rude >= self.flag:
            return RUDE if marked and rude > upset else UPSET
        return CALM


def has_rude_words(cues: Dict[str, float]) -> bool:
    return any(cues.get(name, 0.0) >= 0.5 for name in RUDE_CUES)


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
        "rude_recall": share(lambda e: e.label == RUDE, lambda p: p == RUDE),
        "upset_recall": share(lambda e: e.label == UPSET, lambda p: p == UPSET),
        "routine_flagged": share(lambda e: e.kind == "routine", lambda p: p != CALM),
        "calm_flagged": share(lambda e: e.label == CALM, lambda p: p != CALM),
    }


# ---------------------------------------------------------------- cache


def cache_key(train_files: Sequence[Path], dev_file: Optional[Path], lexicon_file: Path, encoder_name: str,
              routine_knowledge_dir: Path = ROUTINE_KNOWLEDGE_DIR) -> str:
    digest = hashlib.sha256(f"{MODEL_VERSION}\0{encoder_name}\0".encode())
    from knowledge.loader import knowledge_files

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


# ---------------------------------------------------------------- the detector


class SentimentDetector:
    def __init__(
        self,
        encoder=None,
        model_dir: Optional[Path] = None,
        train_files: Sequence[Path] = TRAIN_FILES,
        dev_file: Optional[Path] = DEV_FILE,
        lexicon_file: Path = LEXICON_FILE,
        model: Optional[SentimentModel] = None,
        routine_knowledge_dir: Path = ROUTINE_KNOWLEDGE_DIR,
    ):
        """By default the model is read from MODEL_DIR, or fitted and cached there; `model` skips both.
        `routine_knowledge_dir`: the knowledge whose example questions tune the thresholds as ordinary ones."""
        from knowledge.encoders import load_encoder
        from supportbot.settings import Settings

        settings = Settings()
        self.encoder = encoder if encoder is not None else load_encoder(settings.encoder)
        self.lexicon = Lexicon.load(lexicon_file)
        self.model_dir = Path(model_dir) if model_dir is not None else settings.model_dir
        self.model = model or load_or_fit(
            list(train_files), dev_file, lexicon_file, self.lexicon, self.encoder, self.model_dir, routine_knowledge_dir
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
                results.append(Sentiment(CALM, 0.0, 0.0, ()))
                continue
            label = self.model.thresholds.label(upset, rude, has_rude_words(cue))
            results.append(Sentiment(label, round(float(upset), 4), round(float(rude), 4), signals_of(cue)))
        return results


_detector: Optional[SentimentDetector] = None
_detector_lock = threading.Lock()


def sentiment_detector() -> SentimentDetector:
    """Process-wide detector, built lazily (thread-safe) on first use."""
    global _detector
    if _detector is None:
        with _detector_lock:
            if _detector is None:
                _detector = SentimentDetector()
    return _detector
