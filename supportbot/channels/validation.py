"""What every customer channel accepts: one check of a message request, shared by the gateway and Rasa's channel."""
from __future__ import annotations

from typing import Any, Optional

from handoff.limits import DEFAULT_MAX_CHARS as MAX_MESSAGE_CHARS
MAX_SENDER_CHARS = 200


def request_problem(body: Any) -> Optional[str]:
    if not isinstance(body, dict):
        return "the body must be a JSON object with 'sender' and 'message'"
    sender, message = body.get("sender"), body.get("message")
    if not isinstance(sender, str) or not sender.strip():
        return "'sender' must be a non-empty string"
    if len(sender) > MAX_SENDER_CHARS:
        return f"'sender' is longer than {MAX_SENDER_CHARS} characters"
    if not isinstance(message, str) or not message.strip():
        return "'message' must be a non-empty string"
    if len(message) > MAX_MESSAGE_CHARS:
        return f"'message' is longer than {MAX_MESSAGE_CHARS} characters"
    if "metadata" in body and not isinstance(body["metadata"], (dict, type(None))):
        return "'metadata' must be an object"
    return None
