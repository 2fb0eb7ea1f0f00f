"""What one customer may send: the longest message, how many messages in a window before the bot stops
answering for a while, and how many messages an hour are kept at all. Counted in the database, so several gateways share one count."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

DEFAULT_MAX_CHARS = 4000
# the longest message any channel passes on to the router, whatever MAX_MESSAGE_CHARS says; the router, which knows
# the configured limit, keeps the beginning of a longer one and tells the customer (one behaviour on every channel)
CEILING_CHARS = 20_000
DEFAULT_STORED_PER_HOUR = 300
RATE_FORMAT = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class MessageLimits:
    max_chars: int = DEFAULT_MAX_CHARS
    messages_per_window: int = 20  # 0: no rate limit
    window: timedelta = timedelta(seconds=60)
    stored_per_hour: int = DEFAULT_STORED_PER_HOUR  # customer messages kept per conversation and hour; 0: no cap

    def __post_init__(self) -> None:
        if not 1 <= self.max_chars <= CEILING_CHARS:
            raise ValueError(f"MAX_MESSAGE_CHARS must be between 1 and {CEILING_CHARS}, not {self.max_chars}")

    @classmethod
    def parse_rate(cls, rate: str, max_chars: int = DEFAULT_MAX_CHARS,
                   stored_per_hour: int = DEFAULT_STORED_PER_HOUR) -> "MessageLimits":
        """'20/60' is 20 messages per 60 seconds; 'off' or '0' turns the rate limit off."""
        if rate.strip().lower() in ("off", "0", "none"):
            return cls(max_chars=max_chars, messages_per_window=0, stored_per_hour=stored_per_hour)
        match = RATE_FORMAT.match(rate)
        if not match or int(match.group(2)) == 0:
            raise ValueError(f"RATE_LIMIT must look like '20/60' (messages/seconds) or 'off', not {rate!r}")
        return cls(max_chars=max_chars, messages_per_window=int(match.group(1)), window=timedelta(seconds=int(match.group(2))),
                   stored_per_hour=stored_per_hour)


def storable(text: str) -> bool:
    """Whether the database can keep `text`: JSON may carry lone surrogates ("\\ud800"), which UTF-8 cannot."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
