"""The customer REST channel of the gateway: POST /webhooks/rest/webhook as Rasa's REST channel (one object
per reply with text, buttons and `custom`; an optional `message_id` makes a retried send idempotent), plus GET /webhooks/rest/messages for messages that arrive later,
such as an agent's replies, which a request-response client has to fetch."""
from __future__ import annotations

import asyncio
import hmac
from typing import Any, Dict

from aiohttp import web

from handoff.router import ConversationRouter, TooManyMessages
from handoff.store import CUSTOMER_VISIBLE_ROLES
from handoff.views import MessageView
from protocol.requests import MAX_SENDER_CHARS, request_problem

CHANNEL = "rest"
CAP_RETRY_AFTER_SECONDS = 300  # past the hourly cap of stored messages (protocol.limits)
MAX_ID = 2**63 - 1  # the largest id the database holds


def as_rasa_reply(sender: str, message: MessageView) -> Dict[str, Any]:
    reply: Dict[str, Any] = {"recipient_id": sender, "text": message.text}
    if message.payload.get("buttons"):
        reply["buttons"] = message.payload["buttons"]
    custom = dict(message.payload.get("custom") or {})
    if message.role == "agent":
        custom.update(kind="agent_reply", agent=message.author)
    if custom:
        reply["custom"] = custom
    return reply


def require_token(token: str):
    """Middleware: every /webhooks/rest/ route needs `Authorization: Bearer <token>`. The REST channel is for a
    company's own servers; with the sender id as the only credential anyone could read anyone's transcript."""
    expected = f"Bearer {token}".encode() if token else None

    @web.middleware
    async def check(request: web.Request, handler):
        if request.path.startswith("/webhooks/rest/"):
            given = request.headers.get("Authorization", "").encode("utf-8", "surrogateescape")
            if expected is None or not hmac.compare_digest(given, expected):
                return web.json_response({"error": "the REST channel needs 'Authorization: Bearer <REST_API_TOKEN>'"},
                                         status=401, headers={"WWW-Authenticate": 'Bearer realm="rest"'})
        return await handler(request)

    return check


async def json_or_none(request: web.Request) -> Any:
    """The body as JSON; None when it is not readable JSON (also nested too deep, or in an unknown charset)."""
    try:
        return await request.json()
    except (ValueError, RecursionError, LookupError, web.RequestPayloadError):
        return None


def rest_routes(router: ConversationRouter) -> web.RouteTableDef:
    routes = web.RouteTableDef()

    @routes.get("/webhooks/rest/")
    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    @routes.post("/webhooks/rest/webhook")
    async def receive(request: web.Request) -> web.Response:
        body = await json_or_none(request)
        problem = request_problem(body)
        if problem:
            return web.json_response({"error": problem}, status=400)
        sender = body["sender"]
        try:
            replies = await router.receive(CHANNEL, sender, body["message"], body.get("metadata"), body.get("message_id"))
        except TooManyMessages as refused:
            return web.json_response({"error": str(refused)}, status=429, headers={"Retry-After": str(CAP_RETRY_AFTER_SECONDS)})
        return web.json_response([as_rasa_reply(sender, m) for m in replies])

    @routes.get("/webhooks/rest/messages")
    async def messages(request: web.Request) -> web.Response:
        sender = request.query.get("sender", "")
        if not sender or len(sender) > MAX_SENDER_CHARS:
            return web.json_response({"error": "'sender' is required"}, status=400)
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            after = None
        if after is None or abs(after) > MAX_ID:
            return web.json_response({"error": "'after' must be a message id"}, status=400)
        store = router.store
        conversation = await asyncio.to_thread(store.find, CHANNEL, sender)
        if conversation is None:
            return web.json_response({"state": "bot", "queue_position": None, "messages": []})
        found = await asyncio.to_thread(store.messages, conversation.id, after, CUSTOMER_VISIBLE_ROLES)
        status = (await asyncio.to_thread(store.customer_statuses, [conversation.id]))[conversation.id]
        return web.json_response({**status, "messages": [{"id": m.id, "role": m.role, **as_rasa_reply(sender, m)} for m in found]})

    @routes.post("/webhooks/rest/typing")
    async def typing(request: web.Request) -> web.Response:
        body = await json_or_none(request)
        if not isinstance(body, dict) or not isinstance(body.get("sender"), str) or not body["sender"]:
            return web.json_response({"error": "'sender' is required"}, status=400)
        await router.customer_typing(CHANNEL, body["sender"][:MAX_SENDER_CHARS])
        return web.Response(status=204)

    return routes
