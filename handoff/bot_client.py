"""Talks to the Rasa server's REST channel; the gateway is the only caller."""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

import aiohttp


class BotUnavailable(RuntimeError):
    pass


class RasaBotClient:
    def __init__(self, webhook_url: Optional[str] = None, timeout: float = 60.0):
        self.webhook_url = webhook_url or os.environ.get("RASA_WEBHOOK_URL", "http://127.0.0.1:5005/webhooks/rest/webhook")
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: Optional[aiohttp.ClientSession] = None

    async def send(self, sender_id: str, text: str, metadata: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        body = {"sender": sender_id, "message": text, "metadata": metadata or {}}
        try:
            async with self._session.post(self.webhook_url, json=body) as reply:
                if reply.status != 200:
                    raise BotUnavailable(f"the Rasa server answered {reply.status}: {(await reply.text())[:200]}")
                return await reply.json()
        except aiohttp.ClientError as error:
            raise BotUnavailable(f"the Rasa server at {self.webhook_url} is unreachable: {error}") from error

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
