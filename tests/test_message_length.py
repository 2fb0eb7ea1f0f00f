"""How long a message may be is said in one place, the router, with the configured MAX_MESSAGE_CHARS: every
channel passes a longer message on (up to the ceiling no configuration may pass), and the customer gets the same
polite notice whichever channel they wrote in."""
from __future__ import annotations

import pytest
from fake_bot import FakeBot
from helpers import REST_AUTH, gateway_app

from protocol.kinds import Kind, Limit
from protocol.limits import CEILING_CHARS, MessageLimits
from protocol.requests import request_problem

WEBHOOK = "/webhooks/rest/webhook"


async def test_a_configured_limit_above_the_default_lets_a_long_message_through(database_url, aiohttp_client):
    bot = FakeBot()
    client = await aiohttp_client(gateway_app(database_url, bot, max_message_chars=8000))
    text = "Mu arve on vale. " + "x" * 4983
    reply = await client.post(WEBHOOK, json={"sender": "anna", "message": text}, headers=REST_AUTH)
    assert reply.status == 200 and len(text) == 5000
    assert bot.calls == [text], "the bot reads the whole 5000-character message"
    assert (await reply.json())[0]["custom"]["kind"] == Kind.ANSWER


async def test_a_message_over_the_limit_gets_the_routers_notice_not_an_error(database_url, aiohttp_client):
    bot = FakeBot()
    client = await aiohttp_client(gateway_app(database_url, bot, max_message_chars=1000))
    reply = await client.post(WEBHOOK, json={"sender": "anna", "message": "y" * 1001}, headers=REST_AUTH)
    assert reply.status == 200 and bot.calls == []
    [notice] = await reply.json()
    assert notice["custom"] == {"kind": Kind.LIMIT, "limit": Limit.MESSAGE_LENGTH} and "1000" in notice["text"]


async def test_past_the_ceiling_a_request_is_malformed(database_url, aiohttp_client):
    client = await aiohttp_client(gateway_app(database_url, FakeBot()))
    reply = await client.post(WEBHOOK, json={"sender": "anna", "message": "z" * (CEILING_CHARS + 1)}, headers=REST_AUTH)
    assert reply.status == 400 and str(CEILING_CHARS) in (await reply.json())["error"]


def test_rasas_own_channel_takes_what_the_router_passes_on():
    # bot/channels/rest.py checks with request_problem: a limit configured above the default must not turn a
    # message the router accepted into a refusal by the Rasa server (and so into "the bot is unavailable")
    assert request_problem({"sender": "anna", "message": "x" * 8000}) is None


@pytest.mark.parametrize("max_chars", [0, CEILING_CHARS + 1])
def test_no_limit_outside_one_to_the_ceiling_can_be_configured(max_chars):
    with pytest.raises(ValueError, match="MAX_MESSAGE_CHARS"):
        MessageLimits(max_chars=max_chars)
