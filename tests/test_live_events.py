"""The one follower of the live_events table (handoff/live_events.py), on SQLite and PostgreSQL: every event once,
in id order, from its start on; late commits with lower ids; bursts longer than a page; a bounded seen set."""
from __future__ import annotations

from datetime import timedelta

import pytest

from handoff import models as m
from handoff.live_events import MAX_PAGES_PER_BATCH, LiveEventFollower


def publish(store, conversation_id: int, count: int, kind: str = "typing") -> None:
    for index in range(count):
        store.publish(conversation_id, kind, {"n": index})


async def drain(follower: LiveEventFollower):
    """Batches until one comes back empty; all their events."""
    events = []
    while True:
        batch = await follower.next_batch()
        if not batch:
            return events
        events.extend(batch)


async def test_events_from_the_start_on_once_each_in_id_order(store):
    conversation = store.conversation("webchat", "follower-1")
    publish(store, conversation.id, 3)  # before the start: not the follower's
    follower = LiveEventFollower(store)
    assert await follower.next_batch() == []  # not started: nothing
    await follower.start()
    assert await follower.next_batch() == [], "recent events from before the start came again"
    publish(store, conversation.id, 4)
    first = await follower.next_batch()
    assert [e.payload["n"] for e in first] == [0, 1, 2, 3]
    assert [e.id for e in first] == sorted(e.id for e in first)
    assert await follower.next_batch() == []
    store.add_message(conversation.id, "agent", "hello", "Mari")
    [message] = await follower.next_batch()
    assert message.kind == "message" and message.payload["message"]["text"] == "hello"


async def test_after_a_stop_nothing_until_the_next_start(store):
    conversation = store.conversation("webchat", "follower-2")
    follower = LiveEventFollower(store)
    await follower.start()
    follower.stop()
    assert not follower.following
    publish(store, conversation.id, 2)  # nobody listens
    assert await follower.next_batch() == []
    await follower.start()
    assert await follower.next_batch() == []
    publish(store, conversation.id, 1)
    assert len(await follower.next_batch()) == 1


async def test_a_burst_longer_than_a_page_is_read_to_the_end(store):
    conversation = store.conversation("webchat", "follower-3")
    follower = LiveEventFollower(store, page_size=5)
    await follower.start()
    publish(store, conversation.id, 23)
    events = await follower.next_batch()
    assert [e.payload["n"] for e in events] == list(range(23))
    assert not follower.behind

    longest = 5 * MAX_PAGES_PER_BATCH
    publish(store, conversation.id, longest + 7)
    first = await follower.next_batch()
    assert len(first) == longest and follower.behind, "one batch reads at most MAX_PAGES_PER_BATCH pages"
    rest = await drain(follower)
    assert [e.payload["n"] for e in first + rest] == list(range(longest + 7))
    assert not follower.behind


async def test_many_recent_events_do_not_hide_the_new_ones(store):
    """The late-commit window holds more events than a page: the new ids still come (one OR query with one
    limit returned only the window's seen events, again and again, and the feed stalled)."""
    conversation = store.conversation("webchat", "follower-4")
    follower = LiveEventFollower(store, page_size=20)
    await follower.start()
    publish(store, conversation.id, 60)
    assert len(await drain(follower)) == 60
    publish(store, conversation.id, 3, kind="message")
    assert [e.kind for e in await follower.next_batch()] == ["message"] * 3


def insert_event(store, event_id: int, conversation_id: int) -> None:
    with store.session() as s, s.begin():
        s.add(m.LiveEvent(id=event_id, conversation_id=conversation_id, kind="typing", payload={"late": event_id}))


async def test_an_event_that_appears_below_the_cursor_comes_once(store):
    """What a late commit looks like to a reader, made with explicit ids (on both databases)."""
    conversation = store.conversation("webchat", "follower-5")
    follower = LiveEventFollower(store)
    await follower.start()
    base = follower.cursor
    insert_event(store, base + 100, conversation.id)
    assert [e.id for e in await follower.next_batch()] == [base + 100]
    insert_event(store, base + 50, conversation.id)  # below the cursor, inside the window
    assert [e.id for e in await follower.next_batch()] == [base + 50]
    assert await follower.next_batch() == []
    assert follower.cursor == base + 100


async def test_an_event_below_the_cursor_older_than_the_window_is_not_read(store):
    conversation = store.conversation("webchat", "follower-6")
    follower = LiveEventFollower(store, window=timedelta(seconds=5))
    await follower.start()
    base = follower.cursor
    insert_event(store, base + 100, conversation.id)
    await follower.next_batch()
    follower.clock = lambda: m.utcnow() + timedelta(seconds=30)  # half a minute later
    insert_event(store, base + 50, conversation.id)
    assert await follower.next_batch() == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_late_commit_on_postgresql_comes_once(store):
    """Two transactions: the first takes its id and commits after the second."""
    conversation = store.conversation("webchat", "follower-7")
    follower = LiveEventFollower(store)
    await follower.start()
    slow = store.session()
    slow.begin()
    slow.add(m.LiveEvent(conversation_id=conversation.id, kind="typing", payload={"who": "slow"}))
    slow.flush()
    store.publish(conversation.id, "typing", {"who": "fast"})
    [fast] = await follower.next_batch()
    assert fast.payload == {"who": "fast"}
    slow.commit()
    slow.close()
    [late] = await follower.next_batch()
    assert late.payload == {"who": "slow"} and late.id < fast.id
    assert await follower.next_batch() == []


async def test_the_seen_set_is_bounded(store):
    conversation = store.conversation("webchat", "follower-8")
    follower = LiveEventFollower(store, seen_limit=30)
    await follower.start()
    publish(store, conversation.id, 80)
    assert len(await follower.next_batch()) == 80
    assert follower.remembered <= 30
    publish(store, conversation.id, 2)
    assert len(await follower.next_batch()) == 2
