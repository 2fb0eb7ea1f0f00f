"""The one reply composer: every bot message in every language is picked here from phrases.yml,
never repeating a variant within a conversation while an unused one remains."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import yaml

from replies.brevity import DETAILED, SHORT

PHRASES_DIR = Path(__file__).resolve().parent
FALLBACK_LANGUAGE = "en"
DEFAULT_BOT_NAME = "Laine"

FORMAL, INFORMAL = "formal", "informal"
Phrases = Dict[str, Dict[str, Dict[str, Tuple[str, ...]]]]  # key -> language -> register -> variants


def _registers(path: Path, key: str, language: str, variants) -> Dict[str, Tuple[str, ...]]:
    """A plain list serves both registers; a mapping has `formal` and `informal` lists of the same length."""
    if isinstance(variants, list):
        return {FORMAL: tuple(variants), INFORMAL: tuple(variants)}
    if not isinstance(variants, dict) or set(variants) != {FORMAL, INFORMAL}:
        raise ValueError(f"{path.name}: {key}.{language} must be a list, or have exactly 'formal' and 'informal' lists")
    if len(variants[FORMAL]) != len(variants[INFORMAL]):
        raise ValueError(f"{path.name}: {key}.{language} needs as many informal variants as formal ones")
    return {FORMAL: tuple(variants[FORMAL]), INFORMAL: tuple(variants[INFORMAL])}


@lru_cache(maxsize=4)
def load_phrases(directory: str = str(PHRASES_DIR)) -> Phrases:
    """Every phrases*.yml of the directory; a key may live in one file only."""
    phrases: Phrases = {}
    for path in sorted(Path(directory).glob("phrases*.yml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for key, by_lang in raw.items():
            if key in phrases:
                raise ValueError(f"{path.name}: the phrase key {key!r} is defined twice")
            phrases[key] = {lang: _registers(path, key, lang, variants) for lang, variants in by_lang.items()}
    return phrases


@dataclass(frozen=True)
class Reply:
    text: str
    phrase_id: str  # key:language:variant, remembered so the variant (in either register) is not used again


class ReplyComposer:
    def __init__(self, phrases: Optional[Phrases] = None, bot_name: str = DEFAULT_BOT_NAME):
        """`bot_name`: the name the bot introduces itself with (the configured BOT_NAME)."""
        self.phrases = phrases or load_phrases()
        self.bot_name = bot_name

    def variants(self, key: str, language: str, register: str = FORMAL) -> Tuple[str, ...]:
        return self.phrases[key][language][register]

    def compose(self, key: str, language: str, used: Sequence[str] = (), name: Optional[str] = None,
                register: Optional[str] = None, brevity: Optional[str] = None, **fields: object) -> Reply:
        """The first unused variant; for a customer who writes briefly (brevity "short") the shortest unused one,
        for one who writes at length ("detailed") the longest."""
        by_language = self.phrases[key]
        if language not in by_language:
            language = FALLBACK_LANGUAGE if FALLBACK_LANGUAGE in by_language else next(iter(by_language))
        variants = by_language[language][register or FORMAL]
        used_set = set(used)
        unused = [i for i in range(len(variants)) if f"{key}:{language}:{i}" not in used_set]
        choice = unused[0] if unused else None
        if unused and brevity in (SHORT, DETAILED):
            pick = min if brevity == SHORT else max
            choice = pick(unused, key=lambda i: (len(variants[i]), -i if brevity == DETAILED else i))
        if choice is None:
            uses = [u for u in used if u.startswith(f"{key}:{language}:")]
            choice = (int(uses[0].rsplit(":", 1)[1]) + len(uses)) % len(variants) if uses else 0
        text = variants[choice].format(bot_name=self.bot_name, name_greeting=f", {name}" if name else "", **fields)
        return Reply(text=text, phrase_id=f"{key}:{language}:{choice}")

    def label(self, key: str, language: str) -> str:
        by_language = self.phrases[key]
        return by_language.get(language, by_language[FALLBACK_LANGUAGE])[FORMAL][0]


def remember(used: Optional[List[str]], reply: Reply) -> List[str]:
    return list(used or []) + [reply.phrase_id]


def composer_label(key: str, language: str) -> str:
    """A fixed label, such as a button title, in the given language."""
    return ReplyComposer().label(key, language)
