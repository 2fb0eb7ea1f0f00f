"""Forgetting, exporting and the retention period (handoff/customer_data.py, `supportbot customers`), on a real
SQLite database seeded through HandoffStore and a Rasa tracker file written by Rasa's own SQLTrackerStore; the
logic also on PostgreSQL, where Rasa's events share the handoff database."""
from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from fake_bot import FakeBot
from sqlalchemy import text

from handoff.customer_data import CustomerData, tracker_database_url
from handoff.hours import BusinessHours
from handoff.store import HandoffStore
from supportbot import cli
from supportbot.endpoints import tracker_database_path
from supportbot.gateway import build_app
from supportbot.settings import Settings

MARKER = "quokka-7f3a9c-marker"     # only in the forgotten customer's data
OTHER = "pangolin-2b8e1d-marker"    # only in the other customer's data
ANNA = ("webchat", "anna-session-0001")
BORIS = ("telegram", "424242")


def save_tracker(tracker_url: str, sender: str, texts: List[Tuple[float, str]], session_at: float) -> None:
    """Events of `sender` in Rasa's tracker store, written by Rasa's SQLTrackerStore: a session started at
    `session_at`, then each text as a user message at its timestamp and a bot reply."""
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker
    from sqlalchemy.engine import make_url

    url = make_url(tracker_url)
    if url.get_backend_name() == "sqlite":
        store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=url.database)
    else:
        store = SQLTrackerStore(Domain.empty(), dialect="postgresql", host=url.host, port=url.port,
                                db=url.database, username=url.username, password=url.password)
    tracker = asyncio.run(store.retrieve_full_tracker(sender)) or DialogueStateTracker(sender, [])
    tracker.update(ActionExecuted("action_session_start", timestamp=session_at))
    tracker.update(SessionStarted(timestamp=session_at))
    for moment, said in texts:
        tracker.update(UserUttered(said, timestamp=moment))
        tracker.update(BotUttered(f"an answer to {said}", timestamp=moment + 1))
    asyncio.run(store.save(tracker))
    store.engine.dispose()


def seed_customer(store: HandoffStore, channel: str, customer: str, marker: str) -> int:
    """A conversation with everything a customer leaves behind, `marker` in each of its texts."""
    agent = store.agents.create(f"agent-{marker[:8]}", "Mari", "correct horse battery")
    conversation = store.conversation(channel, customer)
    store.note_customer(conversation.id, name=f"Anna {marker}", language="en")
    store.add_message(conversation.id, "customer", f"my router {marker} is broken, write to {marker}@example.com")
    answer = store.add_message(conversation.id, "bot", f"Try this, {marker}", payload={
        "custom": {"kind": "answer", "faq_id": "router-restart", "question": marker},
        "buttons": [{"title": marker, "payload": "/affirm"}]})
    store.record_feedback(conversation.id, answer.id, "router-restart", False)
    store.hand_off(conversation.id, "human_request", packet={"question": f"wants a person: {marker}"})
    store.claim(conversation.id, agent.id)
    reply = store.add_message(conversation.id, "agent", f"Hello {marker}", author="Mari")
    store.add_message(conversation.id, "note", f"internal note on {marker}", author="Mari")
    store.outbox.defer(reply.id, f"timeout sending {marker}", timedelta(seconds=30), timedelta(hours=1))
    store.publish(conversation.id, "typing", {"who": "agent", "text": marker})
    store.close(conversation.id, resolution=f"router {marker} replaced")
    store.rate(conversation.id, 5)
    return conversation.id


def database_files(database: Path) -> Dict[str, bytes]:
    files = {}
    for main in (database, Path(tracker_database_path(str(database)))):
        for path in (main, main.with_name(main.name + "-wal"), main.with_name(main.name + "-journal")):
            if path.exists():
                files[path.name] = path.read_bytes()
    return files


@pytest.fixture
def sqlite_database(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "supportbot.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    return path


@pytest.fixture
def seeded(sqlite_database):
    """Anna (to be forgotten) and Boris, in both databases; the store stays open, as a running gateway's would."""
    url = f"sqlite:///{sqlite_database}"
    store = HandoffStore.open(url)
    anna = seed_customer(store, *ANNA, MARKER)
    boris = seed_customer(store, *BORIS, OTHER)
    now = datetime.now(timezone.utc).timestamp()
    save_tracker(tracker_database_url(url), "webchat:" + ANNA[1], [(now, f"hello {MARKER}")], now)
    save_tracker(tracker_database_url(url), "telegram:" + BORIS[1], [(now, f"hello {OTHER}")], now)
    yield store, anna, boris
    store.engine.dispose()


def test_the_tracker_database_is_the_one_rasa_is_given():
    assert tracker_database_url("sqlite:////srv/var/supportbot.db") == "sqlite:////srv/var/supportbot-tracker.db"
    assert tracker_database_url("postgresql://bot:pw@db:5432/support") == "postgresql://bot:pw@db:5432/support"


def test_forget_leaves_none_of_the_customers_text_in_either_file(seeded, sqlite_database, capsys):
    store, anna, boris = seeded
    before = database_files(sqlite_database)
    assert any(MARKER.encode() in data for data in before.values())
    assert MARKER.encode() in before["supportbot-tracker.db"]
    boris_messages = [m.text for m in store.messages(boris)]

    assert cli.main(["customers", "forget", *ANNA]) == 0
    printed = capsys.readouterr()
    assert "forgot webchat anna-session-0001" in printed.out and "4 messages" in printed.out
    assert "Rasa tracker events" in printed.out and printed.err == ""

    after = database_files(sqlite_database)
    for name, data in after.items():
        assert MARKER.encode() not in data, f"{name} still holds the forgotten customer's text"
        assert ANNA[1].encode() not in data, f"{name} still holds the forgotten customer's id"
    assert OTHER.encode() in after["supportbot.db"] + after.get("supportbot.db-wal", b"")
    assert OTHER.encode() in after["supportbot-tracker.db"]
    assert store.find(*ANNA) is None
    assert [m.text for m in store.messages(boris)] == boris_messages
    assert store.current_handoff(boris).rating == 5
    assert store.feedback_by_entry() == {"router-restart": {"helpful": 0, "not_helpful": 1}}

    # the store goes on working on the vacuumed file, and the customer can start again
    again = store.conversation(*ANNA)
    assert again.id != anna and store.messages(again.id) == []
    assert cli.main(["customers", "forget", "webchat", "nobody"]) == 0
    assert "nothing is stored of webchat nobody" in capsys.readouterr().out


def test_export_holds_everything_of_the_customer_and_nothing_of_the_other(seeded, tmp_path, capsys):
    store, anna, _ = seeded
    output = tmp_path / "anna.json"
    assert cli.main(["customers", "export", *ANNA, "--output", str(output)]) == 0
    assert output.stat().st_mode & 0o077 == 0  # personal data: the owner's only
    raw = output.read_text(encoding="utf-8")
    assert OTHER not in raw and BORIS[1] not in raw
    document = json.loads(raw)
    assert (document["channel"], document["customer_id"]) == ANNA
    [conversation] = document["conversations"]
    assert conversation["id"] == anna and conversation["customer_name"] == f"Anna {MARKER}"
    messages = conversation["messages"]
    assert [m["role"] for m in messages] == ["customer", "bot", "agent", "note"]
    assert [m["text"] for m in messages] == [m.text for m in store.messages(anna)]
    assert f"write to {MARKER}@example.com" in messages[0]["text"]  # their own data, unmasked
    assert messages[1]["payload"]["buttons"] == [{"title": MARKER, "payload": "/affirm"}]
    [handoff] = conversation["handoffs"]
    assert handoff["packet"] == {"question": f"wants a person: {MARKER}"}
    assert handoff["resolution"] == f"router {MARKER} replaced" and handoff["rating"] == 5
    [feedback] = conversation["answer_feedback"]
    assert feedback["message_id"] == messages[1]["id"] and feedback["helpful"] is False
    [deferred] = conversation["deferred_deliveries"]
    assert MARKER in deferred["last_error"]
    events = document["rasa_tracker_events"]
    assert document["rasa_sender_id"] == f"webchat:{ANNA[1]}"
    assert [e["type_name"] for e in events] == ["action", "session_started", "user", "bot"]
    assert events[2]["data"]["text"] == f"hello {MARKER}"

    assert cli.main(["customers", "export", *ANNA]) == 0  # to stdout
    assert json.loads(capsys.readouterr().out)["conversations"][0]["id"] == anna
    assert cli.main(["customers", "export", "webchat", "nobody"]) == 1
    assert "nothing is stored" in capsys.readouterr().err


def age(store: HandoffStore, conversation_id: int, days: float) -> None:
    """Makes the conversation, its messages and handoffs `days` old."""
    moment = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(days=days)
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE conversations SET created_at = :t, updated_at = :t WHERE id = :id"),
                           {"t": moment, "id": conversation_id})
        connection.execute(text("UPDATE messages SET created_at = :t WHERE conversation_id = :id"), {"t": moment, "id": conversation_id})
        connection.execute(text("UPDATE handoffs SET requested_at = :t, claimed_at = :t, ended_at = :t "
                                "WHERE conversation_id = :id"), {"t": moment, "id": conversation_id})
        connection.execute(text("UPDATE live_events SET created_at = :t WHERE conversation_id = :id"), {"t": moment, "id": conversation_id})


def seed_for_retention(store: HandoffStore, tracker_url: str) -> Tuple[int, int, int]:
    """An old conversation; a recent one that began long ago; a recent one."""
    old = seed_customer(store, "webchat", "old-customer-01", MARKER)
    age(store, old, 45)
    long_running = seed_customer(store, "telegram", "777", "old-part")
    age(store, long_running, 45)
    store.add_message(long_running, "customer", f"still here {OTHER}")  # recent activity
    recent = seed_customer(store, "rest", "recent-customer", OTHER)
    now = datetime.now(timezone.utc).timestamp()
    day = 24 * 3600
    save_tracker(tracker_url, "webchat:old-customer-01", [(now - 45 * day, f"hi {MARKER}")], now - 45 * day)
    save_tracker(tracker_url, "telegram:777", [(now - 45 * day, "old-part")], now - 45 * day)
    save_tracker(tracker_url, "telegram:777", [(now - 40 * day, "old-part second session"), (now, OTHER)], now - 40 * day)
    save_tracker(tracker_url, "rest:recent-customer", [(now, OTHER)], now)
    return old, long_running, recent


def tracker_texts(tracker_url: str, sender: str) -> List[str]:
    from sqlalchemy import create_engine

    engine = create_engine(tracker_url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT type_name, data FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender}).all()
    engine.dispose()
    return [f"{kind}:{json.loads(data).get('text', '')}" for kind, data in rows]


def check_retention(store: HandoffStore, tracker_url: str, old: int, long_running: int, recent: int) -> None:
    assert store.find("webchat", "old-customer-01") is None
    assert [m.text for m in store.messages(long_running)] == [f"still here {OTHER}"]
    assert store.current_handoff(long_running) is not None  # the conversation's own handoff stays, however old
    assert len(store.messages(recent)) == 4 and store.current_handoff(recent).rating == 5
    assert tracker_texts(tracker_url, "webchat:old-customer-01") == []
    # the current session (begun 40 days ago) is kept whole; the session before it is gone
    assert tracker_texts(tracker_url, "telegram:777") == [
        "action:", "session_started:", "user:old-part second session", "bot:an answer to old-part second session",
        f"user:{OTHER}", f"bot:an answer to {OTHER}"]
    assert len(tracker_texts(tracker_url, "rest:recent-customer")) == 4


def test_purge_deletes_only_what_is_older_than_the_retention_period(sqlite_database, capsys):
    url = f"sqlite:///{sqlite_database}"
    store = HandoffStore.open(url)
    old, long_running, recent = seed_for_retention(store, tracker_database_url(url))

    assert cli.main(["customers", "purge", "--older-than-days", "30"]) == 0
    assert "deleted what is older than 30 days" in capsys.readouterr().out
    check_retention(store, tracker_database_url(url), old, long_running, recent)
    data = b"".join(database_files(sqlite_database).values())
    assert MARKER.encode() not in data and b"old-customer-01" not in data  # secure_delete: not in free pages either
    with pytest.raises(SystemExit):
        cli.main(["customers", "purge"])
    store.engine.dispose()


def test_forget_export_and_purge_on_postgresql(postgres_url):
    store = HandoffStore.open(postgres_url, run_migrations=False)
    customer_data = CustomerData.for_engine(store.engine)
    assert customer_data.tracker_url == postgres_url
    assert customer_data.export(*ANNA) is None and not customer_data.forget(*ANNA).anything  # no events table yet
    anna = seed_customer(store, *ANNA, MARKER)
    boris = seed_customer(store, *BORIS, OTHER)
    now = datetime.now(timezone.utc).timestamp()
    save_tracker(postgres_url, "webchat:" + ANNA[1], [(now, MARKER)], now)
    save_tracker(postgres_url, "telegram:" + BORIS[1], [(now, OTHER)], now)

    document = customer_data.export(*ANNA)
    assert document["conversations"][0]["id"] == anna and OTHER not in json.dumps(document)
    assert [e["type_name"] for e in document["rasa_tracker_events"]] == ["action", "session_started", "user", "bot"]
    removed = customer_data.forget(*ANNA)
    assert removed.rows["messages"] == 4 and removed.rows["conversations"] == 1 and removed.tracker_events == 4
    assert store.find(*ANNA) is None and customer_data.export(*ANNA) is None
    assert len(store.messages(boris)) == 4 and len(tracker_texts(postgres_url, "telegram:" + BORIS[1])) == 4

    old, long_running, recent = seed_for_retention(store, postgres_url)
    customer_data.purge_older_than(30)
    check_retention(store, postgres_url, old, long_running, recent)
    store.engine.dispose()


async def test_the_gateway_purges_past_retention_days(sqlite_database, aiohttp_client):
    url = f"sqlite:///{sqlite_database}"
    store = HandoffStore.open(url)
    old = seed_customer(store, "webchat", "old-customer-01", MARKER)
    age(store, old, 45)
    recent = seed_customer(store, "rest", "recent-customer", OTHER)
    settings = Settings(retention_days=30, rest_api_token="token")
    await aiohttp_client(build_app(settings, store=store, bot=FakeBot(), hours=BusinessHours.parse("always")))
    for _ in range(200):
        if store.find("webchat", "old-customer-01") is None:
            break
        await asyncio.sleep(0.05)
    assert store.find("webchat", "old-customer-01") is None
    assert len(store.messages(recent)) == 4


async def test_without_retention_days_the_gateway_keeps_everything(sqlite_database, aiohttp_client):
    store = HandoffStore.open(f"sqlite:///{sqlite_database}")
    old = seed_customer(store, "webchat", "old-customer-01", MARKER)
    age(store, old, 4000)
    assert Settings().retention_days == 0
    client = await aiohttp_client(build_app(Settings(rest_api_token="token"), store=store, bot=FakeBot(),
                                            hours=BusinessHours.parse("always")))
    assert (await client.get("/health")).status == 200
    await asyncio.sleep(0.3)
    assert len(store.messages(old)) == 4


def test_sqlite_connections_overwrite_what_they_delete(sqlite_database):
    store = HandoffStore.open(f"sqlite:///{sqlite_database}")
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.engine.dispose()
    assert sqlite3.connect(sqlite_database).execute("PRAGMA journal_mode").fetchone() == ("wal",)
