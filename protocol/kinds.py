"""The `kind` of every bot message, in its `custom` metadata: what the router, the channels, the console and the
reports read to know what a message is."""
from __future__ import annotations

from typing import Tuple


class Kind:
    ANSWER = "answer"  # an answer from the knowledge base, with its faq_id
    CLARIFY = "clarify"  # "which of these did you mean?", with the offered entries
    SMALLTALK = "smalltalk"  # greetings, thanks, goodbyes, "are you a bot?"
    HANDOFF = "handoff"  # a person takes over; the metadata is the handoff packet
    LIMIT = "limit"  # the message was too long, or came too fast
    FEEDBACK_THANKS = "feedback_thanks"  # after the customer said whether an answer helped
    QUEUE_STATUS = "queue_status"  # the customer's place in the queue, or that it is after hours
    AGENT_JOINED = "agent_joined"
    RETURNED_TO_BOT = "returned_to_bot"
    OUTCOME = "outcome"  # what the agent did, when the conversation is closed
    RATING_REQUEST = "rating_request"
    RATING_THANKS = "rating_thanks"
    UNSUPPORTED_CONTENT = "unsupported_content"  # a photo, sticker or file the bot cannot read

    @classmethod
    def all(cls) -> Tuple[str, ...]:
        return tuple(v for k, v in vars(cls).items() if k.isupper())


class Limit:
    """Which limit a LIMIT message is about."""
    MESSAGE_LENGTH = "message_length"
    RATE = "rate"

    @classmethod
    def all(cls) -> Tuple[str, ...]:
        return tuple(v for k, v in vars(cls).items() if k.isupper())
