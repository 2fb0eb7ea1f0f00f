"""Why a conversation goes to a person: the reason in the handoff packet, the queue's priority, the console's
badge, the handoff phrase (`handoff_<reason>` in the phrasebook) and the managers' reports."""
from __future__ import annotations

from typing import Tuple


class Reason:
    OUT_OF_SCOPE = "out_of_scope"  # the knowledge has nothing on it
    LOW_CONFIDENCE = "low_confidence"  # the knowledge has something, but not surely the right thing
    TOPIC_POLICY = "topic_policy"  # the entry says people handle this topic
    REPEATED_FAILURE = "repeated_failure"  # the answers did not help, twice
    HUMAN_REQUEST = "human_request"  # the customer asked for a person
    UPSET = "upset"
    RUDE = "rude"
    BOT_UNAVAILABLE = "bot_unavailable"  # the bot failed to answer: the gateway hands off instead of leaving silence

    @classmethod
    def all(cls) -> Tuple[str, ...]:
        return tuple(v for k, v in vars(cls).items() if k.isupper())


# the reasons that show a gap in the knowledge (the editors' Gaps page), not a customer who needs a person
KNOWLEDGE_GAPS = (Reason.OUT_OF_SCOPE, Reason.LOW_CONFIDENCE, Reason.REPEATED_FAILURE)
