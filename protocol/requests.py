"""What every customer channel accepts: one check of a message request's shape, shared by the gateway and Rasa's
channel. How long a message may be is the router's to say (protocol.limits): here only the ceiling."""
from __future__ import annotations

from typing import Any, Optional

from protocol.limits import CEILING_CHARS, storable

MAX_SENDER_CHARS = 200
MAX_CLIENT_MESSAGE_ID_CHARS = 100  # the client's own id of a message, which makes its retries idempotent


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
    if len(message) > CEILING_CHARS:
        return f"'message' is longer than {CEILING_CHARS} characters"
    if not storable(sender) or not storable(message):
        return "'sender' and 'message' must be valid unicode"
    if "metadata" in body and not isinstance(body["metadata"], (dict, type(None))):
        return "'metadata' must be an object"
    return client_message_id_problem(body.get("message_id"))


def client_message_id_problem(message_id: Any) -> Optional[str]:
    if message_id is None:
        return None
    if not isinstance(message_id, str) or not message_id.strip() or len(message_id) > MAX_CLIENT_MESSAGE_ID_CHARS:
        return f"'message_id' must be a string of 1 to {MAX_CLIENT_MESSAGE_ID_CHARS} characters"
    return None
