"""Payment card numbers are masked before anything is stored, logged or sent to the bot: a run of 13 to 19 digits,
with or without single spaces or dashes between them, that passes the Luhn check keeps only its last four digits."""
from __future__ import annotations

import re

CANDIDATE = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
MASK = "•••• •••• •••• "


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(int(d) for d in reversed(digits)):
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def mask_card_numbers(text: str) -> str:
    def masked(match: re.Match) -> str:
        digits = re.sub(r"\D", "", match.group())
        return MASK + digits[-4:] if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group()

    return CANDIDATE.sub(masked, text) if text else text
