"""The REST channel: request validation, and one message per bot reply with its metadata."""
from __future__ import annotations

import asyncio

import pytest

from bot.channels.rest import MetadataCollectingOutputChannel, SupportRestInput
from protocol.limits import CEILING_CHARS
from protocol.requests import MAX_SENDER_CHARS, request_problem


@pytest.mark.parametrize("body", [None, [], ["sender", "message"], "hello", 42, True])
def test_rejects_a_body_that_is_not_an_object(body):
    assert request_problem(body) == "the body must be a JSON object with 'sender' and 'message'"


@pytest.mark.parametrize(
    "body",
    [
        {"message": "hi"},
        {"sender": "", "message": "hi"},
        {"sender": "   ", "message": "hi"},
        {"sender": None, "message": "hi"},
        {"sender": 12, "message": "hi"},
    ],
)
def test_rejects_missing_or_empty_sender(body):
    assert request_problem(body) == "'sender' must be a non-empty string"


@pytest.mark.parametrize(
    "body",
    [
        {"sender": "u1"},
        {"sender": "u1", "message": ""},
        {"sender": "u1", "message": " \n\t"},
        {"sender": "u1", "message": None},
        {"sender": "u1", "message": ["hi"]},
    ],
)
def test_rejects_missing_or_empty_message(body):
    assert request_problem(body) == "'message' must be a non-empty string"


def test_only_a_message_past_every_channels_ceiling_is_malformed():
    assert request_problem({"sender": "u1", "message": "x" * CEILING_CHARS}) is None, "too long is the router's to say"
    problem = request_problem({"sender": "u1", "message": "x" * (CEILING_CHARS + 1)})
    assert problem == f"'message' is longer than {CEILING_CHARS} characters"


def test_rejects_an_over_long_sender():
    assert request_problem({"sender": "s" * MAX_SENDER_CHARS, "message": "hi"}) is None
    assert request_problem({"sender": "s" * (MAX_SENDER_CHARS + 1), "message": "hi"}) == (
        f"'sender' is longer than {MAX_SENDER_CHARS} characters"
    )


@pytest.mark.parametrize("metadata", [[], ["a"], "meta", 1, False])
def test_rejects_metadata_that_is_not_an_object(metadata):
    assert request_problem({"sender": "u1", "message": "hi", "metadata": metadata}) == "'metadata' must be an object"


@pytest.mark.parametrize(
    "body",
    [
        {"sender": "u1", "message": "Tere! Internet ei tööta"},
        {"sender": "u1", "message": "hi", "metadata": {"channel": "web"}},
        {"sender": "u1", "message": "hi", "metadata": None},
        {"sender": "u1", "message": "hi", "metadata": {}},
    ],
)
def test_accepts_a_good_body(body):
    assert request_problem(body) is None


def test_output_channel_merges_text_buttons_and_custom_into_one_message():
    channel = MetadataCollectingOutputChannel()
    buttons = [{"title": "Wi-Fi", "payload": '/faq{"faq_id":"wifi-password"}'}]
    custom = {"kind": "clarify", "options": ["wifi-password"], "language": "en"}
    asyncio.run(
        channel.send_response(
            "user-1",
            {"text": "Did you mean one of these?", "buttons": buttons, "custom": custom, "elements": [], "image": None},
        )
    )
    assert channel.messages == [
        {"recipient_id": "user-1", "text": "Did you mean one of these?", "buttons": buttons, "custom": custom}
    ]


def test_output_channel_keeps_each_reply_separate_and_drops_empty_parts():
    channel = MetadataCollectingOutputChannel()

    async def send_two():
        await channel.send_response("u", {"text": "Hello", "buttons": [], "custom": {"kind": "smalltalk"}})
        await channel.send_response("u", {"text": "Pick one", "quick_replies": [{"title": "A", "payload": "/a"}]})

    asyncio.run(send_two())
    assert channel.messages == [
        {"recipient_id": "u", "text": "Hello", "custom": {"kind": "smalltalk"}},
        {"recipient_id": "u", "text": "Pick one", "buttons": [{"title": "A", "payload": "/a"}]},
    ]
    assert channel.latest_output() == channel.messages[-1]


def test_channel_names():
    assert SupportRestInput.name() == "rest"
    assert MetadataCollectingOutputChannel.name() == "collector"


# --- the webhook handler, called directly (no server) ---------------------------------------------


class FakeRequest:
    def __init__(self, body=None, broken=False):
        self._body = body
        self._broken = broken

    @property
    def json(self):
        if self._broken:
            raise ValueError("not JSON")
        return self._body


def _webhook(on_new_message):
    blueprint = SupportRestInput().blueprint(on_new_message)
    handlers = {route.uri: route.handler for route in blueprint._future_routes}
    return handlers["/webhook"]


def test_webhook_answers_bad_requests_with_400():
    import json

    received = []

    async def on_new_message(message):
        received.append(message)

    handler = _webhook(on_new_message)
    for request in (FakeRequest(broken=True), FakeRequest(["x"]), FakeRequest({"sender": "u", "message": ""})):
        response = asyncio.run(handler(request))
        assert response.status == 400
        assert "error" in json.loads(response.body)
    assert received == []


def test_webhook_returns_one_object_per_bot_message():
    import json

    received = []

    async def on_new_message(message):
        received.append(message)
        await message.output_channel.send_response(
            message.sender_id, {"text": "Hi!", "buttons": [], "custom": {"kind": "smalltalk", "intent": "greet"}}
        )
        await message.output_channel.send_response(
            message.sender_id,
            {"text": "Which one?", "buttons": [{"title": "A", "payload": "/a"}], "custom": {"kind": "clarify"}},
        )

    handler = _webhook(on_new_message)
    body = {"sender": "u7", "message": "Tere!", "metadata": {"channel": "web"}}
    response = asyncio.run(handler(FakeRequest(body)))
    assert response.status == 200
    assert json.loads(response.body) == [
        {"recipient_id": "u7", "text": "Hi!", "custom": {"kind": "smalltalk", "intent": "greet"}},
        {"recipient_id": "u7", "text": "Which one?", "buttons": [{"title": "A", "payload": "/a"}], "custom": {"kind": "clarify"}},
    ]
    assert len(received) == 1
    message = received[0]
    assert (message.text, message.sender_id, message.input_channel, message.metadata) == (
        "Tere!", "u7", "rest", {"channel": "web"}
    )
