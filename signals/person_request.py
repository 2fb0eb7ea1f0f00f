"""Does the customer ask for a person? Patterns per language from signals/data/person_request.yml, on top of
Rasa's request_human intent: a request for a person worded like a question must not end as an FAQ search."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Pattern, Tuple

import yaml

PATTERNS_FILE = Path(__file__).resolve().parent / "data" / "person_request.yml"
MAX_BARE_WORDS = 5


def _without_diacritics(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


@lru_cache(maxsize=2)
def load_patterns(path: str = str(PATTERNS_FILE)) -> Dict[str, Tuple[List[Pattern], Pattern, List[Pattern]]]:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    patterns = {}
    for language, spec in raw.items():
        def compiled(pattern: str) -> Pattern:
            return re.compile(pattern.replace("{person}", spec["person"]), re.IGNORECASE)

        patterns[language] = ([compiled(p) for p in spec["ask"]], compiled(spec["bare"]),
                              [compiled(p) for p in spec.get("exclude", [])])
    return patterns


CLAUSE_END = re.compile(r"[?!.;]+")


def asks_for_person(text: str) -> bool:
    """Every language's patterns are tried: the language of a short message is often detected wrong. Each
    sentence counts on its own: "are you a bot? I want a real person" asks for one."""
    return any(_clause_asks_for_person(clause) for clause in CLAUSE_END.split(text) if clause.strip())


def _clause_asks_for_person(text: str) -> bool:
    variants = {text.lower(), _without_diacritics(text.lower())}
    patterns = load_patterns().values()
    if any(p.search(v) for _, _, exclude in patterns for p in exclude for v in variants):
        return False
    short = len(re.findall(r"\w+", text)) <= MAX_BARE_WORDS
    return any(
        any(p.search(v) for p in ask) or (short and bare.search(v))
        for ask, bare, _ in patterns for v in variants
    )
