"""Following the shared live_events table, and sending to sockets without letting a slow one hold up the rest.

`LiveEventFollower` is the one way to read the table: the console's live feed and the web chat's poller both use
it. `BoundedSender` is the one way to write to a live socket: frames are queued, a task of its own writes them,
and a socket that does not keep up is closed, so whoever produces the frames never waits for a socket."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from aiohttp import web

from handoff.store import HandoffStore
from handoff.views import EventView

log = logging.getLogger(__name__)

POLL_SECONDS = 0.3
LATE_COMMIT_WINDOW = timedelta(seconds=5)
PAGE_SIZE = 500
MAX_PAGES_PER_BATCH = 10        # a longer burst is read in further batches at once, without waiting
SEEN_LIMIT = 50_000
ERROR_BACKOFF_SECONDS = 1.0     # after a failed poll, before the next try

SEND_QUEUE_FRAMES = 256
SEND_TIMEOUT_SECONDS = 10.0
CLOSE_TIMEOUT_SECONDS = 2.0
TOO_SLOW_CLOSE_CODE = 4408      # like HTTP 408: the client did not read in time; it reconnects and reads the history


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class SeenEvents:
    """The ids of events already passed on, in the order they were seen. To stay within `limit`, the oldest are
    dropped, and every id up to the highest dropped one counts as seen from then on: a flood may cost a late
    commit below that id, but never brings thousands of events again."""

    def __init__(self, limit: int):
        self.limit = limit
        self.floor = 0
        self._ids: "OrderedDict[int, float]" = OrderedDict()  # event id → when it was seen (monotonic)

    def __contains__(self, event_id: object) -> bool:
        return isinstance(event_id, int) and (event_id <= self.floor or event_id in self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, event_id: int) -> None:
        if event_id not in self._ids:
            self._ids[event_id] = time.monotonic()

    def forget_older_than(self, seconds: float) -> None:
        horizon = time.monotonic() - seconds
        while self._ids:
            oldest, seen_at = next(iter(self._ids.items()))
            if len(self._ids) > self.limit:
                self.floor = max(self.floor, oldest)
            elif seen_at >= horizon:
                break
            del self._ids[oldest]

    def clear(self) -> None:
        self._ids.clear()
        self.floor = 0


class LiveEventFollower:
    """Reads the live events once each, in id order, from the moment `start` is called.

    New events are those with ids above the cursor, read by the primary key, page after page until caught up.
    On PostgreSQL a transaction may commit after a later one, so its event appears with an id below the cursor:
    each read also looks at the events of the last `window` below the cursor (by the created_at index) and
    passes on those it has not seen yet."""

    def __init__(self, store: HandoffStore, poll_seconds: float = POLL_SECONDS, window: timedelta = LATE_COMMIT_WINDOW,
                 page_size: int = PAGE_SIZE, seen_limit: int = SEEN_LIMIT, clock: Callable[[], datetime] = utcnow):
        self.store = store
        self.poll_seconds = poll_seconds
        self.window = window
        self.page_size = page_size
        self.clock = clock
        self.cursor: Optional[int] = None
        self.behind = False             # the last batch stopped at MAX_PAGES_PER_BATCH: read on without waiting
        self._seen = SeenEvents(seen_limit)
        # an event is remembered for longer than it can be in the window, also when the clocks of the
        # gateways that write the events run a few seconds apart
        self._keep_seen = 3 * window.total_seconds()
        self._generation = 0
        self._starting = asyncio.Lock()

    @property
    def following(self) -> bool:
        return self.cursor is not None

    @property
    def remembered(self) -> int:
        """How many event ids are kept as seen."""
        return len(self._seen)

    async def start(self) -> None:
        """From now on: the events so far (also the recent ones below the cursor) count as seen. Call it before
        reading what the consumer shows first (a snapshot, a history), so that no event falls in between."""
        async with self._starting:
            if self.cursor is not None:
                return
            generation = self._generation
            cursor, recent = await asyncio.to_thread(self._current)
            if generation != self._generation:
                return  # stopped meanwhile
            for event in recent:
                self._seen.add(event.id)
            self.cursor = cursor

    def _current(self) -> Tuple[int, List[EventView]]:
        cursor = self.store.last_event_id()
        return cursor, self.store.events_after(cursor, self.clock() - self.window, limit=0)

    def stop(self) -> None:
        """Nobody listens: forget the cursor and the seen events until the next `start`."""
        self._generation += 1
        self.cursor = None
        self.behind = False
        self._seen.clear()

    async def wait(self) -> None:
        """The pause between two reads; none while a burst is being caught up with."""
        if not self.behind:
            await asyncio.sleep(self.poll_seconds)

    async def next_batch(self) -> List[EventView]:
        """The events not passed on yet, in id order; nothing before `start`."""
        if self.cursor is None:
            return []
        generation = self._generation
        cursor = self.cursor
        fresh: List[EventView] = []
        pages = 0
        since: Optional[datetime] = self.clock() - self.window
        while True:
            page = await asyncio.to_thread(self.store.events_after, cursor, since, self.page_size, self._seen)
            if generation != self._generation:
                return []
            pages += 1
            new = [e for e in page if e.id > cursor]
            fresh.extend(e for e in page if e.id not in self._seen)
            for event in page:
                self._seen.add(event.id)
            if new:
                cursor = max(cursor, new[-1].id)
            since = None  # the late commits are read once per batch
            self.behind = len(new) >= self.page_size and pages >= MAX_PAGES_PER_BATCH
            if len(new) < self.page_size or self.behind:
                break
        self.cursor = cursor
        self._seen.forget_older_than(self._keep_seen)
        return sorted({e.id: e for e in fresh}.values(), key=lambda e: e.id)


@dataclass(frozen=True)
class _Close:
    code: int
    message: bytes


class BoundedSender:
    """One socket's outgoing frames: at most `max_queued` wait, one task writes them, each write within
    `send_timeout`. When the queue is full or a write times out, the socket is closed with TOO_SLOW_CLOSE_CODE
    (and its connection dropped if even the close frame cannot go out) and further frames are dropped."""

    def __init__(self, socket: web.WebSocketResponse, transport: Optional[asyncio.BaseTransport] = None,
                 max_queued: int = SEND_QUEUE_FRAMES, send_timeout: float = SEND_TIMEOUT_SECONDS,
                 close_timeout: float = CLOSE_TIMEOUT_SECONDS, name: str = "a socket"):
        self.socket = socket
        self.transport = transport
        self.send_timeout = send_timeout
        self.close_timeout = close_timeout
        self.name = name
        self.too_slow = False
        self._closing = False
        self._queue: "asyncio.Queue[Union[str, _Close]]" = asyncio.Queue(maxsize=max_queued)
        self._writer = asyncio.create_task(self._write())
        self._closer: Optional[asyncio.Task] = None

    @property
    def closed(self) -> bool:
        return self._closing or self.socket.closed

    def send(self, frame: Dict[str, Any]) -> bool:
        """Queues the frame; False when it will not be sent (the socket is closed or closing, or too slow)."""
        if self.closed:
            return False
        text = json.dumps(frame)
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            self._give_up(f"{self._queue.maxsize} frames are waiting for it")
            return False
        return True

    def finish(self, code: int, message: bytes = b"") -> None:
        """Closes the socket after the frames queued so far."""
        if self.closed:
            return
        self._closing = True
        try:
            self._queue.put_nowait(_Close(code, message))
        except asyncio.QueueFull:
            self._give_up(f"{self._queue.maxsize} frames are waiting for it")

    async def close(self, code: int, message: bytes = b"") -> None:
        """Closes the socket now; what is queued is dropped."""
        self._closing = True
        self._writer.cancel()
        await self._close(code, message)

    async def stop(self) -> None:
        """The socket's handler is done: a close of ours under way may finish (it has its own timeouts), the rest
        is cancelled."""
        pending = [t for t in (self._closer, self._writer) if t is not None and not t.done()]
        if self._closing and pending:
            await asyncio.wait(pending, timeout=self.send_timeout + self.close_timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _write(self) -> None:
        while True:
            item = await self._queue.get()
            if isinstance(item, _Close):
                await self._close(item.code, item.message)
                return
            try:
                await asyncio.wait_for(self.socket.send_str(item), self.send_timeout)
            except asyncio.TimeoutError:
                self.too_slow = True
                self._closing = True
                log.warning("closing %s: a frame could not be sent within %s s", self.name, self.send_timeout)
                await self._close(TOO_SLOW_CLOSE_CODE, b"too slow")
                return
            except (ConnectionResetError, RuntimeError):
                self._closing = True  # the connection went away meanwhile; its reader loop ends by itself
                return

    def _give_up(self, why: str) -> None:
        if self.too_slow:
            return
        self.too_slow = True
        self._closing = True
        log.warning("closing %s: %s", self.name, why)
        self._writer.cancel()
        self._closer = asyncio.create_task(self._close(TOO_SLOW_CLOSE_CODE, b"too slow"))

    async def _close(self, code: int, message: bytes) -> None:
        try:
            await asyncio.wait_for(self.socket.close(code=code, message=message), self.close_timeout)
        except asyncio.CancelledError:
            raise
        except Exception:
            if self.transport is not None:
                self.transport.abort()
