from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from helpers import make_tracker as _make_tracker
from supportbot.settings import Settings, use_library_defaults
from tiers import POSTGRES_URL, REDIS_URL, SERVICE_URLS, SERVICES, address, marks_for, unreachable, when_missing

TESTS_DIR = Path(__file__).resolve().parent

# Tests must not depend on the clock: agents are "at work" unless a test sets other hours.
os.environ.setdefault("BUSINESS_HOURS", "always")
use_library_defaults()  # no test downloads a model

SMALL_KB = TESTS_DIR / "fixtures" / "kb_small"


@pytest.fixture(scope="session")
def small_kb_dir() -> Path:
    assert SMALL_KB.is_dir(), SMALL_KB
    return SMALL_KB


@pytest.fixture(scope="session")
def small_index_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("small_index") / "index"


@pytest.fixture(scope="session")
def small_retriever(small_kb_dir, small_index_dir):
    from knowledge.live import open_retriever

    return open_retriever(small_kb_dir, small_index_dir)


@pytest.fixture
def knowledge_client(small_kb_dir, small_index_dir, small_retriever):
    """The actions' knowledge client, pointed at the small knowledge base (index built once per session)."""
    from bot.actions import knowledge_client as module
    from bot.actions.knowledge_client import KnowledgeClient, use_knowledge_client
    from knowledge.live import LiveRetriever

    client = KnowledgeClient(LiveRetriever(knowledge_dir=small_kb_dir, index_dir=small_index_dir))
    use_knowledge_client(client)
    try:
        yield client
    finally:
        use_knowledge_client(None)
        assert module._client is None


@pytest.fixture
def make_tracker():
    return _make_tracker


@pytest.fixture(autouse=True)
def _default_bot_name(monkeypatch):
    # Replies embed BOT_NAME (read by Settings.from_environ); keep the texts the tests expect independent of the environment.
    monkeypatch.delenv("BOT_NAME", raising=False)


POSTGRES_ADMIN_URL = POSTGRES_URL


@pytest.fixture
def postgres_url():
    """A new, migrated database on the machine's PostgreSQL, dropped afterwards."""
    import uuid

    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    from handoff.db import migrate

    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", future=True)
    name = f"supportbot_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as error:
        pytest.fail(f"PostgreSQL is needed for this test at {POSTGRES_ADMIN_URL} (TEST_POSTGRES_URL): {error}")
    url = str(make_url(POSTGRES_ADMIN_URL).set(database=name))
    migrate(url)
    yield url
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def redis_url() -> str:
    """The machine's Redis (TEST_REDIS_URL, by default database 5 on 127.0.0.1:6379)."""
    return REDIS_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A fresh, migrated database: a SQLite file, and a new database on the machine's PostgreSQL."""
    from handoff.db import migrate

    if request.param == "postgresql":
        yield request.getfixturevalue("postgres_url")
        return
    url = f"sqlite:///{tmp_path / 'supportbot.db'}"
    migrate(url)
    yield url


@pytest.fixture
def store(database_url):
    from handoff.store import HandoffStore

    handoff_store = HandoffStore.open(database_url, run_migrations=False)
    yield handoff_store
    handoff_store.engine.dispose()


@pytest.fixture(scope="session")
def live_bot(tmp_path_factory):
    """The whole stack (action server, Rasa server, gateway) on free ports and a fresh database; its Settings."""
    from supportbot.stack import Stack, private_settings, scratch_database

    settings = private_settings(Settings.from_environ(),
                                database_url=scratch_database(tmp_path_factory.mktemp("live-db") / "supportbot.db"))
    with Stack(settings, quiet=True) as stack:
        yield stack.settings


# ---------------------------------------------------------------- tiers (tests/tiers.py)


def pytest_collection_modifyitems(config, items: List[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        database_param: Optional[str] = callspec.params.get("database_url") if callspec else None
        for mark in marks_for(item.fixturenames, database_param):
            item.add_marker(mark)
        if not any(item.get_closest_marker(mark) for mark in ("slow", "live", "browser", "postgres", "redis")):
            item.add_marker("unit")


_service_problems: Dict[str, Optional[str]] = {}


def pytest_runtest_setup(item: pytest.Item) -> None:
    for service in SERVICES:
        if item.get_closest_marker(service) is None:
            continue
        url, variable, default_port = SERVICE_URLS[service]
        if service not in _service_problems:
            _service_problems[service] = unreachable(*address(url, default_port))
        problem = _service_problems[service]
        if problem is not None:
            action, message = when_missing(service, url, variable, problem, os.environ)
            if action == "fail":
                pytest.fail(message, pytrace=False)
            pytest.skip(message)
