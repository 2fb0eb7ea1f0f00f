"""The agent console's API and the customer REST channel of the gateway, over HTTP, with a stand-in bot."""
from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer
from fake_bot import FakeBot
from helpers import REST_AUTH, gateway_app

from handoff.console.app import ROUTER_KEY

PASSWORD = "correct horse"


@pytest.fixture
def bot():
    return FakeBot()


@pytest.fixture
async def client(database_url, bot, aiohttp_client):
    app = gateway_app(database_url, bot)
    store = app[ROUTER_KEY].store
    store.agents.create("mari", "Mari", PASSWORD)
    store.agents.create("jaan", "Jaan", PASSWORD)
    return await aiohttp_client(app, headers=REST_AUTH)


async def login(client, username="mari"):
    reply = await client.post("/console/api/login", json={"username": username, "password": PASSWORD})
    assert reply.status == 200, await reply.text()
    return reply


async def customer_says(client, text, sender="anna"):
    reply = await client.post("/webhooks/rest/webhook", json={"sender": sender, "message": text})
    assert reply.status == 200, await reply.text()
    return await reply.json()


async def test_everything_needs_a_login(client):
    assert (await client.get("/console/api/queue")).status == 401
    bad = await client.post("/console/api/login", json={"username": "mari", "password": "nope"})
    assert bad.status == 401
    assert (await client.post("/console/api/login", data="not json")).status == 415  # only JSON bodies
    assert (await client.post("/console/api/login", data="not json", headers={"Content-Type": "application/json"})).status == 400
    await login(client)
    assert (await client.get("/console/api/me")).status == 200
    await client.post("/console/api/logout")
    assert (await client.get("/console/api/me")).status == 401


async def test_handoff_claim_reply_and_return(client, bot):
    await customer_says(client, "how do I pay?")
    replies = await customer_says(client, "I want a human")
    assert [r["custom"]["kind"] for r in replies] == ["handoff", "queue_status"]
    await login(client)
    queue = await (await client.get("/console/api/queue")).json()
    [waiting] = queue["waiting"]
    assert (waiting["reason"], waiting["customer_name"], waiting["state"]) == ("human_request", "Anna", "waiting")
    cid = waiting["id"]
    details = await (await client.post(f"/console/api/conversations/{cid}/claim")).json()
    assert details["state"] == "agent" and details["agent"]["display_name"] == "Mari"
    assert "Mari" in details["handoff"]["suggested_reply"]
    assert details["handoff"]["considered"][0]["id"] == "billing-payment-methods"
    assert details["handoff"]["considered"][0]["question"]  # the entry's question, from the knowledge
    assert [m["role"] for m in details["messages"]][:4] == ["customer", "bot", "customer", "bot"]

    assert await customer_says(client, "are you there?") == []  # the bot is silent
    sent = await client.post(f"/console/api/conversations/{cid}/messages", json={"text": "Hi Anna, Mari here."})
    assert sent.status == 201
    note = await client.post(f"/console/api/conversations/{cid}/notes", json={"text": "internal: check invoice"})
    assert note.status == 201

    fetched = await (await client.get("/webhooks/rest/messages", params={"sender": "anna"})).json()
    texts = [m["text"] for m in fetched["messages"]]
    assert "Hi Anna, Mari here." in texts and "internal: check invoice" not in texts
    assert fetched["state"] == "agent" and fetched["agent"] == "Mari"
    assert not any(m["role"] == "system" for m in fetched["messages"])

    returned = await client.post(f"/console/api/conversations/{cid}/return")
    assert (await returned.json())["state"] == "bot"
    asked = len(bot.calls)
    replies = await customer_says(client, "what about roaming?")
    assert replies[0]["text"] == "bot answer to: what about roaming?" and len(bot.calls) == asked + 1


async def test_a_second_claim_gets_409(client, aiohttp_client, database_url, bot):
    await customer_says(client, "I want a human")
    await login(client)
    [waiting] = (await (await client.get("/console/api/queue")).json())["waiting"]
    other = await aiohttp_client(gateway_app(database_url, bot))
    await login(other, "jaan")
    assert (await client.post(f"/console/api/conversations/{waiting['id']}/claim")).status == 200
    late = await other.post(f"/console/api/conversations/{waiting['id']}/claim")
    assert late.status == 409 and "Mari" in (await late.json())["error"]
    not_owner = await other.post(f"/console/api/conversations/{waiting['id']}/messages", json={"text": "hi"})
    assert not_owner.status == 409


async def test_concurrent_claims_over_http_on_two_gateways(database_url, bot):
    """Two gateway instances on the same database; eight agents, each in their own session, click claim at once."""
    servers = [TestServer(gateway_app(database_url, bot)) for _ in range(2)]
    for server in servers:
        await server.start_server()
    store = servers[0].app[ROUTER_KEY].store
    for i in range(8):
        store.agents.create(f"agent{i}", f"Agent {i}", PASSWORD)
    agents = [TestClient(servers[i % 2], headers=REST_AUTH) for i in range(8)]
    try:
        for i, agent in enumerate(agents):
            await login(agent, f"agent{i}")
        await customer_says(agents[0], "I want a human")
        [waiting] = store.waiting()
        replies = await asyncio.gather(*(a.post(f"/console/api/conversations/{waiting.id}/claim") for a in agents))
        assert sorted(r.status for r in replies) == [200] + [409] * 7
        winner = next(i for i, r in enumerate(replies) if r.status == 200)
        assert store.get(waiting.id).agent.username == f"agent{winner}"
    finally:
        for agent in agents:
            await agent.session.close()
        for server in servers:
            await server.close()


async def test_malformed_requests_get_4xx(client):
    await login(client)
    for path, body in [("/console/api/conversations/abc/claim", None), ("/console/api/conversations/999/claim", None)]:
        assert (await client.post(path, json=body)).status == 404
    assert (await client.post("/console/api/conversations/1/messages", data="{")).status == 415  # not labelled JSON
    assert (await client.post("/console/api/conversations/1/messages", data="{",
                              headers={"Content-Type": "application/json"})).status == 400
    assert (await client.post("/console/api/conversations/1/messages", json={"text": ""})).status == 400
    assert (await client.post("/console/api/conversations/1/messages", json={"text": "x" * 5000})).status == 400
    assert (await client.post("/webhooks/rest/webhook", data="nope")).status == 400
    assert (await client.post("/webhooks/rest/webhook", json={"sender": "a"})).status == 400
    assert (await client.get("/webhooks/rest/messages", params={"sender": "a", "after": "x"})).status == 400
    assert (await client.get("/webhooks/rest/messages")).status == 400


async def test_canned_replies_search_the_knowledge(client):
    await login(client)
    found = await (await client.get("/console/api/canned", params={"q": "arve maksta", "language": "et"})).json()
    assert found["replies"] and found["replies"][0]["language"] == "et"
    assert any("billing" in r["id"] for r in found["replies"][:3])


async def test_the_live_feed_pushes_customer_messages_and_queue_changes(client):
    await login(client)
    async with client.ws_connect("/console/api/live") as socket:
        first = await socket.receive_json(timeout=5)
        assert first["type"] == "queue" and first["waiting"] == []
        await customer_says(client, "I want a human")
        seen = []
        while not any(e["type"] == "queue" and e["waiting"] for e in seen):
            seen.append(await socket.receive_json(timeout=5))
        await customer_says(client, "hello, anyone there?")
        while not any(e["type"] == "message" and e["message"]["text"] == "hello, anyone there?" for e in seen):
            seen.append(await socket.receive_json(timeout=5))
        await client.post("/webhooks/rest/typing", json={"sender": "anna"})
        while not any(e["type"] == "typing" for e in seen):
            seen.append(await socket.receive_json(timeout=5))


async def test_stats_count_answer_feedback_and_handoffs(client):
    router = client.server.app[ROUTER_KEY]
    answer = (await router.receive("webchat", "stats-1", "how do I pay?"))[0]
    await router.feedback("webchat", "stats-1", answer.id, False)
    await customer_says(client, "I want a human", sender="stats-2")
    assert (await client.get("/console/api/stats")).status == 401
    await login(client)
    stats = await (await client.get("/console/api/stats")).json()
    assert stats["answers"] == {"": {"helpful": 0, "not_helpful": 1}}
    assert stats["handoffs"]["human_request"] == {"handoffs": 1, "rated": 0, "average_rating": None}


async def test_closing_can_tell_the_customer_the_outcome(client):
    await customer_says(client, "I want a human", sender="outcome")
    await login(client)
    [waiting] = (await (await client.get("/console/api/queue")).json())["waiting"]
    cid = waiting["id"]
    await client.post(f"/console/api/conversations/{cid}/claim")
    for bad in ({"resolution": "done", "tell_customer": "yes"}, {"tell_customer": True}):
        assert (await client.post(f"/console/api/conversations/{cid}/close", json=bad)).status == 400
    closed = await client.post(f"/console/api/conversations/{cid}/close",
                               json={"resolution": "Refund of 12 EUR sent", "tell_customer": True})
    assert closed.status == 200
    fetched = await (await client.get("/webhooks/rest/messages", params={"sender": "outcome"})).json()
    kinds = [m.get("custom", {}).get("kind") for m in fetched["messages"]]
    assert kinds[-2:] == ["outcome", "rating_request"]
    assert "Refund of 12 EUR sent" in fetched["messages"][-2]["text"]


async def test_state_changing_requests_from_another_site_are_refused(client):
    await login(client)
    foreign = {"Origin": "https://evil.example"}
    assert (await client.post("/console/api/logout", headers=foreign)).status == 403
    assert (await client.post("/console/api/logout", headers={"Sec-Fetch-Site": "cross-site"})).status == 403
    assert (await client.get("/console/api/live", headers=foreign)).status == 403
    assert (await client.get("/console/api/me", headers=foreign)).status == 200  # reading is not changing
    own = {"Origin": f"http://{client.server.host}:{client.server.port}", "Sec-Fetch-Site": "same-origin"}
    assert (await client.get("/console/api/me", headers=own)).status == 200
    assert (await client.post("/console/api/login", data="username=mari", headers={
        "Content-Type": "application/x-www-form-urlencoded"})).status == 415
    assert (await client.post("/console/api/logout", headers=own)).status == 200


async def test_failed_logins_are_throttled_per_user_and_the_flood_is_logged_without_passwords(client, caplog):
    for _ in range(5):
        reply = await client.post("/console/api/login", json={"username": "mari", "password": "guess-123"})
        assert reply.status == 401
    throttled = await client.post("/console/api/login", json={"username": "mari", "password": PASSWORD})
    assert throttled.status == 429 and int(throttled.headers["Retry-After"]) > 0
    await login(client, "jaan")  # another user is not locked out
    assert "guess-123" not in caplog.text and "failed console login for 'mari'" in caplog.text


def test_the_login_throttle_counts_per_address_and_forgets_after_the_window():
    from handoff.console.app import LoginThrottle

    now = [0.0]
    throttle = LoginThrottle(per_user=5, per_address=3, window=60, clock=lambda: now[0])
    for name in ("a", "b", "c"):
        throttle.failed(name, "10.0.0.1")
    assert throttle.wait_seconds("d", "10.0.0.1") == 60  # the address, whichever user it tries
    assert throttle.wait_seconds("d", "10.0.0.2") == 0
    now[0] = 61
    assert throttle.wait_seconds("d", "10.0.0.1") == 0


@pytest.mark.parametrize("ending", ["logout", "new password"])
async def test_a_live_socket_closes_when_its_session_ends(client, ending):
    from aiohttp import WSMsgType

    await login(client)
    async with client.ws_connect("/console/api/live") as socket:
        assert (await socket.receive_json(timeout=5))["type"] == "queue"
        if ending == "logout":
            await client.post("/console/api/logout")
        else:
            client.server.app[ROUTER_KEY].store.agents.create("mari", "Mari", "a brand new password")
        while True:
            frame = await socket.receive(timeout=10)
            if frame.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                break
        assert frame.type == WSMsgType.CLOSE and frame.data == 4401


async def test_a_new_password_ends_the_old_sessions(client):
    await login(client)
    assert (await client.get("/console/api/me")).status == 200
    client.server.app[ROUTER_KEY].store.agents.create("mari", "Mari", "a brand new password")
    assert (await client.get("/console/api/me")).status == 401
