"""The gateway's client of the Rasa servers admits a few messages per server at a time, first come first
served, so that under a burst each message is done in its turn instead of all of them slowly together."""
from __future__ import annotations

import asyncio

from aiohttp import web

from handoff.bot_client import RasaBotClient


async def test_messages_beyond_the_limit_wait_and_go_in_arrival_order(aiohttp_server):
    in_flight, most, order = 0, 0, []

    async def webhook(request: web.Request) -> web.Response:
        nonlocal in_flight, most
        body = await request.json()
        in_flight += 1
        most = max(most, in_flight)
        order.append(body["sender"])
        await asyncio.sleep(0.05)
        in_flight -= 1
        return web.json_response([{"text": f"reply to {body['message']}"}])

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    server = await aiohttp_server(app)
    client = RasaBotClient([str(server.make_url("/webhooks/rest/webhook"))], in_flight_per_server=2)
    try:
        senders = [f"customer-{i}" for i in range(8)]
        tasks = []
        for sender in senders:
            tasks.append(asyncio.create_task(client.send(sender, "hello")))
            await asyncio.sleep(0)  # they arrive in this order
        replies = await asyncio.gather(*tasks)
    finally:
        await client.close()
    assert most == 2
    assert order == senders
    assert all(r == [{"text": "reply to hello"}] for r in replies)


async def test_the_limit_grows_with_the_number_of_servers(aiohttp_server):
    client = RasaBotClient(["http://127.0.0.1:1/a", "http://127.0.0.1:1/b", "http://127.0.0.1:1/c"], in_flight_per_server=4)
    assert client._admitted._value == 12
    await client.close()


async def test_a_stalled_rasa_server_is_unavailable_after_the_timeout(aiohttp_server):
    import pytest

    from handoff.bot_client import BotUnavailable

    async def stalled(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.json_response([])

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", stalled)
    server = await aiohttp_server(app)
    client = RasaBotClient([str(server.make_url("/webhooks/rest/webhook"))], timeout=0.3)
    try:
        with pytest.raises(BotUnavailable, match="did not answer within"):
            await client.send("someone", "hello")
    finally:
        await client.close()
