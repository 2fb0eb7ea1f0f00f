"""What a person would point at in a message: insults and swear words from the lexicon (also disguised), CAPS,
"!!!", days of waiting, lost money, "again", and the same complaint coming back over several turns."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np


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
    def load(cls, path: Path) -> "Lexicon":
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


RUDE_CUES = ("insult", "profanity", "accusation", "mild_swearing", "harsh")


def has_rude_words(cues: Dict[str, float]) -> bool:
    return any(cues.get(name, 0.0) >= 0.5 for name in RUDE_CUES)
