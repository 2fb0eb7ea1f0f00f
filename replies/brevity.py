"""Short or detailed: how much the customer writes. A customer who writes a few words at a time gets the shortest
phrasing not used yet, one who writes at length the fullest; everyone else the variants in their order."""
from __future__ import annotations

import re
from typing import Optional, Sequence

SHORT, DETAILED = "short", "detailed"
SHORT_WORDS = 4  # on average over the last messages, at most
DETAILED_WORDS = 20  # on average, at least
LOOK_BACK = 3


def customer_brevity(texts: Sequence[str]) -> Optional[str]:
    """SHORT, DETAILED or None (in between, or nothing written yet) from the customer's latest messages;
    button payloads ("/faq{...}") are not the customer's words."""
    counts = [len(re.findall(r"\w+", text)) for text in texts if text and not text.startswith("/")][-LOOK_BACK:]
    if not counts:
        return None
    average = sum(counts) / len(counts)
    if average <= SHORT_WORDS:
        return SHORT
    if average >= DETAILED_WORDS:
        return DETAILED
    return None
