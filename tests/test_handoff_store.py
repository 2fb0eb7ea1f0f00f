"""The ownership state machine in the database, on SQLite and on the machine's PostgreSQL."""
from __future__ import annotations

import threading

import pytest

from handoff.ownership import State, TransitionRefused, priority_for
from handoff.store import AlreadyClaimed, HandoffStore
from handoff.views import NotFound


def test_one_conversation_per_customer_and_channel(store):
    first = store.conversation("rest", "anna")
    assert store.conversation("rest", "anna").id == first.id
    assert store.conversation("telegram", "anna").id != first.id
    assert first.state == State.BOT.value


def test_the_whole_round_trip(store):
    agent = store.agents.create("mari", "Mari", "correct horse")
    conversation = store.conversation("rest", "anna")
    store.hand_off(conversation.id, "upset", "upset", {"considered": [{"faq_id": "x", "score": 0.4}]})
    assert store.get(conversation.id).state == "waiting"
    claimed = store.claim(conversation.id, agent.id)
    assert claimed.state == "agent" and claimed.agent.display_name == "Mari"
    closed = store.close(conversation.id, "refund issued")
    assert closed.state == "closed" and closed.awaiting_rating
    assert store.rate(conversation.id, 4).rating == 4
    store.resume_bot(conversation.id)
    after = store.get(conversation.id)
    assert after.state == "bot" and not after.awaiting_rating
    handoff = store.current_handoff(conversation.id)
    assert (handoff.outcome, handoff.resolution, handoff.rating) == ("closed", "refund issued", 4)
    assert handoff.packet["considered"][0]["faq_id"] == "x"


@pytest.mark.parametrize("change", ["claim", "close", "return_to_bot"])
def test_a_conversation_with_the_bot_cannot_be_taken_or_closed(store, change):
    agent = store.agents.create("mari", "Mari", "correct horse")
    conversation = store.conversation("rest", "anna")
    args = {"claim": (conversation.id, agent.id), "close": (conversation.id,), "return_to_bot": (conversation.id,)}[change]
    with pytest.raises(TransitionRefused):
        getattr(store, change)(*args)
    assert store.get(conversation.id).state == "bot"


def test_a_second_handoff_while_waiting_is_refused(store):
    conversation = store.conversation("rest", "anna")
    store.hand_off(conversation.id, "human_request")
    with pytest.raises(TransitionRefused):
        store.hand_off(conversation.id, "rude", "rude")
    assert store.current_handoff(conversation.id).reason == "human_request"


def test_the_queue_serves_rude_and_upset_first_then_by_waiting_time(store):
    ids = {}
    for customer, reason, sentiment in [("a", "low_confidence", "calm"), ("b", "human_request", "upset"),
                                        ("c", "rude", "rude"), ("d", "out_of_scope", "calm")]:
        ids[customer] = store.conversation("rest", customer).id
        store.hand_off(ids[customer], reason, sentiment)
    assert [c.customer_id for c in store.waiting()] == ["c", "b", "a", "d"]
    assert store.queue_position(ids["a"]) == 3
    assert priority_for("human_request", "upset") < priority_for("low_confidence", "calm")


def test_expected_wait_follows_recent_claims(store):
    agent = store.agents.create("mari", "Mari", "correct horse")
    assert store.expected_wait_minutes(2) == 8  # the default of 4 minutes per customer
    conversation = store.conversation("rest", "anna")
    store.hand_off(conversation.id, "human_request")
    store.claim(conversation.id, agent.id)
    assert store.expected_wait_minutes(3) == 3  # claimed at once: at least a minute each


def test_claim_happens_exactly_once_under_concurrency(database_url):
    """Eight agents, each with their own connection pool, click 'claim' on the same conversation at once."""
    stores = [HandoffStore.open(database_url, run_migrations=False) for _ in range(8)]
    agents = [stores[0].agents.create(f"agent{i}", f"Agent {i}", "correct horse") for i in range(8)]
    conversation = stores[0].conversation("rest", "anna")
    stores[0].hand_off(conversation.id, "human_request")
    start = threading.Barrier(len(stores))
    outcomes = [None] * len(stores)

    def click(i):
        start.wait()
        try:
            stores[i].claim(conversation.id, agents[i].id)
            outcomes[i] = "won"
        except AlreadyClaimed as refused:
            outcomes[i] = refused.owner

    threads = [threading.Thread(target=click, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [i for i, outcome in enumerate(outcomes) if outcome == "won"]
    assert len(winners) == 1
    owner = stores[0].get(conversation.id).agent
    assert owner.username == f"agent{winners[0]}"
    assert all(outcome == owner.display_name for outcome in outcomes if outcome != "won")
    for s in stores:
        s.engine.dispose()


def test_messages_and_live_events(store):
    conversation = store.conversation("rest", "anna")
    first = store.add_message(conversation.id, "customer", "hello", "Anna")
    store.add_message(conversation.id, "note", "VIP customer", "Mari")
    assert [m.text for m in store.messages(conversation.id, roles=("customer", "bot", "agent"))] == ["hello"]
    assert [m.role for m in store.messages(conversation.id, after_id=first.id)] == ["note"]
    events = store.events_after(0)
    assert [e.kind for e in events] == ["message", "message"]
    assert events[0].payload["message"]["text"] == "hello"
    assert store.events_after(store.last_event_id()) == []


def test_agents_log_in_with_hashed_passwords(store):
    with pytest.raises(ValueError):
        store.agents.create("short", "Short", "1234")
    store.agents.create("mari", "Mari", "correct horse")
    row = store.engine.connect().exec_driver_sql("SELECT password_hash FROM agents").scalar()
    assert "correct horse" not in row and row.startswith("$argon2")
    assert store.agents.authenticate("mari", "wrong") is None
    assert store.agents.authenticate("nobody", "correct horse") is None
    agent = store.agents.authenticate("mari", "correct horse")
    token = store.agents.start_session(agent.id)
    assert store.agents.for_session(token) == agent
    store.agents.end_session(token)
    assert store.agents.for_session(token) is None


def test_unknown_conversation(store):
    with pytest.raises(NotFound):
        store.get(12345)


def test_migrations_go_down_and_up_again(database_url):
    import sqlalchemy as sa
    from alembic import command

    from handoff.db import alembic_config, migrate

    command.downgrade(alembic_config(database_url), "base")
    engine = sa.create_engine(database_url, future=True)
    assert "conversations" not in sa.inspect(engine).get_table_names()
    migrate(database_url)
    assert {"conversations", "messages", "handoffs", "agents", "agent_sessions", "live_events"} <= set(sa.inspect(engine).get_table_names())
    assert "register" in {c["name"] for c in sa.inspect(engine).get_columns("conversations")}
    engine.dispose()


def test_customer_statuses_read_the_queue_once_for_all(store):
    agent = store.agents.create("kati", "Kati", "correct horse")
    ids = []
    for name in ("a", "b", "c"):
        conversation = store.conversation("webchat", name)
        store.hand_off(conversation.id, "human_request")
        ids.append(conversation.id)
    store.claim(ids[0], agent.id)
    statuses = store.customer_statuses(ids + [10 ** 9])
    assert statuses == {
        ids[0]: {"state": "agent", "queue_position": None, "agent": "Kati"},
        ids[1]: {"state": "waiting", "queue_position": 1, "agent": None},
        ids[2]: {"state": "waiting", "queue_position": 2, "agent": None},
    }
