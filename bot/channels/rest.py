"""The REST webhook (POST /webhooks/rest/webhook). Unlike Rasa's stock channel it returns each bot
message as one object holding its text, buttons and `custom` metadata together, and it answers a
malformed request with a 400 instead of an error."""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Dict, Text

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from protocol.requests import request_problem

log = logging.getLogger(__name__)

class MetadataCollectingOutputChannel(CollectingOutputChannel):
    """Keeps a bot message's text, buttons and custom payload in one message."""

    @classmethod
    def name(cls) -> Text:
        return "collector"

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        merged = {
            "recipient_id": recipient_id,
            "text": message.get("text"),
            "buttons": message.get("buttons") or message.get("quick_replies") or None,
            "image": message.get("image"),
            "custom": message.get("custom"),
        }
        await self._persist_message({k: v for k, v in merged.items() if v is not None})


class SupportRestInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("support_rest_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                body = request.json
            except Exception:  # sanic raises InvalidUsage on a body that is not JSON
                body = None
            problem = request_problem(body)
            if problem:
                return response.json({"error": problem}, status=400)
            collector = MetadataCollectingOutputChannel()
            await on_new_message(
                UserMessage(
                    body["message"],
                    collector,
                    body["sender"],
                    input_channel=self.name(),
                    metadata=body.get("metadata"),
                )
            )
            return response.json(collector.messages)

        return webhook
