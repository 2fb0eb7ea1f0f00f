"""The handoff database: the engine for the configured URL (DATABASE_URL) and Alembic migrations."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.future import create_engine
from sqlalchemy.pool import QueuePool

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _tune_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the Rasa server, the gateway and the console read while one of them writes
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    # in WAL mode NORMAL loses no committed data on a crash of the process, and spares an fsync per commit
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # what is deleted is overwritten, so a forgotten customer's text does not stay in free pages (handoff/customer_data.py)
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # connections are kept: SQLAlchemy 1.4 would open a new one, with its PRAGMAs, for every session
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10},
                               poolclass=QueuePool, pool_size=8, max_overflow=8)
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision`; safe to call at every start."""
    from alembic import command

    if make_url(url).get_backend_name() == "sqlite":
        make_engine(url).dispose()  # creates the directory of the file
    command.upgrade(alembic_config(url), revision)


def tracker_database_path(handoff_database: str) -> str:
    """var/supportbot.db → var/supportbot-tracker.db"""
    if not handoff_database or handoff_database == ":memory:":
        return handoff_database
    path = Path(handoff_database)
    return str(path.with_name(f"{path.stem}-tracker{path.suffix or '.db'}"))
