"""Agents and sessions: two roles (only admins manage agents), deactivation, idle sessions, and return/close that
only the owning agent can do, checked in the database itself."""
from __future__ import annotations

import io
import os
import stat
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from fake_bot import FakeBot
from helpers import REST_AUTH, gateway_app
from sqlalchemy import select, update

from handoff import models as m
from handoff.console.app import ROUTER_KEY
from handoff.store import NotOwner
from handoff.views import as_utc

PASSWORD = "correct horse"


@pytest.fixture
async def client(database_url, aiohttp_client):
    app = gateway_app(database_url, FakeBot())
    store = app[ROUTER_KEY].store
    store.agents.create("boss", "Boss", PASSWORD, role="admin")
    store.agents.create("mari", "Mari", PASSWORD)
    store.agents.create("jaan", "Jaan", PASSWORD)
    return await aiohttp_client(app, headers=REST_AUTH)


async def login(client, username):
    reply = await client.post("/console/api/login", json={"username": username, "password": PASSWORD})
    assert reply.status == 200, await reply.text()
    return (await reply.json())["agent"]


async def handed_off(client, sender="anna") -> int:
    reply = await client.post("/webhooks/rest/webhook", json={"sender": sender, "message": "I want a human"})
    assert reply.status == 200
    return client.server.app[ROUTER_KEY].store.find("rest", sender).id


async def test_only_admins_manage_agents(client):
    assert (await login(client, "mari"))["role"] == "agent"
    assert (await client.get("/console/api/agents")).status == 403
    refused = await client.post("/console/api/agents", json={"username": "eve", "password": PASSWORD})
    assert refused.status == 403
    await client.post("/console/api/logout")

    assert (await login(client, "boss"))["role"] == "admin"
    listed = await (await client.get("/console/api/agents")).json()
    assert {(a["username"], a["role"], a["active"]) for a in listed["agents"]} == {
        ("boss", "admin", True), ("mari", "agent", True), ("jaan", "agent", True)}
    made = await client.post("/console/api/agents", json={"username": "liis", "display_name": "Liis", "password": PASSWORD})
    assert made.status == 201 and (await made.json())["agent"]["role"] == "agent"
    assert (await client.post("/console/api/agents", json={"username": "liis", "password": PASSWORD})).status == 409
    assert (await client.post("/console/api/agents", json={"username": "x", "password": "short"})).status == 400
    assert (await client.post("/console/api/agents", json={"username": "y", "password": PASSWORD, "role": "god"})).status == 400
    boss = next(a for a in listed["agents"] if a["username"] == "boss")
    assert (await client.post(f"/console/api/agents/{boss['id']}/deactivate")).status == 400  # not yourself
    assert (await client.post("/console/api/agents/nope/deactivate")).status == 404
    assert (await client.post("/console/api/agents/99999/deactivate")).status == 404


async def test_a_deactivated_agent_is_out_at_once_and_their_conversations_go_back_to_the_queue(client, aiohttp_client):
    store = client.server.app[ROUTER_KEY].store
    conversation_id = await handed_off(client)
    mari = await aiohttp_client(client.server)
    await login(mari, "mari")
    assert (await mari.post(f"/console/api/conversations/{conversation_id}/claim")).status == 200
    await login(client, "boss")
    mari_id = next(a.id for a in store.agents.all() if a.username == "mari")
    reply = await client.post(f"/console/api/agents/{mari_id}/deactivate")
    assert reply.status == 200 and (await reply.json())["agent"]["active"] is False
    assert (await mari.get("/console/api/me")).status == 401
    again = await mari.post("/console/api/login", json={"username": "mari", "password": PASSWORD})
    assert again.status == 401
    assert store.get(conversation_id).state == "waiting" and store.get(conversation_id).agent is None
    assert (await client.post(f"/console/api/agents/{mari_id}/activate")).status == 200
    await login(mari, "mari")


def test_the_last_admin_cannot_be_deactivated(store):
    boss = store.agents.create("boss", "Boss", PASSWORD, role="admin")
    with pytest.raises(ValueError):
        store.agents.set_active(boss.id, False)
    second = store.agents.create("anne", "Anne", PASSWORD, role="admin")
    store.agents.set_active(boss.id, False)
    with pytest.raises(ValueError):
        store.agents.set_active(second.id, False)


def test_a_session_unused_for_the_idle_time_ends(store):
    agent = store.agents.create("mari", "Mari", PASSWORD)
    token = store.agents.start_session(agent.id)
    assert store.agents.for_session(token, timedelta(minutes=30)) == agent
    with store.session() as s, s.begin():
        s.execute(update(m.AgentSession).values(last_seen_at=m.utcnow() - timedelta(minutes=31)))
    assert store.agents.for_session(token, timedelta(minutes=30)) is None
    assert store.agents.for_session(token, timedelta(minutes=60)) == agent


def test_using_a_session_keeps_it_alive_but_the_live_sockets_checks_do_not(store):
    agent = store.agents.create("mari", "Mari", PASSWORD)
    token = store.agents.start_session(agent.id)

    def last_seen():
        with store.session() as s:
            return as_utc(s.execute(select(m.AgentSession.last_seen_at)).scalar_one())

    twenty_minutes_ago = m.utcnow() - timedelta(minutes=20)
    with store.session() as s, s.begin():
        s.execute(update(m.AgentSession).values(last_seen_at=twenty_minutes_ago))
    assert store.agents.for_session(token, timedelta(minutes=30)) == agent  # the live socket's check
    assert abs((last_seen() - twenty_minutes_ago).total_seconds()) < 1, "a background check counted as use"
    assert store.agents.for_session(token, timedelta(minutes=30), touch=True) == agent  # a request the agent made
    assert m.utcnow() - last_seen() < timedelta(minutes=1)


async def test_the_console_ends_idle_sessions(database_url, aiohttp_client):
    from handoff.console.app import console_app
    from handoff.canned import CannedReplies
    from handoff.hours import BusinessHours
    from handoff.router import ConversationRouter
    from handoff.store import HandoffStore
    from supportbot.settings import Settings

    store = HandoffStore.open(database_url, run_migrations=False)
    store.agents.create("mari", "Mari", PASSWORD)
    app = console_app(ConversationRouter(store, FakeBot(), BusinessHours.parse("always")),
                      CannedReplies(Settings().knowledge_dir), session_idle=timedelta(minutes=5))
    client = await aiohttp_client(app)
    await login(client, "mari")
    assert (await client.get("/console/api/me")).status == 200
    with store.session() as s, s.begin():
        s.execute(update(m.AgentSession).values(last_seen_at=m.utcnow() - timedelta(minutes=6)))
    assert (await client.get("/console/api/me")).status == 401


async def test_return_and_close_only_by_the_owner_even_when_racing(client, aiohttp_client):
    store = client.server.app[ROUTER_KEY].store
    conversation_id = await handed_off(client)
    mari, jaan = await aiohttp_client(client.server), await aiohttp_client(client.server)
    await login(mari, "mari")
    await login(jaan, "jaan")
    assert (await mari.post(f"/console/api/conversations/{conversation_id}/claim")).status == 200
    assert (await jaan.post(f"/console/api/conversations/{conversation_id}/return")).status == 409
    assert (await jaan.post(f"/console/api/conversations/{conversation_id}/close", json={})).status == 409
    assert store.get(conversation_id).state == "agent"
    # the check is in the update itself: the store refuses even when the caller looked before the claim
    jaan_id = next(a.id for a in store.agents.all() if a.username == "jaan")
    with pytest.raises(NotOwner):
        store.close(conversation_id, None, agent_id=jaan_id)
    with pytest.raises(NotOwner):
        store.return_to_bot(conversation_id, agent_id=jaan_id)
    assert (await mari.post(f"/console/api/conversations/{conversation_id}/close", json={})).status == 200


async def test_a_waiting_conversation_can_be_returned_or_closed_by_any_agent(client, aiohttp_client):
    conversation_id = await handed_off(client)
    await login(client, "jaan")
    assert (await client.post(f"/console/api/conversations/{conversation_id}/return")).status == 200


async def test_dead_letters_show_with_the_queue_and_can_be_dismissed(client):
    store = client.server.app[ROUTER_KEY].store
    conversation_id = await handed_off(client)
    reply = store.add_message(conversation_id, "agent", "your refund is on its way", "Mari")
    store.outbox.defer(reply.id, "unreachable", timedelta(0), timedelta(0))
    store.outbox.give_up(reply.id, 12, "unreachable")
    await login(client, "mari")
    queue = await (await client.get("/console/api/queue")).json()
    assert [d["message"]["id"] for d in queue["undelivered"]] == [reply.id]
    assert (await client.post(f"/console/api/undelivered/{reply.id}/dismiss")).status == 204
    assert (await (await client.get("/console/api/undelivered")).json())["undelivered"] == []


def test_the_first_admin_password_is_kept_in_a_file_only_its_owner_reads(tmp_path, monkeypatch, capsys):
    from handoff.store import HandoffStore
    from supportbot import cli
    from supportbot.settings import Settings

    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    settings = Settings(database_url=url, project_root=tmp_path)
    notice = cli._first_agent_notice(settings)
    kept = cli.first_admin_password_file(settings)
    password = kept.read_text().strip()
    assert password in notice and stat.S_IMODE(os.stat(kept).st_mode) == 0o600
    store = HandoffStore.open(url, run_migrations=False)
    admin = store.agents.authenticate("admin", password)
    assert admin is not None and admin.is_admin
    assert cli._first_agent_notice(settings) == "", "a second admin was made"

    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setattr(cli.Settings, "__post_init__", lambda self: setattr(self, "project_root", tmp_path) or
                        setattr(self, "index_dir", tmp_path / "index"))
    monkeypatch.setattr("sys.stdin", io.StringIO("a new long password\n"))
    assert cli.main(["agents", "create", "admin", "--name", "Admin", "--password-stdin"]) == 0
    assert not kept.exists(), "the old password's file outlived it"
    assert store.agents.authenticate("admin", "a new long password").is_admin
