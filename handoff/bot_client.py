"""Talks to the Rasa server's REST channel; the gateway is the only caller."""
from __future__ import annotations

import asyncio
import itertools
from typing import Any, Dict, List, Optional, Sequence, Union

import aiohttp


class BotUnavailable(RuntimeError):
    pass


IN_FLIGHT_PER_SERVER = 4
BOT_TIMEOUT_SECONDS = 20.0  # then the customer is told a colleague will answer (handoff.router)


class RasaBotClient:
    """With several Rasa servers, messages go round-robin: the servers share the tracker store, and the
    Redis lock store makes a conversation's messages wait for each other.

    At most `in_flight_per_server` messages per server are with the bot at a time; the others wait here, first
    come first served. A Rasa server given fifty messages at once works on all of them in turns, so each one
    takes as long as all fifty, and some much longer; admitted a few at a time, each is done in its turn."""

    def __init__(self, webhook_urls: Union[str, Sequence[str]], timeout: float = BOT_TIMEOUT_SECONDS,
                 in_flight_per_server: int = IN_FLIGHT_PER_SERVER):
        self.webhook_urls = [webhook_urls] if isinstance(webhook_urls, str) else list(webhook_urls)
        self._next = itertools.cycle(self.webhook_urls)
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: Optional[aiohttp.ClientSession] = None
        self._admitted = asyncio.Semaphore(max(1, in_flight_per_server) * len(self.webhook_urls))

    async def send(self, sender_id: str, text: str, metadata: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
        async with self._admitted:
            if self._session is None or self._session.closed:
                self._session = aiohttp.ClientSession(timeout=self.timeout)
            body = {"sender": sender_id, "message": text, "metadata": metadata or {}}
            url = next(self._next)
            try:
                async with self._session.post(url, json=body) as reply:
                    if reply.status != 200:
                        raise BotUnavailable(f"the Rasa server answered {reply.status}: {(await reply.text())[:200]}")
                    return await reply.json()
            except aiohttp.ClientError as error:
                raise BotUnavailable(f"the Rasa server at {url} is unreachable: {error}") from error
            except asyncio.TimeoutError as error:
                raise BotUnavailable(f"the Rasa server at {url} did not answer within {self.timeout.total:.0f} s") from error

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
