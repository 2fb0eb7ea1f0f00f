"""The scale-out configuration: two Rasa servers behind the gateway, sharing the tracker store on the
machine's PostgreSQL and locking conversations in the machine's Redis."""
from __future__ import annotations

import os
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from supportbot.settings import Settings
from supportbot.stack import Stack, private_settings, send

pytestmark = [pytest.mark.slow, pytest.mark.live]

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
QUESTIONS = ["how can I pay my invoice?", "my internet is not working", "how do I reset my password?",
             "kuidas roaming sisse lülitada?", "как поменять пароль от вайфая?", "what does the TV package cost?"]


@pytest.fixture
def redis_lock_events(redis_url):
    """Records which Redis keys are written and deleted while the test runs (keyspace notifications)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        previous = client.config_get("notify-keyspace-events")["notify-keyspace-events"]
    except redis.ConnectionError as error:
        pytest.fail(f"Redis is needed for this test at {REDIS_URL} (TEST_REDIS_URL): {error}")
    client.config_set("notify-keyspace-events", "KA")
    db = client.connection_pool.connection_kwargs.get("db", 0)
    pubsub = client.pubsub()
    pubsub.psubscribe(f"__keyspace@{db}__:supportbot:lock:*")
    seen = []
    stop = threading.Event()

    def listen():
        while not stop.is_set():
            message = pubsub.get_message(timeout=0.2)
            if message and message["type"] == "pmessage":
                seen.append((message["channel"].decode().split(":", 1)[1], message["data"].decode()))

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    yield seen
    stop.set()
    listener.join(timeout=5)
    pubsub.close()
    client.config_set("notify-keyspace-events", previous)


def test_two_rasa_servers_share_postgresql_and_lock_in_redis(postgres_url, redis_lock_events):
    database_url = postgres_url
    settings = private_settings(Settings.from_environ(), database_url=database_url, redis_url=REDIS_URL, rasa_workers=2)
    customer = f"scale-{uuid.uuid4().hex[:8]}"
    with Stack(settings, quiet=True) as stack:
        assert len(stack.rasa_urls) == 2
        with ThreadPoolExecutor(len(QUESTIONS)) as pool:
            replies = list(pool.map(lambda text: send(settings.rest_url, customer, text, token=settings.rest_api_token), QUESTIONS))
    assert all(reply and reply[0]["text"] for reply in replies), replies

    engine = sa.create_engine(database_url, future=True)
    with engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT type_name FROM events WHERE sender_id = :sender ORDER BY id"), {"sender": f"rest:{customer}"}).scalars().all()
    engine.dispose()
    assert rows.count("user") == len(QUESTIONS), rows
    # every message was handled whole before the next one: its user event is followed by the bot's reply
    turns = "".join("U" if r == "user" else "B" if r == "bot" else "" for r in rows)
    assert re.fullmatch(r"(UB+)+", turns), turns

    lock_key = f"supportbot:lock:rest:{customer}"
    operations = [op for key, op in redis_lock_events if key == lock_key]
    assert "set" in operations and "del" in operations, redis_lock_events
