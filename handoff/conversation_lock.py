"""One message of a conversation at a time through the bot. Rasa's own Redis lock store issues its tickets
with a read-then-write, so two Rasa servers can both take the first ticket of a conversation and lose events;
the gateway therefore serialises each conversation itself: in the process, and with REDIS_URL across gateways."""
from __future__ import annotations

import asyncio
import weakref
from contextlib import asynccontextmanager
from typing import AsyncIterator, Optional

LOCK_SECONDS = 120  # longer than any bot turn; a crashed holder frees the lock after this


class ConversationLocks:
    def __init__(self, redis_url: str = "", prefix: str = "supportbot:conversation"):
        self._local: "weakref.WeakValueDictionary[int, asyncio.Lock]" = weakref.WeakValueDictionary()
        self._prefix = prefix
        self._redis: Optional[object] = None
        if redis_url:
            import redis.asyncio

            self._redis = redis.asyncio.from_url(redis_url)

    def _local_lock(self, conversation_id: int) -> asyncio.Lock:
        lock = self._local.get(conversation_id)
        if lock is None:
            lock = asyncio.Lock()
            self._local[conversation_id] = lock
        return lock

    @asynccontextmanager
    async def hold(self, conversation_id: int) -> AsyncIterator[None]:
        async with self._local_lock(conversation_id):
            if self._redis is None:
                yield
                return
            async with self._redis.lock(f"{self._prefix}:{conversation_id}", timeout=LOCK_SECONDS,
                                        blocking_timeout=LOCK_SECONDS):
                yield

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.close()
