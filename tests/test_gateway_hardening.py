"""Small holes found by reading the running stack as an attacker: compressed bodies, secrets in files others
can read, card numbers in a pressed button's title."""
from __future__ import annotations

import gzip
import os
import stat

from fake_bot import REFUND_BUTTON, FakeBot
from helpers import REST_AUTH, gateway_app

from handoff.hours import BusinessHours
from handoff.router import ConversationRouter
from supportbot.endpoints import write_endpoints
from supportbot.settings import Settings

BOMB = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)  # 64 MB of zeros in about 64 KB


async def test_compressed_request_bodies_are_refused_unread(database_url, aiohttp_client):
    client = await aiohttp_client(gateway_app(database_url, FakeBot()))
    for path, headers in (("/console/api/login", {}), ("/webhooks/rest/webhook", REST_AUTH),
                          ("/webhooks/telegram", {})):
        reply = await client.post(path, data=BOMB, headers={**headers, "Content-Type": "application/json",
                                                              "Content-Encoding": "gzip"})
        assert reply.status == 415, (path, reply.status)
    plain = await client.post("/webhooks/rest/webhook", json={"sender": "anna", "message": "hello"}, headers=REST_AUTH)
    assert plain.status == 200
    named = await client.post("/webhooks/rest/webhook", json={"sender": "anna", "message": "hi"},
                              headers={**REST_AUTH, "Content-Encoding": "identity"})
    assert named.status == 200


def test_the_endpoints_file_with_the_database_url_is_the_owners_only(tmp_path):
    path = tmp_path / "endpoints.yml"
    path.write_text("old")
    os.chmod(path, 0o644)
    write_endpoints(Settings(database_url="postgresql://bot:s3cret@db.example/x"), path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "s3cret" in path.read_text()


async def test_a_pressed_buttons_title_is_stored_with_card_numbers_masked(store):
    router = ConversationRouter(store, FakeBot(), BusinessHours.parse("always"))
    await router.receive("webchat", "s-123456789", "refund options")  # the bot offers REFUND_BUTTON
    await router.receive("webchat", "s-123456789", REFUND_BUTTON, {"display": "my card 4111 1111 1111 1111"})
    conversation = store.find("webchat", "s-123456789")
    texts = [m.text for m in store.messages(conversation.id, roles=["customer"])]
    assert texts[-1].startswith("my card") and "4111 1111 1111 1111" not in texts[-1]


async def test_behind_a_trusted_proxy_logins_are_throttled_per_client_not_per_proxy(database_url, aiohttp_client):
    from handoff.canned import CannedReplies
    from handoff.console.app import console_app
    from handoff.store import HandoffStore

    store = HandoffStore.open(database_url, run_migrations=False)
    store.agents.create("mari", "Mari", "correct horse")
    router = ConversationRouter(store, FakeBot(), BusinessHours.parse("always"))
    client = await aiohttp_client(console_app(router, CannedReplies(Settings().knowledge_dir), trust_forwarded_for=True))

    async def attempt(address: str, username: str, password: str = "wrong") -> int:
        reply = await client.post("/console/api/login", json={"username": username, "password": password},
                                  headers={"X-Forwarded-For": f"10.9.9.9, {address}"})
        return reply.status

    for n in range(20):  # one client guessing at many usernames: the per-address limit
        assert await attempt("203.0.113.7", f"user{n}") == 401
    assert await attempt("203.0.113.7", "user-x") == 429
    assert await attempt("198.51.100.2", "mari", "correct horse") == 200, "everyone behind the proxy was locked out"


def test_the_login_throttle_does_not_grow_without_end_on_random_usernames():
    from handoff.console.app import LoginThrottle

    now = [0.0]
    throttle = LoginThrottle(window=60, clock=lambda: now[0], max_tracked=100)
    for n in range(1000):
        now[0] = n * 0.01
        throttle.failed(f"random-{n}", "10.0.0.1")
    assert len(throttle._failures) <= 101
    assert throttle.wait_seconds("anyone", "10.0.0.1") > 0, "the flooding address was forgotten"


async def test_lone_surrogates_are_refused_plainly(database_url, aiohttp_client):
    client = await aiohttp_client(gateway_app(database_url, FakeBot()))
    body = '{"sender": "a", "message": "hi \\ud800"}'
    reply = await client.post("/webhooks/rest/webhook", data=body, headers={**REST_AUTH, "Content-Type": "application/json"})
    assert reply.status == 400 and "codec" not in (await reply.json())["error"]
    login = await client.post("/console/api/login", data='{"username": "\\ud800", "password": "x"}',
                              headers={"Content-Type": "application/json"})
    assert login.status == 400 and "codec" not in (await login.json())["error"]
