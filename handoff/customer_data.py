"""One customer's data, forgotten or exported, and the retention period: in the handoff database (their
conversation and every table that refers to it) and in Rasa's tracker store (the `events` of the Rasa sender
`channel:customer_id`; on SQLite a file of its own beside the handoff database, supportbot/endpoints.py).

On SQLite every connection deletes with `secure_delete` (handoff/db.py), so deleted text is overwritten; after a
forget both files are vacuumed and their write-ahead logs emptied, so none of the customer's text is left in
them."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

from sqlalchemy import MetaData, delete, event, func, inspect, select
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.future import create_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.schema import Table

from handoff import models as m
from handoff.db import tracker_database_path
from handoff.views import as_utc

TRACKER_EVENTS = "events"  # Rasa's SQLTrackerStore
SESSION_STARTED = "session_started"
# copies of messages and state changes for the live feeds, pruned within the hour: not part of an export
NOT_EXPORTED = {m.LiveEvent.__tablename__}


def rasa_sender_id(channel: str, customer_id: str) -> str:
    """The Rasa sender of a conversation, as handoff.router.rasa_sender_id makes it."""
    return f"{channel}:{customer_id}"


def tracker_database_url(database_url: str) -> str:
    """Where Rasa keeps its trackers (supportbot/endpoints.py tracker_store_config): a SQLite file of its own beside
    the handoff database, otherwise the handoff database itself."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return database_url
    return str(url.set(database=tracker_database_path(url.database)))


def _tune_tracker_sqlite(dbapi_connection, _record) -> None:
    """Rasa's file keeps its own journal mode; this connection only waits for Rasa's locks and overwrites what it deletes."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def conversation_tables() -> List[Table]:
    """Every table with a row per conversation, children before parents (so deletes keep the foreign keys)."""
    return [t for t in reversed(m.Base.metadata.sorted_tables) if "conversation_id" in t.c]


def message_tables() -> List[Table]:
    return [t for t in reversed(m.Base.metadata.sorted_tables) if "message_id" in t.c]


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    return value


def _row(table: Table, row) -> Dict[str, Any]:
    return {column.name: _jsonable(row._mapping[column.name]) for column in table.columns}


def _tracker_event(row) -> Dict[str, Any]:
    item = {key: row._mapping[key] for key in ("id", "type_name", "timestamp", "intent_name", "action_name")}
    try:
        item["data"] = json.loads(row._mapping["data"]) if row._mapping["data"] else None
    except ValueError:
        item["data"] = row._mapping["data"]
    return item


@dataclass
class Removed:
    """What a forget or a purge deleted: rows per table, and whether the SQLite files could be emptied of it."""

    rows: Dict[str, int] = field(default_factory=dict)
    tracker_events: int = 0
    files_compacted: bool = True

    def add(self, table: str, count: int) -> None:
        if count:
            self.rows[table] = self.rows.get(table, 0) + count

    @property
    def anything(self) -> bool:
        return bool(self.rows or self.tracker_events)

    def summary(self) -> str:
        parts = [f"{count} {table}" for table, count in sorted(self.rows.items())]
        if self.tracker_events:
            parts.append(f"{self.tracker_events} Rasa tracker events")
        return ", ".join(parts) or "nothing"


class CustomerData:
    def __init__(self, engine: Engine, tracker_url: Optional[str] = None):
        """`engine`: the handoff database's (handoff.db.make_engine); `tracker_url`: Rasa's tracker store, None
        for none. A tracker file that does not exist yet is not created."""
        self.engine = engine
        self.tracker_url = tracker_url

    @classmethod
    def for_engine(cls, engine: Engine) -> "CustomerData":
        """The handoff database's engine, and the Rasa tracker store beside it."""
        return cls(engine, tracker_database_url(engine.url.render_as_string(hide_password=False)))

    # the tracker store

    def _tracker_engine(self) -> Optional[Engine]:
        if not self.tracker_url:
            return None
        if make_url(self.tracker_url) == self.engine.url:
            return self.engine
        url = make_url(self.tracker_url)
        if url.get_backend_name() == "sqlite":
            if not url.database or url.database == ":memory:" or not Path(url.database).exists():
                return None
            engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": 10})
            event.listen(engine, "connect", _tune_tracker_sqlite)
            return engine
        return create_engine(url, poolclass=NullPool)

    def _with_tracker(self, work) -> Any:
        """`work(connection)` in one transaction on the tracker store, if it has Rasa's events table; else None."""
        engine = self._tracker_engine()
        if engine is None:
            return None
        try:
            if not inspect(engine).has_table(TRACKER_EVENTS):
                return None
            with engine.begin() as connection:
                return work(connection, Table(TRACKER_EVENTS, MetaData(), autoload_with=connection))
        finally:
            if engine is not self.engine:
                engine.dispose()

    # one customer

    def _conversation_ids(self, connection: Connection, channel: str, customer_id: str) -> List[int]:
        conversations = m.Conversation.__table__
        query = select(conversations.c.id).where(conversations.c.channel == channel,
                                                 conversations.c.customer_id == customer_id)
        return list(connection.execute(query).scalars())

    def export(self, channel: str, customer_id: str) -> Optional[Dict[str, Any]]:
        """Everything stored of the customer, unmasked, as one JSON-ready document; None when nothing is."""
        conversations = m.Conversation.__table__
        with self.engine.connect() as connection:
            ids = self._conversation_ids(connection, channel, customer_id)
            exported = []
            for conversation_id in ids:
                row = connection.execute(select(conversations).where(conversations.c.id == conversation_id)).one()
                item = _row(conversations, row)
                for table in sorted(conversation_tables(), key=lambda t: t.name):
                    if table.name in NOT_EXPORTED:
                        continue
                    rows = connection.execute(select(table).where(table.c.conversation_id == conversation_id)
                                              .order_by(*table.primary_key.columns))
                    item[table.name] = [_row(table, r) for r in rows]
                exported.append(item)
        sender = rasa_sender_id(channel, customer_id)
        events = self._with_tracker(lambda c, events: [_tracker_event(r) for r in c.execute(
            select(events).where(events.c.sender_id == sender).order_by(events.c.id))]) or []
        if not exported and not events:
            return None
        return {"channel": channel, "customer_id": customer_id, "exported_at": _jsonable(m.utcnow()),
                "conversations": exported, "rasa_sender_id": sender, "rasa_tracker_events": events}

    def forget(self, channel: str, customer_id: str) -> Removed:
        """Deletes the customer's conversation, with its messages, handoffs, feedback, live events and deliveries,
        and their Rasa tracker; on SQLite the files are then rewritten without the freed pages."""
        removed = Removed()
        with self.engine.begin() as connection:
            self._delete_conversations(connection, self._conversation_ids(connection, channel, customer_id), removed)
        removed.tracker_events = self._delete_tracker_senders([rasa_sender_id(channel, customer_id)])
        removed.files_compacted = self._compact(vacuum=True)
        return removed

    def _delete_conversations(self, connection: Connection, ids: Sequence[int], removed: Removed) -> None:
        for chunk in _chunks(ids):
            for table in conversation_tables():
                removed.add(table.name, connection.execute(delete(table).where(table.c.conversation_id.in_(chunk))).rowcount)
            conversations = m.Conversation.__table__
            removed.add(conversations.name, connection.execute(delete(conversations).where(conversations.c.id.in_(chunk))).rowcount)

    def _delete_tracker_senders(self, senders: Sequence[str]) -> int:
        def work(connection: Connection, events: Table) -> int:
            return sum(connection.execute(delete(events).where(events.c.sender_id.in_(chunk))).rowcount
                       for chunk in _chunks(senders))

        return (self._with_tracker(work) or 0) if senders else 0

    # the retention period

    def purge_older_than(self, days: float, now: Optional[datetime] = None) -> Removed:
        """Deletes what is older than `days`: a conversation with nothing newer, whole (with its Rasa tracker);
        of the others, the older messages, ended handoffs and Rasa's earlier sessions."""
        cutoff = (now or m.utcnow()) - timedelta(days=days)
        removed = Removed()
        conversations, messages, handoffs = m.Conversation.__table__, m.Message.__table__, m.Handoff.__table__
        with self.engine.begin() as connection:
            old = connection.execute(select(conversations.c.id, conversations.c.channel, conversations.c.customer_id)
                                     .where(conversations.c.updated_at < cutoff)).all()
            self._delete_conversations(connection, [row.id for row in old], removed)
            old_messages = select(messages.c.id).where(messages.c.created_at < cutoff).scalar_subquery()
            for table in message_tables():
                removed.add(table.name, connection.execute(delete(table).where(table.c.message_id.in_(old_messages))).rowcount)
            removed.add(messages.name, connection.execute(delete(messages).where(messages.c.created_at < cutoff)).rowcount)
            current = select(conversations.c.current_handoff_id).where(conversations.c.current_handoff_id.isnot(None))
            removed.add(handoffs.name, connection.execute(delete(handoffs).where(
                handoffs.c.ended_at < cutoff, handoffs.c.id.notin_(current.scalar_subquery()))).rowcount)
            live_events = m.LiveEvent.__table__
            removed.add(live_events.name, connection.execute(delete(live_events).where(live_events.c.created_at < cutoff)).rowcount)
        removed.tracker_events = self._delete_tracker_senders([rasa_sender_id(r.channel, r.customer_id) for r in old])
        removed.tracker_events += self._with_tracker(lambda c, events: _purge_tracker(c, events, cutoff)) or 0
        removed.files_compacted = self._compact(vacuum=False)
        return removed

    # SQLite's files

    def _compact(self, vacuum: bool) -> bool:
        """On SQLite: VACUUM (rewrites the file without its free pages), then the write-ahead log copied into the
        file and truncated, for both files. False when another connection kept the log from being emptied."""
        emptied = True
        engines = [self.engine]
        tracker = self._tracker_engine()
        if tracker is not None and tracker is not self.engine:
            engines.append(tracker)
        try:
            for engine in engines:
                if engine.dialect.name != "sqlite":
                    continue
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    if vacuum:
                        connection.exec_driver_sql("VACUUM")
                    busy = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
                    emptied = emptied and not (busy and busy[0])
        finally:
            if tracker is not None and tracker is not self.engine:
                tracker.dispose()
        return emptied


def _purge_tracker(connection: Connection, events: Table, cutoff: datetime) -> int:
    """Trackers quiet since the cutoff go whole; of the others, the older events of sessions before the current
    one. The current session, which Rasa loads (from its latest `session_started` on), is kept whole."""
    moment = cutoff.timestamp()
    quiet = (select(events.c.sender_id).group_by(events.c.sender_id)
             .having(func.max(events.c.timestamp) < moment).scalar_subquery())
    count = connection.execute(delete(events).where(events.c.sender_id.in_(quiet))).rowcount
    sessions = events.alias("sessions")
    current_session = (select(func.max(sessions.c.timestamp))
                       .where(sessions.c.sender_id == events.c.sender_id, sessions.c.type_name == SESSION_STARTED)
                       .scalar_subquery())
    count += connection.execute(delete(events).where(events.c.timestamp < moment,
                                                     events.c.timestamp < current_session)).rowcount
    return count


def _chunks(items: Sequence, size: int = 500) -> Iterable[List]:
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]
